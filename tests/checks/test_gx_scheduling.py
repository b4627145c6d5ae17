"""GX beside the reports or before them: by whether the staging tables fit in DuckDB's memory."""
from __future__ import annotations

from datetime import datetime

import pytest

from flows import pipeline, warehouse
from flows.pipeline import parse_memory_size, staging_fits_in_memory
from tests.checks.helpers import load_generated_region

AS_OF = datetime(2026, 11, 25, 23)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_generated_region(tmp_path_factory.mktemp("gx_scheduling"), patients=300, seed=9,
                                 as_of=AS_OF)


def _checked(db, run_id, as_of):
    con = warehouse.connect(db)
    # as a run with the cross-check: every staging table stays for GX after routing
    _, set_found = pipeline.check_findings(con, run_id, as_of,
                                           pipeline.CheckParams(gx_crosscheck=True))
    return con, set_found


@pytest.mark.parametrize("text, size", [
    ("3.7 GiB", int(3.7 * 2**30)), ("512.0 MiB", 512 * 2**20), ("10 GB", 10**10),
    ("1.5TiB", int(1.5 * 2**40)), ("953 KiB", 953 * 2**10), ("12 bytes", 12)])
def test_memory_sizes_as_duckdb_shows_them(text, size):
    assert parse_memory_size(text) == size


@pytest.mark.parametrize("text", ["", "unlimited", "-1", "3.7 parsecs", "GiB"])
def test_what_is_not_a_size_means_no_limit(text):
    assert parse_memory_size(text) is None


def test_small_staging_tables_fit_and_gx_runs_beside_the_reports(loaded):
    con, set_found = _checked(*loaded)
    assert staging_fits_in_memory(con)
    gx = pipeline.BackgroundGx(con, loaded[0], loaded[1], loaded[2], pipeline.CheckParams(),
                               set_found)
    assert gx.background
    gx.wait()
    assert gx.seconds is not None
    with warehouse.connect(loaded[0]) as check:
        assert check.execute("SELECT count(*) FROM gx_results WHERE run_id = ? AND error IS NULL "
                             "AND unexpected_count = talon_count", [loaded[1]]).fetchall() \
            == [(20,)]


def test_tables_over_half_the_memory_limit_do_not_fit(loaded):
    db, run_id, as_of = loaded
    con, _ = _checked(db, run_id, as_of)
    try:
        used = con.execute("SELECT sum(memory_usage_bytes + temporary_storage_bytes) "
                           "FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'").fetchall()[0][0]
        assert used > 0
        # wide margins: DuckDB shows the limit rounded (16.4 MiB) and its own usage moves a little
        con.execute(f"SET memory_limit = '{3 * used}B'")
        assert staging_fits_in_memory(con)
        con.execute(f"SET memory_limit = '{int(1.5 * used)}B'")
        assert not staging_fits_in_memory(con)
    finally:
        con.execute("RESET memory_limit")  # the limit belongs to the cached database instance
        con.close()


def test_gx_runs_before_the_reports_when_the_tables_do_not_fit(loaded, monkeypatch):
    db, run_id, as_of = loaded
    con, set_found = _checked(db, run_id, as_of)
    monkeypatch.setattr(pipeline, "staging_fits_in_memory", lambda con: False)
    gx = pipeline.BackgroundGx(con, db, run_id, as_of, pipeline.CheckParams(), set_found)
    assert not gx.background
    assert gx.seconds is not None  # done when the constructor returned (and con closed)
    gx.wait()
    with warehouse.connect(db) as check:
        stored = check.execute("SELECT count(*), count(*) FILTER (WHERE error IS NULL "
                               "AND unexpected_count = talon_count) "
                               "FROM gx_results WHERE run_id = ?", [run_id]).fetchall()
    assert stored[0][0] == stored[0][1] == 20  # every check evaluated, GX's count = Talon's


def test_gx_errors_surface_in_wait_either_way(loaded, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("GX broke")

    monkeypatch.setattr(pipeline, "validate_with_gx", broken)
    for background in (True, False):
        con, set_found = _checked(*loaded)
        gx = pipeline.BackgroundGx(con, loaded[0], loaded[1], loaded[2],
                                   pipeline.CheckParams(), set_found, background=background)
        assert gx.background is background
        with pytest.raises(RuntimeError, match="GX broke"):
            gx.wait()
        gx.wait()  # raised once; the run's cleanup may call it again


def test_preload_imports_gx_on_a_thread_of_its_own():
    """In a fresh interpreter (this one has GX already): nothing of GX before, all of it after
    the thread, which is not the main thread."""
    import subprocess
    import sys

    code = (
        "import sys, threading\n"
        "from flows import pipeline\n"
        "assert 'great_expectations' not in sys.modules\n"
        "t = pipeline.preload_gx()\n"
        "assert t is not threading.main_thread() and t.daemon\n"
        "t.join()\n"
        "assert 'checks.gx_suite' in sys.modules and 'great_expectations' in sys.modules\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
