"""Staging: typed TEMP stg_* tables of one run and the TEMP cur_* reference tables on D."""
from __future__ import annotations

from datetime import date, datetime

import duckdb
import polars as pl
import pytest

from checks.staging import (
    CURRENT_TABLES,
    STAGED_COLUMNS,
    STAGING_TABLES,
    build_current_reference,
    build_staging,
    drop_persisted_staging,
    stage_attachments,
    stage_entity,
    stage_policies,
    stage_slots,
)
from flows.extract.contract import ATTACHMENTS, PATIENTS, POLICIES, SLOTS, ExtractFile
from flows.warehouse import ensure_schema
from tests.raw_rows import write_raw

AS_OF = datetime(2025, 3, 10, 9, 30)
D = AS_OF.date()

ROW_DEFAULTS = {
    "patients": {"patient_id": "P1", "last_name": "Иванов", "first_name": "Иван",
                 "middle_name": "Иванович", "birth_date": "1980-05-17", "sex": "1",
                 "snils": "112-233-445 95"},
    "policies": {"policy_id": "L1", "patient_id": "P1", "policy_type": "3", "policy_series": "",
                 "policy_number": "", "enp": "1234567890123452", "smo_code": "50001",
                 "okato": "46000", "date_begin": "2020-01-01", "date_end": ""},
    "attachments": {"attachment_id": "A1", "patient_id": "P1", "mo_code": "500001",
                    "attach_method": "1", "attach_date": "2020-01-01", "detach_date": "",
                    "area_code": "1", "doctor_snils": "123-456-789 64"},
    "slots": {"slot_id": "S1", "mo_code": "500001", "doctor_id": "D1",
              "doctor_snils": "112-233-445 95", "doctor_status": "active", "specialty_code": "27",
              "slot_start": "2025-03-11 10:00", "slot_end": "2025-03-11 10:15", "status": "free",
              "patient_id": "", "updated_at": "2025-03-10 08:00"},
}
SPECS = {"patients": PATIENTS, "policies": POLICIES, "attachments": ATTACHMENTS, "slots": SLOTS}


def staging_raw(entity: str, rows: list[dict], run_id: str = "r1") -> pl.DataFrame:
    """A raw frame (run_id, line_no, contract columns as text) from partial rows."""
    spec: ExtractFile = SPECS[entity]
    full = [{**ROW_DEFAULTS[entity], **row} for row in rows]
    data = {"run_id": [run_id] * len(full), "line_no": list(range(2, len(full) + 2))}
    data.update({c: [r[c] for r in full] for c in spec.columns})
    schema = {"run_id": pl.Utf8, "line_no": pl.Int64, **{c: pl.Utf8 for c in spec.columns}}
    return pl.DataFrame(data, schema=schema)


def _insert(con, entity: str, rows: list[dict], run_id: str) -> None:
    write_raw(con, f"raw_{entity}", staging_raw(entity, rows, run_id))


@pytest.fixture()
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(c)
    yield c
    c.close()


# --- activity and typing (pure polars) ----------------------------------------------------------

@pytest.mark.parametrize("begin, end, active", [
    ("2025-03-10", "", True),            # begins on D
    ("2025-03-11", "", False),           # begins after D
    ("10.03.2025", "10.03.2025", True),  # ends on D: still active
    ("2020-01-01", "2025-03-09", False),
    ("2020-01-01", "2025-03-11", True),
    ("", "", False),                     # reading 1: empty begin
    ("2020-13-01", "", False),           # unparseable begin
    ("2020-01-01", "31.02.2026", False),  # non-empty unparseable end
    ("2020-01-01", " ", False),          # a space is not empty
])
def test_policy_is_active(begin, end, active):
    out = stage_policies(staging_raw("policies", [{"date_begin": begin, "date_end": end}]), AS_OF)
    assert out["is_active"].to_list() == [active]


@pytest.mark.parametrize("attach, detach, active", [
    ("2025-03-10", "", True),
    ("2025-03-11", "", False),
    ("2020-01-01", "2025-03-10", False),  # detached on D: no longer active (detach > D)
    ("2020-01-01", "2025-03-11", True),
    ("", "", False),
    ("1.1.2020", "", False),
    ("2020-01-01", "2025-3-11", False),
])
def test_attachment_is_active(attach, detach, active):
    raw = staging_raw("attachments", [{"attach_date": attach, "detach_date": detach}])
    assert stage_attachments(raw, AS_OF)["is_active"].to_list() == [active]


