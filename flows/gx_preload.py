"""Imported by the run's forkserver (flows/parallel.py) where the feed-health GX suite will run
in a worker: imports Great Expectations (checks.gx_suite, ~4-5 CPU s) on a thread at a low CPU
priority and waits for it, so that the import takes the cores the run leaves idle instead of
competing with the run's own reading (which it slowed by ~3 s of a 1M run on 2 cores).

The priority is the importing thread's own (on Linux a thread's nice value is its own): the
forkserver's main thread, which forks the workers, keeps its priority, and so do the workers.
Elsewhere the import simply runs at the normal priority."""
from __future__ import annotations

import importlib
import os
import sys
import threading

#: The importing thread's nice value (Linux: 0 normal .. 19 lowest).
NICE = 10
#: What is imported.
MODULE = "checks.gx_suite"


def _lower_priority() -> None:
    """This thread's nice value to NICE (Linux only; nothing where it is not allowed)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        except OSError:
            pass


def _import(errors: list) -> None:
    _lower_priority()
    try:
        importlib.import_module(MODULE)
    except BaseException as exc:  # re-raised in the importing thread
        errors.append(exc)


def preload() -> None:
    """Import MODULE on a low-priority thread and wait for it (an error is raised here)."""
    errors: list = []
    thread = threading.Thread(target=_import, args=(errors,), name="talon-gx-preload")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


preload()
