"""Prefect's temporary server dies with the talon process that started it.

Without PREFECT_API_URL, Prefect starts a temporary API server for the run: a child process
(`python -m uvicorn ...`, `SubprocessASGIServer` in prefect/server/api/server.py) that it stops
at interpreter exit (atexit). A talon killed with SIGKILL runs no atexit: the server was
re-parented to init and lived on, for minutes or for good.

`bind_temporary_server()` has the kernel kill it instead: the server process is forked with
PR_SET_PDEATHSIG(SIGKILL), which the kernel delivers when its parent dies, however it dies.
Prefect offers no option for this, so the one seam used is the `subprocess.Popen` through
which that module starts the server: its command and environment stay Prefect's own. (The
server runs no children of its own: uvicorn without --workers or --reload serves in-process.)

The death signal follows the *thread* that forked, not the process: a server forked from a
task-runner or events-worker thread would be killed when that thread ends, mid-run. So the
fork always happens on one daemon thread of ours that waits for requests as long as the
process lives, whichever thread asks Prefect for its server.

Linux only (elsewhere a no-op), and only without PREFECT_API_URL: a server of one's own
(`prefect server start`) is not the run's to stop. Call it just before the flow: it imports
Prefect's server module (seconds), which starting the temporary server imports anyway.
"""
from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import types
from concurrent.futures import Future

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_lock = threading.Lock()
_forker: tuple[int, queue.SimpleQueue] | None = None  # (pid it belongs to, its requests)


def bind_temporary_server() -> None:
    """Make the temporary Prefect server this process may start die with it (idempotent)."""
    if not sys.platform.startswith("linux"):
        return
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return  # no temporary server (and no import of Prefect's server modules)
    from prefect.server.api import server

    if server.subprocess is not subprocess:  # already bound
        return
    shim = types.ModuleType(subprocess.__name__, subprocess.__doc__)
    shim.__dict__.update(vars(subprocess))
    shim.Popen = _PopenDyingWithUs
    server.subprocess = shim


class _PopenDyingWithUs(subprocess.Popen):
    """A Popen forked on the forker thread, the child with PR_SET_PDEATHSIG(SIGKILL)."""

    def __init__(self, *args, **kwargs):
        parent, inner = os.getpid(), kwargs.pop("preexec_fn", None)
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

        def die_with_parent():
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # kept across exec
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)
            if inner is not None:
                inner()

        _on_forker(lambda: super(_PopenDyingWithUs, self).__init__(
            *args, preexec_fn=die_with_parent, **kwargs))


def _on_forker(fn):
    """Run `fn` on this process's forker thread (started on first use) and return its result."""
    global _forker
    with _lock:
        if _forker is None or _forker[0] != os.getpid():  # none yet, or a forked child's copy
            requests = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(requests,), name="talon-server-forker",
                             daemon=True).start()
            _forker = (os.getpid(), requests)
        requests = _forker[1]
    done: Future = Future()
    requests.put((fn, done))
    return done.result()


def _serve(requests: queue.SimpleQueue) -> None:
    while True:  # never returns: the children forked here die only with the process
        fn, done = requests.get()
        try:
            done.set_result(fn())
        except BaseException as exc:  # noqa: BLE001  (handed back to the caller)
            done.set_exception(exc)
