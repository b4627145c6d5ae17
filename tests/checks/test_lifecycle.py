"""The defect lifecycle across runs (checks/lifecycle.py) on a warehouse built by hand: findings
appear, persist, disappear, reappear; a failed run in between and a later run are ignored."""
from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from checks import lifecycle
from flows import warehouse

# run_id -> (as_of, status)
RUNS = {
    "r1": (datetime(2026, 11, 20, 23, 0), "completed"),
    "r2": (datetime(2026, 11, 21, 23, 0), "completed"),
    "rf": (datetime(2026, 11, 22, 23, 0), "failed"),
    "r3": (datetime(2026, 11, 23, 23, 0), "completed"),
    "r4": (datetime(2026, 11, 24, 1, 30), "running"),  # the run being reported
    "r5": (datetime(2026, 11, 25, 23, 0), "completed"),  # later: ignored when reporting r4
}
# key (check_code, entity, record_id), mo_code -> runs where present
PRESENT = {
    (("PAT.SNILS.CHECKSUM", "patient", "A"), "M1"): ("r1", "r2", "r3", "r4", "r5"),  # open all along
    (("PAT.SNILS.CHECKSUM", "patient", "B"), "M1"): ("r1", "r3", "r4"),  # gap at r2: new streak r3
    (("PAT.SEX.INVALID", "patient", "C"), "M2"): ("r1", "r2", "r4"),  # gone at r3: reopened
    (("PAT.SEX.INVALID", "patient", "D"), "M2"): ("r4",),  # new
    (("SCH.STALE", "doctor", "E"), None): ("rf", "r4"),  # only the failed run before: new
    (("SCH.STALE", "doctor", "F"), "M1"): ("r2", "r3", "r4"),  # failed run absent: still open
    (("SCH.STALE", "doctor", "G"), "M2"): ("r1", "r2", "r3"),  # fixed at r4
    (("SCH.STALE", "doctor", "H"), "M1"): ("r2", "rf"),  # fixed at r3, not at r4
    (("POL.ENP.CHECKSUM", "patient", "I"), None): ("r3",),  # fixed at r4 (as a patient) ...
    (("POL.ENP.CHECKSUM", "policy", "I"), "M1"): ("r4",),  # ... new as a policy: entity is key
    (("ATT.MO.UNKNOWN", "attachment", "J"), "M1"): ("r3",),  # moved clinic: still open
    (("ATT.MO.UNKNOWN", "attachment", "J"), "M2"): ("r4",),
}


