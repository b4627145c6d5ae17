"""The `talon` command line end to end, through Prefect (one test server per session)."""
from __future__ import annotations

import shutil
from datetime import datetime

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.synth import generate_region

runner = CliRunner()
AS_OF = datetime(2026, 11, 25, 23, 0)


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    path = tmp_path_factory.mktemp("region")
    generate_region(path, patients=1_500, seed=3, region="50", as_of=AS_OF)
    return path


def _copy(region, tmp_path):
    dst = tmp_path / "batch"
    shutil.copytree(region, dst)
    return dst


def _runs(db):
    if not db.exists():
        return []
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()


@pytest.mark.parametrize("command", [[], ["generate"], ["ingest"], ["run"], ["demo"], ["history"], ["serve"], ["send"]])
def test_help(command):
    result = runner.invoke(app, command + ["--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_run_writes_findings_and_ledger(prefect_server, region, tmp_path):
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    result = runner.invoke(app, ["run", "--extracts", str(region / "extract"), "--reference",
                                 str(region / "reference"), "--out", str(out), "--warehouse", str(db)])
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in result.output.replace("\n", "")
    assert (out / "latest").is_symlink() and (out / "findings.csv").exists()
    findings = pl.read_csv(out / "findings.csv", infer_schema=False)
    assert findings.columns == ["run_id", "check_code", "severity", "entity", "record_id",
                                "mo_code", "field", "value_masked", "suggested_masked",
                                "message", "fix"]
    truth = pl.read_csv(region / "truth.csv", infer_schema=False)
    assert findings.height == truth.height
    [(run_id, status)] = _runs(db)
    assert status == "completed" and set(findings["run_id"]) == {run_id}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM findings").fetchall()[0][0] == findings.height
        bad = con.execute("SELECT count(*) FROM run_files WHERE rows_read <> rows_loaded + rows_quarantined").fetchall()
        assert bad[0][0] == 0
    blocked = runner.invoke(app, ["run", "--extracts", str(region / "extract"), "--reference",
                                  str(region / "reference"), "--out", str(tmp_path / "o2"),
                                  "--warehouse", str(tmp_path / "w2.duckdb"), "--fail-on", "blocker"])
    assert blocked.exit_code == 1


def test_ingest_only(prefect_server, region, tmp_path):
    db = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["ingest", "--extracts", str(region / "extract"), "--reference",
                                 str(region / "reference"), "--warehouse", str(db)])
    assert result.exit_code == 0, result.output
    assert [s for _, s in _runs(db)] == ["ingested"]  # no checks ran: not part of history


def _break(batch, how):
    ext, ref = batch / "extract", batch / "reference"
    if how == "missing_file":
        (ext / "slots.csv").unlink()
        return "slots"
    if how == "missing_column":
        raw = (ext / "policies.csv").read_bytes()
        enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            enc, text = "cp1251", raw.decode("cp1251")
        header, rest = text.split("\n", 1)
        text = header.replace("smo_code", "smo_kod") + "\n" + rest
        (ext / "policies.csv").write_bytes(text.encode(enc))
        return "smo_code"
    if how == "missing_reference":
        (ref / "F003.xml").unlink()
        return "F003"
    if how == "broken_reference":
        (ref / "V021.xml").write_bytes(b"<?xml version='1.0' encoding='windows-1251'?><packet><zap>")
        return "V021"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing_file", "missing_column", "missing_reference", "broken_reference"])
def test_unprocessable_input_exits_2_and_keeps_warehouse(prefect_server, region, tmp_path, how):
    db = tmp_path / "w.duckdb"
    good = runner.invoke(app, ["ingest", "--extracts", str(region / "extract"), "--reference",
                               str(region / "reference"), "--warehouse", str(db)])
    assert good.exit_code == 0, good.output
    before = _runs(db)
    batch = _copy(region, tmp_path)
    needle = _break(batch, how)
    result = runner.invoke(app, ["run", "--extracts", str(batch / "extract"), "--reference",
                                 str(batch / "reference"), "--out", str(tmp_path / "out"),
                                 "--warehouse", str(db)])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert _runs(db) == before
    assert not (tmp_path / "out" / "findings.csv").exists()


def _run(region, out, db, *extra):
    return runner.invoke(app, ["run", "--extracts", str(region / "extract"), "--reference",
                               str(region / "reference"), "--out", str(out), "--warehouse", str(db),
                               *extra])


def test_rerun_of_same_input_is_refused_or_replaced(prefect_server, region, tmp_path):
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    first = _run(region, out, db)
    assert first.exit_code == 0, first.output
    [(first_id, _)] = _runs(db)
    again = _run(region, out, db)
    assert again.exit_code == 2 and "already processed" in again.output and first_id in again.output
    assert _runs(db) == [(first_id, "completed")]
    forced = _run(region, out, db, "--force")
    assert forced.exit_code == 0, forced.output
    [(second_id, status)] = _runs(db)
    assert second_id != first_id and status == "completed"
    assert (out / "latest").resolve().name.endswith(second_id)
    other_day = _run(region, out, db, "--as-of", "2026-11-26 23:00")
    assert other_day.exit_code == 0, other_day.output
    assert len(_runs(db)) == 2


def test_second_run_waits_for_the_lock_then_gives_up(prefect_server, region, tmp_path):
    from flows.lock import warehouse_lock

    db = tmp_path / "w.duckdb"
    with warehouse_lock(db):
        result = _run(region, tmp_path / "out", db, "--lock-timeout", "1")
    assert result.exit_code == 4, result.output
    assert "in use" in result.output and "Traceback" not in result.output
    assert _runs(db) == []


def test_history_and_prune_keep_findings(prefect_server, region, tmp_path):
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    assert _run(region, out, db).exit_code == 0
    assert _run(region, out, db, "--as-of", "2026-11-26 23:00").exit_code == 0
    shown = runner.invoke(app, ["history", "--warehouse", str(db)])
    assert shown.exit_code == 0 and shown.output.count("completed") == 2
    with duckdb.connect(str(db), read_only=True) as con:
        findings_before = con.execute("SELECT count(*) FROM findings").fetchall()[0][0]
    pruned = runner.invoke(app, ["history", "--warehouse", str(db), "--keep-runs", "1"])
    assert pruned.exit_code == 0 and "Pruned raw data of 1 run" in pruned.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT run_id) FROM raw_patients").fetchall()[0][0] == 1
        assert con.execute("SELECT count(*) FROM findings").fetchall()[0][0] == findings_before


