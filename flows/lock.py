"""One run per warehouse at a time: an advisory file lock beside the DuckDB file.

DuckDB refuses a second writing process, but a run opens and closes its connection per
stage, so a second run could slip in between; the lock is held for the whole run. A run that
finds the lock taken waits up to a timeout, then stops with a clear message.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from flows.errors import InputError


class WarehouseBusy(InputError):
    exit_code = 4


@contextmanager
def warehouse_lock(warehouse: Path, timeout: float = 0.0, poll: float = 0.2):
    path = Path(str(warehouse) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another run"
                    raise WarehouseBusy(
                        f"warehouse is in use by {holder}; waited {timeout:g} s "
                        "(use --lock-timeout to wait longer)", file=str(warehouse)) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
