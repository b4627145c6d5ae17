"""The national page reads each region's warehouse under that warehouse's lock (flows/lock.py).

Another process (a nightly run of one region, here a stand-in that only holds the lock) holding
a region's lock while the page is written: the page waits for it up to the lock timeout; when
it is not released in time the region is listed as locked, never opened, and the other regions
and the page are unaffected; the national flow's summary says so (exit code 4)."""
from __future__ import annotations

import dataclasses
import fcntl
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows import national, pipeline, warehouse
from flows.synth import generate_region
from reports.national import RegionEntry, Unread, national_page

from tests.e2e.test_national import AS_OF, REGIONS, _counts, _region_rows

ROOT = Path(__file__).resolve().parents[2]
CODES = ("50", "77")

_HOLDER = """
import sys, time
from flows.lock import warehouse_lock
with warehouse_lock(sys.argv[1]):
    print("held", flush=True)
    if sys.argv[2] == "stdin":
        sys.stdin.read()  # until the test closes it
    else:
        time.sleep(float(sys.argv[2]))
"""


@contextmanager
def lock_held(db: Path, seconds: float | None = None):
    """Another process holds `db`'s warehouse lock: until the block ends, or for `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db),
                             "stdin" if seconds is None else str(seconds)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def _lock_is_held(db: Path) -> bool:
    fd = os.open(str(db) + ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Two small regions run (plain calls, no Dask): their RegionResults and Regions."""
    root = tmp_path_factory.mktemp("national-lock")
    for code in CODES:
        generate_region(root / "d" / code, patients=150, seed=REGIONS[code], region=code,
                        as_of=AS_OF)
    regions = national.discover_regions(root / "d")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TALON_REPORT_WORKERS", "1")
        results = {r.name: national.region_task.fn(r, root / "out", root / "wh", None,
                                                   pipeline.CheckParams(), "en", False, 0.0)
                   for r in regions}
    assert all(r.status == "completed" for r in results.values())
    return root, regions, results


@pytest.fixture
def opened(monkeypatch):
    """Every warehouse the code under test opens, with whether its lock was held then."""
    seen: list[tuple[Path, bool]] = []
    connect = warehouse.connect

    def spy(path, **kw):
        seen.append((Path(path), _lock_is_held(Path(path))))
        return connect(path, **kw)

    monkeypatch.setattr(warehouse, "connect", spy)
    return seen


def _entries(results) -> list[RegionEntry]:
    return [RegionEntry(r.region, r.warehouse, r.run_id, r.error) for r in results.values()]


@pytest.mark.slow
def test_each_region_is_read_under_its_lock(ran, opened, tmp_path):
    _, _, results = ran
    page = national_page(_entries(results), tmp_path / "out", "en", lock_timeout=0.0)
    assert page.unread == {}
    assert sorted(opened) == sorted((results[c].warehouse, True) for c in CODES)
    rows = _region_rows(page.index.read_text(encoding="utf-8"))
    for code in CODES:
        counts = _counts(results[code].warehouse, results[code].run_id)
        assert {k: rows[code][k] for k in counts} == counts
    assert not any(_lock_is_held(results[c].warehouse) for c in CODES)  # released after


@pytest.mark.slow
def test_a_region_whose_lock_stays_taken_is_listed_not_read(ran, opened, tmp_path):
    _, _, results = ran
    locked = results["77"].warehouse
    with lock_held(locked) as holder:
        started = time.monotonic()
        page = national_page(_entries(results), tmp_path / "out", "en", lock_timeout=0.6)
        waited = time.monotonic() - started
    assert waited >= 0.6  # it waited the run's lock timeout for the region
    assert set(page.unread) == {"77"}
    unread = page.unread["77"]
    assert isinstance(unread, Unread) and (unread.status, unread.exit_code) == ("locked", 4)
    assert "in use by another run" in unread.error and f"pid {holder.pid}" in unread.error
    assert locked not in [path for path, _ in opened]  # never opened, so never read half-way
    text = page.index.read_text(encoding="utf-8")
    assert set(_region_rows(text)) == {"50"}  # the other region is on the page
    failed = text.split('id="table-failed"', 1)[1].split("</table>", 1)[0]
    assert 'data-region="77"' in failed and "in use by another run" in failed
    assert "<td>warehouse in use</td>" in failed  # its status says why, not "failed"


@pytest.mark.slow
def test_the_page_waits_for_a_lock_released_within_the_timeout(ran, opened, tmp_path):
    _, _, results = ran
    with lock_held(results["77"].warehouse, seconds=1.5):
        started = time.monotonic()
        page = national_page(_entries(results), tmp_path / "out", "en", lock_timeout=60)
        waited = time.monotonic() - started
    assert page.unread == {} and waited >= 1.0
    assert set(_region_rows(page.index.read_text(encoding="utf-8"))) == set(CODES)
    assert all(held for _, held in opened)


@pytest.mark.slow
def test_national_flow_summary_says_which_region_was_locked(ran, prefect_server, tmp_path,
                                                            monkeypatch):
    """The flow itself: a run of region 77 takes its lock after the national task of 77 ended
    and before the page reads it. The summary lists 77 as locked, exit code 4; 50 is read."""
    from prefect.task_runners import ThreadPoolTaskRunner

    _, regions, results = ran
    holders = []

    def region_ran(extracts, reference, out, warehouse_path, *args, name=None, **kw):
        if name == "77":  # "a nightly run of 77 starts"
            holders.append(lock_held(results["77"].warehouse))
            holders[-1].__enter__()
        return dataclasses.replace(results[name])  # the flow marks it; the fixture's stays

    monkeypatch.setattr(national, "run_region", region_ran)
    flow_ = national.national_run.with_options(task_runner=ThreadPoolTaskRunner(max_workers=1))
    try:
        summary = flow_(regions, tmp_path / "out", ran[0] / "wh", None, pipeline.CheckParams(),
                        "en", False, 0.3)
    finally:
        for h in holders:
            h.__exit__(None, None, None)
    assert len(holders) == 1
    by_region = {r.region: r for r in summary.regions}
    assert by_region["50"].status == "completed"
    assert by_region["77"].status == "locked" and "in use by another run" in by_region["77"].error
    assert [r.region for r in summary.failed] == ["77"] and summary.exit_code == 4
    assert summary.findings_by_severity == results["50"].findings_by_severity
    assert set(_region_rows(summary.index.read_text(encoding="utf-8"))) == {"50"}
    # the CLI's table names the error of 77 (and where its own report is), the folder of 50
    from flows.cli import _region_outcome

    assert _region_outcome(by_region["50"]) == str(by_region["50"].folder.resolve())
    cell = _region_outcome(by_region["77"])
    assert cell.startswith(by_region["77"].error)
    assert str(by_region["77"].folder.resolve()) in cell
