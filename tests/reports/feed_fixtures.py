"""A small hand-built warehouse for the feed-health reports (catalogue v1.3): three completed
nights, a failed one and a later replayed one (both ignored), and the night being reported,
whose feed suite is built by checks/feed.py from that history (the plan only: no GX run) and
whose FEED findings are the ones GX raises on these figures:

- patients.csv loads 1,200 rows after 2,000 / 2,100 / 1,900 (median 2,000 x 0.7 = 1,400):
  FEED.VOLUME.DROP; slots.csv 4,000 after 5,000 x 3 (bound 3,500): passes;
- patients.csv's snils is empty in 600 of 1,200 rows after 20 of 1,900: FEED.COLUMN.EMPTY;
  its middle_name 60 of 1,200 after 100 of 1,900: passes;
- MO 5002 had 55 future slots and has none: FEED.MO.SILENT; 5003 had 80 slots within the
  horizon and has 30 (bound 40): FEED.MO.SHRUNK; 5001 steady; 5004 had 15 (under
  --mo-silent-min 20) and has none: no expectation.

5002 and 5003 also have a patient blocker each, which would come first in their lists by
booking impact; 5001 a warning.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from checks import feed
from flows import warehouse
from report_fixtures import findings_frame

RUN = "n4"
HISTORY = ("n1", "n2", "n3")
FAILED = "nf"
LATER = "n9"
AS_OF = datetime(2026, 11, 25, 23, 0)
XSS = "<script>alert(1)</script>"
NAMES = {"5001": "Поликлиника №1", "5002": "Больница №2", "5003": "Амбулатория №3",
         "5004": f"ФАП {XSS}"}
EMAILS = {"5001": "one@mo.example", "5002": "two@mo.example", "5003": "three@mo.example",
          "5004": "four@mo.example"}
#: run -> file -> rows loaded
ROWS = {
    "n1": {"patients.csv": 2000, "policies.csv": 3000, "attachments.csv": 2500, "slots.csv": 5000},
    "n2": {"patients.csv": 2100, "policies.csv": 3000, "attachments.csv": 2500, "slots.csv": 5000},
    "n3": {"patients.csv": 1900, "policies.csv": 3000, "attachments.csv": 2500, "slots.csv": 5000},
    "n4": {"patients.csv": 1200, "policies.csv": 2950, "attachments.csv": 2500, "slots.csv": 4000},
    "nf": {"patients.csv": 9999, "policies.csv": 9999, "attachments.csv": 9999, "slots.csv": 9999},
    "n9": {"patients.csv": 7777, "policies.csv": 7777, "attachments.csv": 7777, "slots.csv": 7777},
}
ENTITY = {"patients.csv": "patient", "policies.csv": "policy", "attachments.csv": "attachment",
          "slots.csv": "slot"}
#: run -> MO -> (future slots, horizon slots); an MO missing had no future slot
SLOTS = {
    "n1": {"5001": (100, 100), "5002": (50, 50), "5003": (80, 80), "5004": (15, 15)},
    "n2": {"5001": (100, 100), "5002": (60, 60), "5003": (80, 80), "5004": (15, 15)},
    "n3": {"5001": (100, 100), "5002": (55, 55), "5003": (80, 80), "5004": (15, 15)},
    "n4": {"5001": (100, 100), "5003": (30, 30)},
    "nf": {"5001": (1, 1)},
    "n9": {"5001": (500, 500), "5002": (500, 500)},
}
#: run -> (file, column) -> empty values
EMPTY = {"n3": {("patients.csv", "snils"): 20, ("patients.csv", "middle_name"): 100},
         "n4": {("patients.csv", "snils"): 600, ("patients.csv", "middle_name"): 60}}
RUNS = {"n1": (AS_OF - timedelta(days=3), "completed"),
        "n2": (AS_OF - timedelta(days=2), "completed"),
        "nf": (AS_OF - timedelta(days=1, hours=1), "failed"),
        "n3": (AS_OF - timedelta(days=1), "completed"),
        "n4": (AS_OF, "running"),
        "n9": (AS_OF + timedelta(days=1), "completed")}

# check_code, severity, entity, record_id, mo_code, unassigned_reason, field, value, patient_id
FEED_FINDINGS = [
    ("FEED.VOLUME.DROP", "warning", "file", "patients.csv", None, "file_level", "rows", "1200",
     None),
    ("FEED.COLUMN.EMPTY", "warning", "file", "patients.csv:snils", None, "file_level",
     "empty_share", "50.0%", None),
    ("FEED.MO.SILENT", "blocker", "mo", "5002", "5002", None, "slots", "0", None),
    ("FEED.MO.SHRUNK", "warning", "mo", "5003", "5003", None, "slots", "30", None),
]
OTHER_FINDINGS = [
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P1", "5002", None, "snils", "112-233-445 96",
     "P1"),
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P2", "5003", None, "snils", "112-233-445 97",
     "P2"),
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P3", "5003", None, "snils", "112-233-445 98",
     "P3"),
    ("PAT.SEX.INVALID", "warning", "patient", "P4", "5001", None, "sex", "9", "P4"),
]


def _insert_findings(con, rows, run_id):
    con.register("f_view", findings_frame(rows, run_id).to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM f_view")
    con.unregister("f_view")


def build_feed_warehouse(path, *, suite: bool = True, findings: bool = True):
    """The warehouse above; `suite`: store RUN's feed suite (built by checks/feed.py from the
    history); `findings`: store RUN's findings."""
    con = warehouse.connect(path)
    for run_id, (as_of, status) in RUNS.items():
        con.execute(
            "INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
            "reference_dir, started_at, status) VALUES (?, ?, 'cli', '50', 'x', 'y', ?, ?)",
            [run_id, as_of, as_of + timedelta(minutes=30), status])
        for mcod, name in NAMES.items():
            con.execute("INSERT INTO ref_f003 (run_id, mcod, tf_okato, name, e_mail, d_begin) "
                        "VALUES (?, ?, '46000', ?, ?, DATE '2020-01-01')",
                        [run_id, mcod, name, EMAILS[mcod]])
        for file_name, n in ROWS[run_id].items():
            con.execute(
                "INSERT INTO run_files (run_id, file_name, entity, format, size_bytes, sha256, "
                "rows_read, rows_loaded, rows_quarantined) "
                "VALUES (?, ?, ?, 'csv', 1, 'x', ?, ?, 0)",
                [run_id, file_name, ENTITY[file_name], n, n])
        for mo, (future, horizon) in SLOTS[run_id].items():
            con.execute("INSERT INTO feed_stats VALUES (?, 'future_slots', NULL, NULL, ?, ?), "
                        "(?, 'horizon_slots', NULL, NULL, ?, ?)",
                        [run_id, mo, future, run_id, mo, horizon])
        for (file_name, column), n in EMPTY.get(run_id, {}).items():
            con.execute("INSERT INTO feed_stats VALUES (?, 'empty', ?, ?, NULL, ?)",
                        [run_id, file_name, column, n])
    if suite:
        con.execute("CREATE OR REPLACE TEMP TABLE cur_mo (mcod VARCHAR, excluded BOOLEAN)")
        con.executemany("INSERT INTO cur_mo VALUES (?, false)", [[m] for m in NAMES])
        plan = feed.build_plan(con, RUN, AS_OF, feed.FeedParams(), 14)
        con.execute("INSERT INTO feed_suites VALUES (?, ?)", [RUN, plan.to_json()])
    if findings:
        _insert_findings(con, FEED_FINDINGS + OTHER_FINDINGS, RUN)
        _insert_findings(con, [OTHER_FINDINGS[0]], "n3")
    return con


def suite_text(con) -> str:
    return con.execute("SELECT suite_json FROM feed_suites WHERE run_id = ?",
                       [RUN]).fetchall()[0][0]