@pytest.mark.parametrize("start, end, time_valid, is_future", [
    ("2025-03-10 09:30", "2025-03-10 09:45", True, True),     # start == as_of is future
    ("2025-03-10 09:29:59", "2025-03-10 09:45", True, False),
    ("10.03.2025 10:00", "2025-03-10T10:15:00", True, True),  # formats may differ per field
    ("2025-03-11 10:00", "2025-03-11 10:00", False, True),    # end == start
    ("2025-03-11 10:00", "2025-03-11 09:45", False, True),
    ("2025-03-11 10:00", "", False, True),
    ("", "2025-03-11 10:15", False, False),
    ("2025-03-11 24:00", "2025-03-12 00:15", False, False),
])
def test_slot_time_flags(start, end, time_valid, is_future):
    out = stage_slots(staging_raw("slots", [{"slot_start": start, "slot_end": end}]), AS_OF)
    assert out["time_valid"].to_list() == [time_valid]
    assert out["is_future"].to_list() == [is_future]


# --- build_staging on a warehouse -----------------------------------------------------------

def _load_two_runs(con) -> None:
    _insert(con, "patients", [
        {"patient_id": "P1", "birth_date": "17.05.1980", "snils": "112-233-445 95"},
        {"patient_id": "P2", "birth_date": "1980-02-30", "snils": "11223344595"},
        {"patient_id": "P3", "birth_date": "", "snils": "112-233-445 96"},
        {"patient_id": "P4", "snils": "112 233 445 95"},
    ], "r1")
    _insert(con, "policies", [{"policy_id": "L1"}, {"policy_id": "L2", "date_end": "2025-03-09"}],
            "r1")
    _insert(con, "attachments", [{"attachment_id": "A1"},
                                 {"attachment_id": "A2", "doctor_snils": ""}], "r1")
    _insert(con, "slots", [{"slot_id": "S1"},
                           {"slot_id": "S2", "slot_start": "2025-03-09 10:00",
                            "slot_end": "x", "updated_at": "09.03.2025 07:00:05",
                            "doctor_snils": "1"}], "r1")
    _insert(con, "patients", [{"patient_id": "Q1"}], "r2")
    _insert(con, "slots", [{"slot_id": "T1"}], "r2")


def test_build_staging_writes_typed_tables_of_one_run(con):
    _load_two_runs(con)
    assert build_staging(con, "r1", AS_OF) == frozenset()  # no F008 rows loaded
    types = {r[0]: r[1] for r in con.execute("DESCRIBE stg_patients").fetchall()}
    assert types["birth_date_d"] == "DATE" and types["snils_valid"] == "BOOLEAN"
    assert types["snils_digits"] == "VARCHAR" and types["patient_id"] == "VARCHAR"
    # only what the SQL side reads: no run_id, line_no or names (the row rules get those)
    assert list(types) == list(STAGED_COLUMNS["patients"])
    assert "last_name" not in types and "run_id" not in types
    rows = con.execute("""SELECT patient_id, birth_date_d, snils_digits, snils_valid
                          FROM stg_patients ORDER BY patient_id""").fetchall()
    assert rows == [("P1", date(1980, 5, 17), "11223344595", True),
                    ("P2", None, "11223344595", True),
                    ("P3", None, "11223344596", False),
                    ("P4", date(1980, 5, 17), None, False)]  # only run r1
    assert con.execute("SELECT policy_id, is_active FROM stg_policies ORDER BY 1").fetchall() \
        == [("L1", True), ("L2", False)]
    assert con.execute("SELECT attachment_id, is_active FROM stg_attachments ORDER BY 1") \
        .fetchall() == [("A1", True), ("A2", True)]
    # doctor_snils_valid of attachments is read by a row rule only: in the frame, not the table
    assert stage_entity(con, "r1", "attachments", AS_OF).sort("attachment_id")[
        "doctor_snils_valid"].to_list() == [True, False]
    slot_types = {r[0]: r[1] for r in con.execute("DESCRIBE stg_slots").fetchall()}
    assert {slot_types[c] for c in ("start_ts", "end_ts", "updated_ts")} == {"TIMESTAMP"}
    assert con.execute("""SELECT slot_id, start_ts, end_ts, updated_ts, time_valid, is_future,
                                 doctor_snils_valid FROM stg_slots ORDER BY 1""").fetchall() == [
        ("S1", datetime(2025, 3, 11, 10), datetime(2025, 3, 11, 10, 15),
         datetime(2025, 3, 10, 8), True, True, True),
        ("S2", datetime(2025, 3, 9, 10), None, datetime(2025, 3, 9, 7, 0, 5), False, False,
         False),
    ]


