"""Progress of a run's long stages, shown as a rich progress bar by the CLI.

Stages report through `step(description)`; nothing is shown unless a caller (the CLI, on a
terminal) installed a reporter with `show_progress()`. Tasks run in threads of the same
process, so one module-level reporter is enough.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

#: The steps of a nightly run after its extract files are read, in order: the reference,
#: the load, 5 check steps (staging and row rules, set rules, register, feed, routing), the GX
#: cross-check started and done (steps even when it is off), the reports.
STEPS_AFTER_FILES = 10


def run_steps(files: int) -> int:
    """The steps of a nightly run of a batch of `files` extract files (4, or 5 with a
    register)."""
    return files + STEPS_AFTER_FILES


#: The default total, until the run knows its files (`expect`).
RUN_STEPS = run_steps(4)

_lock = threading.Lock()
_progress: Progress | None = None
_task = None


def step(description: str) -> None:
    """Mark one step done and say what comes next."""
    with _lock:
        if _progress is not None:
            _progress.update(_task, advance=1, description=description)


def expect(total: int) -> None:
    """Set the bar's total, once the run knows it (how many files the batch has)."""
    with _lock:
        if _progress is not None:
            _progress.update(_task, total=total)


def describe(description: str) -> None:
    with _lock:
        if _progress is not None:
            _progress.update(_task, description=description)


@contextmanager
def show_progress(console: Console, total: int = RUN_STEPS, enabled: bool | None = None):
    """Show a progress bar on `console` while the block runs (only on a terminal by default)."""
    global _progress, _task
    if enabled is None:
        enabled = console.is_terminal
    if not enabled:
        yield
        return
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        console=console, transient=False)
    with progress:
        with _lock:
            _progress, _task = progress, progress.add_task("Starting", total=total)
        try:
            yield
        finally:
            with _lock:
                _progress, _task = None, None
