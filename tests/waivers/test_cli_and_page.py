"""`talon waive` / `talon waivers` on a hand-built warehouse (exit codes, one-line refusals,
the lock), and the auditors' waivers page (statuses, a waiver whose finding disappeared,
masked personal record ids, the counts the index shows)."""
from __future__ import annotations

import re
from datetime import date, timedelta

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from checks import lifecycle
from flows import cli, warehouse
from flows import waivers as wv
from flows.cli import app
from flows.lock import warehouse_lock
from reports import data
from reports.waivers import summary, waiver_rows, write_waivers_page
from tests.waivers.helpers import ENP, R1, R2, TODAY, build_warehouse, counts

runner = CliRunner()
FUTURE = (date.today() + timedelta(days=30)).isoformat()


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "console", Console(highlight=False, width=250))
    return build_warehouse(tmp_path / "w.duckdb")


def _waive(db, *args):
    result = runner.invoke(app, ["waive", "--warehouse", str(db), *args])
    return result.exit_code, " ".join(result.output.split())


def test_waive_change_list_remove(db):
    code, out = _waive(db, "--check", "PAT.SNILS.MISSING", "--record", "P1", "--reason",
                       "иностранный гражданин", "--until", FUTURE, "--by", "Иванова", "--mo",
                       "500101")
    assert code == 0 and "1 waiver(s) added" in out
    code, out = _waive(db, "--check", "PAT.SNILS.MISSING", "--record", "P1", "--reason",
                       "гражданин Армении", "--until", FUTURE)
    assert code == 0 and "1 changed" in out
    listed = runner.invoke(app, ["waivers", "--warehouse", str(db)])
    assert listed.exit_code == 0 and "гражданин Армении" in listed.output and FUTURE in listed.output
    code, out = _waive(db, "--remove", "--check", "PAT.SNILS.MISSING", "--record", "P1")
    assert code == 0 and "removed" in out
    assert "No waivers." in runner.invoke(app, ["waivers", "--warehouse", str(db)]).output
    everything = runner.invoke(app, ["waivers", "--warehouse", str(db), "--all"]).output
    assert "removed" in everything
    trail = runner.invoke(app, ["waivers", "--warehouse", str(db), "--events"]).output
    assert [e for e in ("added", "changed", "removed") if e in trail] == ["added", "changed",
                                                                          "removed"]


@pytest.mark.parametrize("args, message", [
    (["--check", "PAT.NO.SUCH", "--record", "P1", "--reason", "x"],
     "error: --check: unknown check code 'PAT.NO.SUCH'"),
    (["--check", "PAT.SNILS.MISSING", "--record", "P404", "--reason", "x"],
     "error: --record: the warehouse never reported PAT.SNILS.MISSING for record 'P404'"),
    (["--check", "PAT.SNILS.MISSING", "--record", "P1"], "error: --reason: empty reason"),
    (["--check", "PAT.SNILS.MISSING", "--record", "P1", "--reason", "x", "--until",
      "2020-01-01"], "error: --until: until 2020-01-01 is in the past"),
    (["--check", "PAT.SNILS.MISSING", "--record", "P1", "--reason", "x", "--until", "скоро"],
     "error: --until: 'скоро' is not a date"),
    (["--check", "ROW.MALFORMED", "--record", "patients.csv:17", "--reason", "x"],
     "ROW.MALFORMED cannot be waived"),
    (["--check", "PAT.SNILS.MISSING", "--record", "P1", "--reason", "x", "--mo", "500102"],
     "is not a finding of MO 500102"),
    (["--check", "PAT.SNILS.MISSING"], "--check and --record name the finding"),
    (["--file", "answers.csv", "--check", "PAT.SNILS.MISSING"], "use either --file or"),
    (["--file", "no-such.csv"], "no-such.csv: no such file"),
    (["--remove", "--check", "PAT.SNILS.MISSING", "--record", "P1"], "no active waiver"),
])
def test_refusals_exit_2_with_one_line(db, args, message):
    code, out = _waive(db, *args)
    assert code == 2 and message in out, out
    assert counts(db) == (0, 0)


def test_no_warehouse(tmp_path):
    code, out = _waive(tmp_path / "none.duckdb", "--check", "SCH.STALE", "--record", "D1",
                       "--reason", "x")
    assert code == 2 and "no warehouse here yet" in out
    listed = runner.invoke(app, ["waivers", "--warehouse", str(tmp_path / "none.duckdb")])
    assert listed.exit_code == 2