def test_stage_entity_returns_what_its_table_holds(con):
    _load_two_runs(con)
    frame = stage_entity(con, "r1", "slots", AS_OF)
    assert frame.sort("slot_id")["is_future"].to_list() == [True, False]
    assert con.sql("SELECT * FROM stg_slots").pl().sort("slot_id").equals(
        frame.select(STAGED_COLUMNS["slots"]).sort("slot_id"))
    assert {"run_id", "line_no", *SLOTS.columns} <= set(frame.columns)  # the row rules' frame
    assert frame.schema["start_ts"] == pl.Datetime("us")
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'stg_%'") \
        .fetchall() == [(1,)]  # one entity at a time: nothing else was staged


def test_build_staging_replaces_previous_run(con):
    _load_two_runs(con)
    build_staging(con, "r1", AS_OF)
    build_staging(con, "r2", AS_OF)
    assert con.execute("SELECT patient_id FROM stg_patients").fetchall() == [("Q1",)]
    assert con.execute("SELECT count(*) FROM stg_policies").fetchall() == [(0,)]
    assert "is_active" in stage_entity(con, "r2", "policies", AS_OF).columns
    assert con.execute("SELECT slot_id FROM stg_slots").fetchall() == [("T1",)]


def test_build_staging_empty_run_keeps_typed_columns(con):
    assert build_staging(con, "nothing", AS_OF) == frozenset()
    types = {r[0]: r[1] for r in con.execute("DESCRIBE stg_slots").fetchall()}
    assert types["start_ts"] == "TIMESTAMP" and types["is_future"] == "BOOLEAN"


def test_staging_tables_are_temp_and_stay_out_of_the_warehouse_file(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    ensure_schema(con)
    _load_two_runs(con)
    build_staging(con, "r1", AS_OF)
    tables = con.execute("SELECT table_name, temporary FROM duckdb_tables() "
                         "WHERE table_name LIKE 'stg_%' OR table_name LIKE 'cur_%'").fetchall()
    staged = [t for t in STAGING_TABLES if t != "stg_registry"]  # the run has no register
    assert sorted(tables) == sorted((t, True) for t in staged + list(CURRENT_TABLES))
    with pytest.raises(duckdb.CatalogException):  # a cursor is another connection
        con.cursor().execute("SELECT count(*) FROM stg_patients")
    con.close()
    con = duckdb.connect(str(path))
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'stg_%' "
                       "OR table_name LIKE 'cur_%'").fetchall() == [(0,)]
    con.close()


def test_persistent_staging_of_earlier_versions_is_dropped_once(con):
    _load_two_runs(con)
    for table in ("stg_patients", "stg_slots", "cur_mo"):  # what an earlier version left
        con.execute(f"CREATE TABLE {table} AS SELECT 'stale' AS old")
    con.execute("CREATE TABLE stg_other AS SELECT 1 AS keep")  # not Talon's: left alone
    assert sorted(drop_persisted_staging(con)) == ["cur_mo", "stg_patients", "stg_slots"]
    assert drop_persisted_staging(con) == []
    con.execute("CREATE TABLE cur_smo AS SELECT 'stale' AS old")
    build_current_reference(con, "r1", D)  # a run drops leftovers before staging
    build_staging(con, "r1", AS_OF)
    assert con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary "
                       "AND (table_name LIKE 'stg_%' OR table_name LIKE 'cur_%')").fetchall() \
        == [("stg_other",)]
    assert con.cursor().execute("SELECT count(*) FROM stg_other").fetchall() == [(1,)]


# --- cur_* on D -------------------------------------------------------------------------------

def _ref(con, table: str, rows: list[tuple], run_id: str = "r1") -> None:
    width = len(rows[0]) + 1
    con.executemany(f"INSERT INTO {table} VALUES ({', '.join(['?'] * width)})",
                    [(run_id, *r) for r in rows])


