"""Per-stage wall time, CPU time and peak resident memory of the current process.

Peak RSS per stage: on Linux the kernel's high-water mark (VmHWM) is reset to the current RSS
by writing "5" to /proc/self/clear_refs, so VmHWM read at the end of a stage is that stage's
exact peak. Where that is not possible a psutil sampling thread (every 20 ms) stands in; the
method used is recorded. The process-wide peak is the larger of every stage's peak and
getrusage's ru_maxrss (which the VmHWM reset also resets).
"""
from __future__ import annotations

import os
import re
import resource
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 1024 * 1024


def _status_kb(key: str) -> int | None:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb / 1024
    import psutil

    return psutil.Process().memory_info().rss / MB


def process_peak_mb() -> float:
    """Peak RSS of this process (ru_maxrss, KiB on Linux) since it started or since VmHWM was
    last reset: Linux resets both together (use Recorder.peak_mb)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def hwm_resettable() -> bool:
    """Whether VmHWM can be reset here (Linux, writable clear_refs)."""
    if _status_kb("VmHWM") is None or not _reset_hwm():
        return False
    hwm, rss = _status_kb("VmHWM"), _status_kb("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss * 1.05 + 1024


class _Sampler:
    """Fallback: the largest RSS seen by a background thread."""

    def __init__(self, interval: float = 0.02):
        import psutil

        self._proc, self._interval = psutil.Process(), interval
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        return self.peak / MB


@dataclass
class Stage:
    name: str
    group: str  # ingest | checks | gx | reports | baseline | generate
    wall_s: float
    cpu_s: float  # user + system of all threads: less inflated than wall on a loaded machine
    peak_rss_mb: float
    rss_start_mb: float
    rss_end_mb: float
    extra: dict = field(default_factory=dict)


class Recorder:
    """Collects Stage rows; use `with rec.stage(name, group): ...`."""

    def __init__(self) -> None:
        self.stages: list[Stage] = []
        self.rss_method = "VmHWM reset via /proc/self/clear_refs" if hwm_resettable() \
            else "psutil sampling every 20 ms"
        self._exact = self.rss_method.startswith("VmHWM")

    @contextmanager
    def stage(self, name: str, group: str, **extra):
        sampler = None
        if self._exact:
            _reset_hwm()
        else:
            sampler = _Sampler()
        start_rss = rss_mb()
        cpu0, t0 = os.times(), time.perf_counter()
        info: dict = dict(extra)
        yield info
        wall = time.perf_counter() - t0
        cpu1 = os.times()
        peak = (_status_kb("VmHWM") or 0) / 1024 if sampler is None else sampler.stop()
        self.stages.append(Stage(
            name=name, group=group, wall_s=round(wall, 3),
            cpu_s=round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 3),
            peak_rss_mb=round(max(peak, start_rss), 1), rss_start_mb=round(start_rss, 1),
            rss_end_mb=round(rss_mb(), 1), extra=info))

    def peak_mb(self) -> float:
        """Peak RSS of the process: resetting VmHWM also resets what ru_maxrss reports, so
        this is the larger of ru_maxrss and every stage's peak."""
        return round(max([process_peak_mb()] + [s.peak_rss_mb for s in self.stages]), 1)

    def as_dicts(self) -> list[dict]:
        return [asdict(s) for s in self.stages]


@contextmanager
def profiled(path: Path | None):
    """cProfile the block into `path` (.pstats) and a top-40 text beside it; no-op for None."""
    if path is None:
        yield
        return
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        path.parent.mkdir(parents=True, exist_ok=True)
        prof.dump_stats(str(path))
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
        path.with_suffix(".txt").write_text(text.getvalue())