def test_national_delivery_is_routed_to_the_dask_flow(monkeypatch, tmp_path):
    """`talon run` on a folder of regions calls the national flow with the Dask options and
    exits with its code; the Dask run itself is tested in tests/e2e/test_national.py."""
    from flows import national

    calls = {}

    def fake_flow(extracts, reference, out, warehouse_dir, as_of, stale_hours, horizon_days,
                  lang, dask_address, workers, force, lock_timeout, params):
        calls.update(extracts=extracts, workers=workers, dask=dask_address, wh=warehouse_dir,
                     volume_drop=params.feed.volume_drop, crosscheck=params.gx_crosscheck)
        index = out / "index.html"
        return national.NationalSummary(index, [
            national.RegionResult("50", warehouse_dir / "50.duckdb", out / "50", status="completed",
                                  findings_by_severity={"blocker": 3}),
            national.RegionResult("77", warehouse_dir / "77.duckdb", out / "77",
                                  error="slots: missing required file", exit_code=2)])

    monkeypatch.setattr(national, "is_national", lambda path: True)
    monkeypatch.setattr(national, "national_flow", fake_flow)
    result = runner.invoke(app, ["run", "--extracts", str(tmp_path), "--out", str(tmp_path / "o"),
                                 "--workers", "2", "--warehouse-dir", str(tmp_path / "wh"),
                                 "--volume-drop", "0.5"])
    assert result.exit_code == 2, result.output
    assert calls == {"extracts": tmp_path, "workers": 2, "dask": None, "wh": tmp_path / "wh",
                     "volume_drop": 0.5, "crosscheck": False}
    assert "slots: missing required file" in result.output and "National report" in result.output


def test_single_region_needs_reference(region, tmp_path):
    result = runner.invoke(app, ["run", "--extracts", str(region / "extract"), "--out",
                                 str(tmp_path / "o"), "--warehouse", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 2 and "--reference is required" in result.output


@pytest.mark.parametrize("register", [True, False], ids=["with_register", "without_register"])
def test_progress_bar_ends_full(prefect_server, region, tmp_path, register):
    """The run's bar ends at total/total whether the batch has a register (5 files) or not."""
    import io
    import re

    from rich.console import Console

    from flows import progress
    from flows.nightly import nightly_flow

    batch = _copy(region, tmp_path)
    if not register:
        (batch / "extract" / "registry.csv").unlink()
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    with progress.show_progress(console, enabled=True):
        nightly_flow(batch / "extract", batch / "reference", tmp_path / "out",
                     tmp_path / "w.duckdb", None, 24, 14, "en")
    done, total = map(int, re.findall(r"(\d+)/(\d+)", buffer.getvalue())[-1])
    assert (done, total) == (progress.run_steps(5 if register else 4),) * 2


def test_single_region_run_starts_the_workers_forkserver_before_the_flow(monkeypatch, region,
                                                                         tmp_path):
    """`talon run` starts the report workers' forkserver (preloading GX) before it calls the
    nightly flow, i.e. before Prefect's temporary server starts, so the preload runs during the
    server's start; the national run (Dask workers, no forkserver) does not."""
    from flows import nightly, parallel

    order = []
    monkeypatch.setattr(parallel, "start_forkserver",
                        lambda gx=False: order.append(("forkserver", gx)) or True)

    def fake_flow(*args, **kwargs):
        order.append(("flow",))
        raise RuntimeError("stop here")

    monkeypatch.setattr(nightly, "nightly_flow", fake_flow)
    result = runner.invoke(app, ["run", "--extracts", str(region / "extract"), "--reference",
                                 str(region / "reference"), "--out", str(tmp_path / "o"),
                                 "--warehouse", str(tmp_path / "w.duckdb")])
    assert result.exit_code != 0 and order == [("forkserver", True), ("flow",)]