def test_cur_mo_and_cur_smo_exclusion(con):
    before, after = date(2025, 3, 9), date(2025, 3, 11)
    _ref(con, "ref_f003", [
        ("500001", "50000", "Open", "a@x", date(2010, 1, 1), None),          # open period
        ("500002", "50000", "Ended", "b@x", date(2010, 1, 1), before),       # all ended
        ("500002", "50000", "Ended", "b@x", date(2000, 1, 1), date(2005, 1, 1)),
        ("500003", "50000", "Ends on D", "c@x", date(2010, 1, 1), D),         # d_end == D
        ("500004", "50000", "No periods", "", None, None),                    # vacuous
        ("500005", "50000", "Old", "old@x", date(2000, 1, 1), before),        # one ended,
        ("500005", "50000", "Reopened", "new@x", date(2024, 1, 1), None),     # one open
        ("500006", "50000", "Future", "f@x", after, None),                    # starts after D
    ])
    _ref(con, "ref_f003", [("500002", "50000", "Other run", "", date(2010, 1, 1), None)], "r2")
    _ref(con, "ref_f002", [
        ("50001", "50000", "SMO open", date(2010, 1, 1), None),
        ("50002", "50000", "SMO ended", date(2010, 1, 1), before),
        ("50003", "50000", "SMO none", None, None),
    ])
    build_staging(con, "r1", AS_OF)
    mo = con.execute("SELECT mcod, name, e_mail, excluded FROM cur_mo ORDER BY mcod").fetchall()
    assert mo == [("500001", "Open", "a@x", False), ("500002", "Ended", "b@x", True),
                  ("500003", "Ends on D", "c@x", False), ("500004", "No periods", "", True),
                  ("500005", "Reopened", "new@x", False), ("500006", "Future", "f@x", False)]
    assert con.execute("SELECT smocod, excluded FROM cur_smo ORDER BY 1").fetchall() == [
        ("50001", False), ("50002", True), ("50003", True)]


def test_cur_f008_and_f010_valid_on_d(con):
    _ref(con, "ref_f008", [
        ("1", "old", date(2011, 1, 1), None),
        ("2", "ended", date(2011, 1, 1), date(2025, 3, 9)),
        ("3", "ends on D", date(2011, 1, 1), D),
        ("4", "starts on D", D, None),
        ("5", "starts after", date(2025, 3, 11), None),
        ("2", "other row", date(2011, 1, 1), date(2012, 1, 1)),
        ("6", "versioned", date(2011, 1, 1), date(2012, 1, 1)),
        ("6", "versioned", date(2012, 1, 2), None),
        ("7", "no begin", None, None),
    ])
    _ref(con, "ref_f008", [("8", "other run", date(2011, 1, 1), None)], "r2")
    _ref(con, "ref_f010", [
        ("50", "46000", "Moscow region", date(2011, 1, 1), None),
        ("50", "46000", "Moscow region", date(2015, 1, 1), None),   # duplicate valid row
        ("03", "03000", "ended", date(2011, 1, 1), date(2020, 1, 1)),
        ("93", "03000", "current", date(2020, 1, 2), None),
    ])
    codes = build_staging(con, "r1", AS_OF)
    assert sorted(r[0] for r in con.execute("SELECT iddoc FROM cur_f008").fetchall()) \
        == ["1", "3", "4", "6"]
    assert codes == build_current_reference(con, "r1", D) == frozenset({"1", "3", "4", "6"})
    assert sorted(con.execute("SELECT kod_okato, kod_tf FROM cur_f010").fetchall()) == [
        ("03000", "93"), ("46000", "50")]


@pytest.mark.nsi
def test_cur_tables_on_real_classifiers_agree_with_validity_rules(con, nsi_dir):
    """The SQL of cur_* and the polars rules of flows.reference.validity decide alike."""
    from flows.reference import nsi, validity

    on = date(2024, 6, 1)
    frames = {key: nsi.load_classifier(nsi_dir / nsi.BY_KEY[key].file_name, key)[0]
              for key in ("f002", "f008", "f010")}
    for key, frame in frames.items():
        con.register("_src", frame.select(nsi.BY_KEY[key].columns).to_arrow())
        con.execute(f"INSERT INTO ref_{key} SELECT 'r1', * FROM _src")
        con.unregister("_src")
    build_staging(con, "r1", datetime(on.year, on.month, on.day, 12))
    smo = dict(con.execute("SELECT smocod, excluded FROM cur_smo").fetchall())
    expected = validity.registry_status(frames["f002"], "smocod", on)
    assert smo == dict(zip(expected["smocod"], expected["excluded"]))
    assert len(smo) == 204
    f008 = {r[0] for r in con.execute("SELECT iddoc FROM cur_f008").fetchall()}
    assert f008 == validity.valid_codes(frames["f008"], "iddoc", on)
    f010 = set(con.execute("SELECT kod_okato, kod_tf FROM cur_f010").fetchall())
    valid = validity.valid_on(frames["f010"], on)
    assert f010 == set(zip(valid["kod_okato"], valid["kod_tf"]))
