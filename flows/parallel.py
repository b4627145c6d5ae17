"""The run's worker processes: the report writers on several cores, and the feed-health GX
validation beside the register checks (checks/feed.py). Here in flows/, the layer both
checks/ and reports/ build on, so that neither imports the other for it.

The writers prepare every page or workbook as plain data (polars frames, dicts) in the calling
process, which alone reads DuckDB, and hand the formatting and file writing to worker
processes. Workers are started by `forkserver` (or `spawn` where it is missing), never by
`fork`: DuckDB's and polars' threads make a forked copy of the caller unsafe. The forkserver
preloads the report modules once per process, so later pools start in milliseconds.

Small runs stay in the calling process (a pool costs more than it saves), and so does a
daemonic process (e.g. a Dask worker), which may not start children. TALON_REPORT_WORKERS
caps the workers (1: always in-process). As with any forkserver or spawn pool, a program that
calls the writers from a script must guard its entry point (`if __name__ == "__main__":`).
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Sequence, TypeVar

J = TypeVar("J")
R = TypeVar("R")

#: Below this many jobs the writers run in the calling process.
MIN_JOBS = 50
#: Imported once by the forkserver, not by every worker ("__main__": the program's own script,
#: which a worker would otherwise run again on start; multiprocessing's default).
PRELOAD = ["__main__", "reports.clinic", "reports.auditor"]


def default_workers() -> int:
    """TALON_REPORT_WORKERS if set, else the cores this process may run on."""
    if os.environ.get("TALON_REPORT_WORKERS", "").strip():
        return max(1, int(os.environ["TALON_REPORT_WORKERS"]))
    return host_cores()


def host_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: What the forkserver of a run that validates its feed health in a worker imports besides
#: (checks.feed.start_feed): GX's import, about 4 CPU s, then happens in that process while the
#: run reads its files, instead of in the run's own process, holding its GIL.
GX_PRELOAD = ["checks.gx_suite"]


def _context(gx: bool = False):
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # no effect once the server runs: its first start decides
        ctx.set_forkserver_preload(PRELOAD + (GX_PRELOAD if gx else []))
        return ctx
    return mp.get_context("spawn")


def _ensure_forkserver(gx: bool = False) -> None:
    """Start the forkserver (where there is one) with its preload, in the background, and
    with POLARS_MAX_THREADS (unless set) at the cores per worker (`worker_threads`)."""
    if "forkserver" in mp.get_all_start_methods():
        _context(gx)
        from multiprocessing import forkserver
        with _environment("POLARS_MAX_THREADS", str(worker_threads())):
            forkserver.ensure_running()


def worker_threads() -> int:
    """polars threads per worker process: its share of the cores (one where there is a worker
    per core, the default). The workers keep the cores busy already: more threads than that
    cost ~10% more CPU for the same frames (idle threads spin before they sleep). polars
    reads POLARS_MAX_THREADS once, when imported, so the forkserver (which imports it
    before any worker starts) is given it in its environment."""
    return cores_per(default_workers())


def cores_per(workers: int) -> int:
    """Each of `workers` processes' share of this host's cores (at least one)."""
    return max(1, host_cores() // workers)


@contextmanager
def _environment(name: str, value: str):
    """`name` set to `value` in the environment within the block, unless it is set already."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def use_pool(jobs: int, workers: int | None) -> int:
    """How many worker processes to use for `jobs` jobs (0: run in this process)."""
    n = min(default_workers() if workers is None else workers, jobs)
    if n <= 1 or jobs < MIN_JOBS or mp.current_process().daemon:
        return 0
    return n


def can_fork_workers() -> bool:
    """Whether this process may hand work to worker processes: more than one worker allowed
    (default_workers) and not a daemonic process (e.g. a Dask worker), which may not start
    children."""
    return default_workers() > 1 and not mp.current_process().daemon


def start_forkserver(gx: bool = False) -> bool:
    """Start the forkserver now, if this process may use workers (can_fork_workers), so that it
    imports the report modules (and, with `gx`, Great Expectations) in the background while
    the caller goes on; returns whether workers can be used. The first start decides what the
    forkserver preloads."""
    if not can_fork_workers():
        return False
    _ensure_forkserver(gx)
    return True


def warm_up(jobs: int, workers: int | None) -> None:
    """If `jobs` jobs will use a pool, start the forkserver now (it imports the report
    modules in the background) while the caller still reads DuckDB."""
    if use_pool(jobs, workers):
        _ensure_forkserver()


def _worker_start() -> None:
    """A worker's start: what it inherited from the forkserver (the report modules, GX: some
    300k objects) is moved out of the garbage collector's reach (`gc.freeze`), so that the
    collections its jobs set off walk only what they made (~0.3 CPU s less per worker in a
    dense region). A worker ends with its pool, so nothing frozen needs collecting."""
    gc.freeze()


class Pool:
    """A process pool whose jobs run biggest first; results come back in job order. With 0
    workers every job runs in this process when its result is asked for."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        if workers:
            _ensure_forkserver()  # (where no caller started it: with its environment)
        self.executor = (ProcessPoolExecutor(workers, mp_context=_context(),
                                             initializer=_worker_start) if workers
                         else None)

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable[[J], R], jobs: Sequence[J], weights: Sequence[int]) -> list[R]:
        """`[fn(job) for job in jobs]`, the heaviest jobs started first."""
        return [f.result() for f in self.submit_all(fn, jobs, weights)]

    def submit_all(self, fn: Callable[[J], R], jobs: Sequence[J],
                   weights: Sequence[int]) -> list:
        """`fn(job)` of every job, the heaviest started first; futures in job order."""
        if self.executor is None:
            return [_Done(fn, (job,)) for job in jobs]
        futures: dict[int, Future] = {}
        for i in sorted(range(len(jobs)), key=lambda i: -weights[i]):
            futures[i] = self.executor.submit(fn, jobs[i])
        return [futures[i] for i in range(len(jobs))]

    def submit(self, fn: Callable[..., R], *args):
        """`fn(*args)` in a worker now, or in this process at `result()`."""
        if self.executor is None:
            return _Done(fn, args)
        return self.executor.submit(fn, *args)


class _Done:
    """A deferred call with Future's `result()`, for the in-process path."""

    def __init__(self, fn, args) -> None:
        self.fn, self.args = fn, args

    def result(self):
        return self.fn(*self.args)