def test_a_run_holding_the_lock_makes_waive_exit_4(db):
    with warehouse_lock(db):
        code, out = _waive(db, "--check", "SCH.STALE", "--record", "D1", "--reason", "отпуск")
    assert code == 4 and "warehouse is in use" in out
    assert counts(db) == (0, 0)


def test_waivers_page_shows_status_seen_and_masks_personal_ids(db, tmp_path):
    with warehouse.connect(db) as con:
        kept = wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "иностранец", today=TODAY).added[0]
        gone = wv.add_waiver(con, "POL.ENP.MISSING", "POL7", "полис старого образца",
                             today=TODAY).added[0]  # its finding is fixed in R2
        insured = wv.add_waiver(con, "ROW.DUPLICATE_ID", ENP, "дубль регистра ТФОМС",
                                today=TODAY).added[0]
        removed = wv.add_waiver(con, "SCH.STALE", "D1", "врач в отпуске", today=TODAY).added[0]
        wv.remove_waiver(con, "SCH.STALE", "D1")
        # R2 as routing would have stored it: the active waivers' findings carry their id
        con.execute("UPDATE findings SET waiver_id = w.waiver_id FROM waivers w WHERE "
                    "findings.run_id = ? AND w.status = 'active' AND "
                    "findings.check_code = w.check_code AND findings.record_id = w.record_id",
                    [R2])
        rows = {r["waiver_id"]: r for r in waiver_rows(con, R2).iter_rows(named=True)}
        assert (rows[kept]["seen"], rows[gone]["seen"], rows[removed]["seen"]) == (
            "waived", "no", "open")
        assert rows[insured]["record_id"] == "*" * 12 + ENP[-4:]
        findings = data.load_findings(con, R2)
        counted = summary(findings, waiver_rows(con, R2))
        assert counted == {"active": 3, "waived_findings": 2, "waived_patients": 1,
                           "not_seen": 1, "expired": 0, "removed": 1}
        # P1 has a warning left but no blocker: once its blocker is waived it is not blocked
        path, _ = write_waivers_page(con, R2, tmp_path, "ru", findings, data.clinic_names(con, R2))
    html = path.read_text(encoding="utf-8")
    assert ENP not in html
    assert re.search(rf'data-waiver="{gone}" data-status="active" data-seen="no"', html)
    assert re.search(rf'data-waiver="{removed}" data-status="removed" data-seen="open"', html)
    assert "полис старого образца" in html and "Больница №2" in html
    assert html.count("<tr data-waiver=") == 4


def test_waived_patients_counts_only_those_left_without_a_blocker(db):
    with warehouse.connect(db) as con:
        wv.add_waiver(con, "PAT.SNILS.MISSING", "P2", "иностранец", today=TODAY)
        con.execute("UPDATE findings SET waiver_id = 'w' WHERE run_id = ? AND record_id = 'P2' "
                    "AND check_code = 'PAT.SNILS.MISSING'", [R2])
        findings = data.load_findings(con, R2)
        assert summary(findings, waiver_rows(con, R2))["waived_patients"] == 1
        open_ = data.open_findings(findings)
        assert "P2" not in data.impact(open_, "mo_code").filter(
            pl.col("mo_code") == "500102")["patients_blocked"].to_list() or \
            data.impact(open_, "mo_code").filter(pl.col("mo_code") == "500102").height == 0
        assert lifecycle.open_sql(con) == " AND waiver_id IS NULL"
        assert R1 != R2


def test_history_and_trend_count_open_findings_only(db):
    from checks import lifecycle

    with warehouse.connect(db) as con:
        before = dict(data.history(con, R2).select("run_id", "findings").iter_rows())
        trend_before = lifecycle.open_trend(con, R2, "mo_code")
        con.execute("UPDATE findings SET waiver_id = 'w' WHERE run_id = ? AND record_id = 'P2'",
                    [R2])
        after = dict(data.history(con, R2).select("run_id", "findings").iter_rows())
        trend_after = lifecycle.open_trend(con, R2, "mo_code")
    assert after == {R1: before[R1], R2: before[R2] - 1}
    n = {(r["run_id"], r["mo_code"]): r["n"] for r in trend_after.iter_rows(named=True)}
    n0 = {(r["run_id"], r["mo_code"]): r["n"] for r in trend_before.iter_rows(named=True)}
    assert n0[(R2, "500102")] - 1 == n.get((R2, "500102"), 0) and n[(R1, "500102")] == n0[(R1, "500102")]