def _build(path, runs=RUNS, present=PRESENT):
    con = warehouse.connect(path)
    for run_id, (as_of, status) in runs.items():
        con.execute("INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir, "
                    "started_at, status) VALUES (?, ?, 'cli', 'x', 'y', ?, ?)",
                    [run_id, as_of, as_of.replace(hour=23, minute=45), status])
    rows = [(run_id, code, "blocker", entity, rid, mo, None if mo else "mo_not_in_registry",
             "f", f"v-{rid}", "***", None)
            for ((code, entity, rid), mo), in_runs in present.items() for run_id in in_runs]
    frame = pl.DataFrame(rows, orient="row", schema={c: pl.String for c in (
        "run_id", "check_code", "severity", "entity", "record_id", "mo_code",
        "unassigned_reason", "field", "value", "value_masked", "patient_id")})
    con.register("f_view", frame.to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM f_view")
    con.unregister("f_view")
    return con


@pytest.fixture
def con(tmp_path):
    c = _build(tmp_path / "wh.duckdb")
    yield c
    c.close()


def _by_record(frame: pl.DataFrame) -> dict:
    return {(r["entity"], r["record_id"]): r for r in frame.iter_rows(named=True)}


def test_statuses_first_seen_and_days_open(con):
    got = _by_record(lifecycle.finding_status(con, "r4"))
    assert set(got) == {("patient", "A"), ("patient", "B"), ("patient", "C"), ("patient", "D"),
                        ("doctor", "E"), ("doctor", "F"), ("policy", "I"), ("attachment", "J")}
    want = {  # record: status, first_seen (day of Nov 2026), first_seen_ever, days_open
        ("patient", "A"): ("open", 20, 20, 4),
        ("patient", "B"): ("open", 23, 20, 1),
        ("patient", "C"): ("reopened", 24, 20, 0),
        ("patient", "D"): ("new", 24, 24, 0),
        ("doctor", "E"): ("new", 24, 24, 0),  # the failed run's sighting does not count
        ("doctor", "F"): ("open", 21, 21, 3),  # its absence in the failed run breaks nothing
        ("policy", "I"): ("new", 24, 24, 0),
        ("attachment", "J"): ("open", 23, 23, 1),
    }
    for key, (status, first, ever, days) in want.items():
        row = got[key]
        assert (row["status"], row["first_seen"].day, row["first_seen_ever"].day,
                row["days_open"]) == (status, first, ever, days), key
    # days_open counts calendar days between as_of dates (r4's 01:30 vs r1's 23:00 -> 4).
    assert got[("patient", "A")]["first_seen"] == datetime(2026, 11, 20, 23, 0)


def test_fixed_are_in_previous_completed_run_and_absent_now(con):
    fixed = lifecycle.fixed_findings(con, "r4")
    assert sorted(zip(fixed["entity"], fixed["record_id"], fixed["mo_code"])) == [
        ("doctor", "G", "M2"), ("patient", "I", None)]
    assert set(fixed["previous_run_id"]) == {"r3"}
    assert fixed.columns == list(lifecycle.FIXED_COLUMNS)
    assert lifecycle.previous_run(con, "r4") == "r3"


def test_a_failed_run_is_never_the_previous_run(con):
    assert lifecycle.previous_run(con, "r3") == "r2"  # not rf
    fixed = lifecycle.fixed_findings(con, "r3")
    # C was in r2 and not in r3: fixed; H was in r2 (and rf) but not r3: fixed too.
    assert sorted(fixed["record_id"]) == ["C", "H"]
    status = _by_record(lifecycle.finding_status(con, "r3"))
    assert status[("patient", "B")]["status"] == "reopened"
    assert status[("doctor", "F")]["status"] == "open"
    assert status[("patient", "I")]["status"] == "new"


def test_without_the_failed_run_filter_results_would_differ(tmp_path):
    """The same data with rf completed: E is reopened and F's streak restarts at r3."""
    runs = dict(RUNS, rf=(RUNS["rf"][0], "completed"))
    con = _build(tmp_path / "wh.duckdb", runs=runs)
    got = _by_record(lifecycle.finding_status(con, "r4"))
    con.close()
    assert got[("doctor", "E")]["status"] == "reopened"  # seen in rf, absent in r3
    f = got[("doctor", "F")]  # absent in rf: its streak is r3, r4
    assert (f["status"], f["first_seen"].day, f["first_seen_ever"].day, f["days_open"]) == (
        "open", 23, 21, 1)


def test_first_run_has_everything_new_and_nothing_fixed(con):
    status = lifecycle.finding_status(con, "r1")
    assert set(status["status"]) == {"new"} and status.height == 4
    assert status["days_open"].to_list() == [0] * 4
    assert lifecycle.previous_run(con, "r1") is None
    assert lifecycle.fixed_findings(con, "r1").height == 0


def test_later_runs_are_ignored_and_a_completed_report_sees_its_own_view(con):
    # r5 is later than r4: reporting r4 never looks at it (test above). Reporting r5: r4 is
    # still 'running' (not completed), so r5's previous run is r3.
    assert lifecycle.previous_run(con, "r5") == "r3"
    status5 = _by_record(lifecycle.finding_status(con, "r5"))
    assert status5[("patient", "A")]["status"] == "open"
    assert status5[("patient", "A")]["days_open"] == 5
    fixed5 = lifecycle.fixed_findings(con, "r5")
    assert sorted(fixed5["record_id"]) == ["B", "F", "G", "I", "J"]


def test_trend_counts_per_check_and_clinic(con):
    runs = lifecycle.trend_runs(con, "r4")
    assert runs["run_id"].to_list() == ["r1", "r2", "r3", "r4"]
    by_check = lifecycle.open_trend(con, "r4", "check_code")
    got = {(r["run_id"], r["check_code"]): r["n"] for r in by_check.iter_rows(named=True)}
    assert got[("r1", "SCH.STALE")] == 1 and got[("r3", "SCH.STALE")] == 2
    assert got[("r4", "SCH.STALE")] == 2  # E and F
    assert not any(run == "rf" or run == "r5" for run, _ in got)
    by_mo = lifecycle.open_trend(con, "r4", "mo_code")
    got = {(r["run_id"], r["mo_code"]): r["n"] for r in by_mo.iter_rows(named=True)}
    assert got == {("r1", "M1"): 2, ("r1", "M2"): 2, ("r2", "M1"): 3, ("r2", "M2"): 2,
                   ("r3", "M1"): 4, ("r3", "M2"): 1, ("r3", None): 1,
                   ("r4", "M1"): 4, ("r4", "M2"): 3, ("r4", None): 1}
    assert lifecycle.open_trend(con, "r4", "mo_code", last=2)["run_id"].unique().sort().to_list() \
        == ["r3", "r4"]
    with pytest.raises(ValueError):
        lifecycle.open_trend(con, "r4", "value")


def test_status_counts(con):
    status = lifecycle.finding_status(con, "r4").join(
        pl.DataFrame({"record_id": list("ABCDEFIJ"),
                      "mo": ["M1", "M1", "M2", "M2", None, "M1", "M1", "M2"]}), on="record_id")
    fixed = lifecycle.fixed_findings(con, "r4").rename({"mo_code": "mo"})
    total = lifecycle.status_counts(status, fixed).row(0, named=True)
    assert total == {"open_now": 8, "new": 3, "reopened": 1, "waiver_ended": 0, "fixed": 2}
    per = {r["mo"]: r for r in lifecycle.status_counts(status, fixed, "mo").iter_rows(named=True)}
    assert (per["M2"]["open_now"], per["M2"]["new"], per["M2"]["reopened"],
            per["M2"]["fixed"]) == (3, 1, 1, 1)
    assert (per[None]["open_now"], per[None]["new"], per[None]["fixed"]) == (1, 1, 1)
    assert per["M1"]["fixed"] == 0


def test_unknown_run_is_refused(con):
    with pytest.raises(ValueError, match="not in the warehouse"):
        lifecycle.finding_status(con, "nope")
    with pytest.raises(ValueError, match="not in the warehouse"):
        lifecycle.fixed_findings(con, "nope")


def test_run_without_findings_fixes_everything_of_the_previous_run(con):
    con.execute("DELETE FROM findings WHERE run_id = 'r4'")
    assert lifecycle.finding_status(con, "r4").height == 0
    assert lifecycle.finding_status(con, "r4").schema == pl.Schema(lifecycle.STATUS_SCHEMA)
    assert lifecycle.fixed_findings(con, "r4").height == 6  # every finding of r3


def test_a_finding_the_previous_run_had_waived_is_not_fixed(con):
    """G was answered "not an error" in r3 (on no list then), then gone in r4: no clinic fixed
    it, so no list, page or message counts it as fixed; I, open in r3, still is."""
    con.execute("UPDATE findings SET waiver_id = 'w1' WHERE run_id = 'r3' AND record_id = 'G'")
    fixed = lifecycle.fixed_findings(con, "r4")
    assert sorted(zip(fixed["entity"], fixed["record_id"])) == [("patient", "I")]
    # a waiver in an earlier run than the previous one changes nothing (C: open in r2)
    con.execute("UPDATE findings SET waiver_id = 'w2' WHERE run_id = 'r1' AND record_id = 'C'")
    assert sorted(lifecycle.fixed_findings(con, "r3")["record_id"]) == ["C", "H"]
