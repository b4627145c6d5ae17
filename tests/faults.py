"""Fault injection for the crash-safety tests (tests/e2e/test_crash_safety.py), loaded only by
the subprocesses those tests start: nothing of it lives in the package.

`install()` wraps the pipeline's own functions so that a run stops at a named stage when the
environment variable TALON_TEST_PAUSE_AT names it: the run writes the stage to the file named
by TALON_TEST_PAUSE_FILE and blocks while that file exists, so a test can SIGKILL it at a known
point, or delete the file to let it go on. Stages:

- loading: inside the load transaction, every row inserted, not committed (after the
  reference classifiers are stored, the last write of `pipeline.load_run`);
- loaded: `pipeline.load_run` returned (committed);
- checked: `pipeline.check_findings` returned (findings stored, before any GX cross-check);
- rendered: the report folder is complete under its temporary name (`publish.stage`'s render
  returned, before the rename);
- published: `publish.promote` returned (`latest` switched).

Every caller reaches these functions through their modules' attributes, so wrapping the
attributes is enough (the nightly flow, the national task, `talon ingest` and the tests'
driver alike).
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path

PAUSE_AT_ENV = "TALON_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "TALON_TEST_PAUSE_FILE"
STAGES = ("loading", "loaded", "checked", "rendered", "published")


def pause(stage: str) -> None:
    """Block at `stage` if the environment asks for it (see the module docstring)."""
    if os.environ.get(PAUSE_AT_ENV) != stage:
        return
    signal = os.environ.get(PAUSE_FILE_ENV)
    if signal:
        Path(signal).write_text(f"{stage} {os.getpid()}\n")
    while signal is None or Path(signal).exists():
        time.sleep(0.05)


def _after(module, name: str, stage: str) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        pause(stage)
        return result

    setattr(module, name, wrapped)


def install() -> None:
    """Wrap the stage functions (a no-op unless TALON_TEST_PAUSE_AT is set)."""
    stage = os.environ.get(PAUSE_AT_ENV)
    if not stage:
        return
    if stage not in STAGES:
        raise ValueError(f"{PAUSE_AT_ENV}={stage!r} is not one of {STAGES}")
    from flows import pipeline, publish
    from flows.reference import nsi

    _after(nsi, "store_reference", "loading")
    _after(pipeline, "load_run", "loaded")
    _after(pipeline, "check_findings", "checked")
    _after(publish, "promote", "published")
    original_stage = publish.stage

    @functools.wraps(original_stage)
    def stage_then_pause(out_root, label, render):
        def render_then_pause(folder):
            render(folder)
            pause("rendered")
        return original_stage(out_root, label, render_then_pause)

    publish.stage = stage_then_pause
