"""Row-level rules (pandera on polars): every code on violating and passing rows, the readings'
edge cases, and the raw-finding shape (field, value, patient_id, route_mo)."""
from __future__ import annotations

import functools
from datetime import datetime

import polars as pl
import pytest
from pandera.config import config_context

from checks import catalogue
from checks.row_rules import (CODES, FINDING_COLUMNS, RULE_COLUMNS, build_schemas,
                              run_entity_rules)
from checks.staging import stage_attachments, stage_patients, stage_policies, stage_slots
from tests.checks.test_staging import staging_raw

AS_OF = datetime(2025, 3, 10, 9, 30)
F008 = {"1", "2", "3"}
_STAGE = {"patients": stage_patients, "policies": stage_policies,
          "attachments": stage_attachments, "slots": stage_slots}


def row_frames(as_of: datetime = AS_OF, **rows: list[dict]) -> dict[str, pl.DataFrame]:
    """The staged frame of each entity from partial rows (missing fields take valid defaults)."""
    return {e: stage(staging_raw(e, rows.get(e, [])), as_of) for e, stage in _STAGE.items()}


def row_findings(as_of: datetime = AS_OF, f008=F008, **rows: list[dict]) -> pl.DataFrame:
    """Every entity's row rules, one entity at a time as a run checks them."""
    return pl.concat([run_entity_rules(entity, frame, as_of, f008)
                      for entity, frame in row_frames(as_of, **rows).items()])


def _codes_of_single(entity: str, row: dict, f008=F008) -> set[str]:
    out = row_findings(f008=f008, **{entity: [row]})
    return set(out["check_code"].to_list())


# --- every code: violating and passing rows -------------------------------------------------

PATIENT_CASES = [
    ({}, set()),
    ({"snils": ""}, {"PAT.SNILS.MISSING"}),
    ({"snils": " "}, {"PAT.SNILS.FORMAT"}),  # not empty: nothing is trimmed
    ({"snils": "112 233 445 95"}, {"PAT.SNILS.FORMAT"}),
    ({"snils": "112-233-44O 95"}, {"PAT.SNILS.FORMAT"}),  # letter O
    ({"snils": " 112-233-445 95"}, {"PAT.SNILS.FORMAT"}),
    ({"snils": "112-233-445 95 "}, {"PAT.SNILS.FORMAT"}),
    ({"snils": "1122334459"}, {"PAT.SNILS.FORMAT"}),
    ({"snils": "11223344595"}, set()),
    ({"snils": "112-233-445-95"}, set()),
    ({"snils": "642-185-924 00"}, set()),
    ({"snils": "112-233-445 96"}, {"PAT.SNILS.CHECKSUM"}),
    ({"snils": "001-001-998 64"}, {"PAT.SNILS.CHECKSUM"}),  # right check number, too small
    ({"last_name": ""}, {"PAT.NAME.INVALID"}),
    ({"first_name": ""}, {"PAT.NAME.INVALID"}),
    ({"middle_name": ""}, set()),
    ({"last_name": "Ивaнов"}, {"PAT.NAME.INVALID"}),  # Latin a
    ({"first_name": "Иван "}, {"PAT.NAME.INVALID"}),
    ({"last_name": "Иванов  Петров"}, {"PAT.NAME.INVALID"}),
    ({"last_name": "Иванов-"}, {"PAT.NAME.INVALID"}),
    ({"last_name": "-Иванов"}, {"PAT.NAME.INVALID"}),
    ({"last_name": "Иванов1"}, {"PAT.NAME.INVALID"}),
    ({"first_name": "Анна–Мария"}, {"PAT.NAME.INVALID"}),  # en dash
    ({"middle_name": "Ivanovich"}, {"PAT.NAME.INVALID"}),
    ({"middle_name": " "}, {"PAT.NAME.INVALID"}),
    ({"last_name": "Римский-Корсаков"}, set()),
    ({"last_name": "Д'Артаньян"}, set()),
    ({"last_name": "Ёлкина", "first_name": "ёжик"}, set()),
    ({"middle_name": "Оглы Иванович"}, set()),
    ({"last_name": "ИВАНОВ"}, set()),
    ({"birth_date": ""}, {"PAT.BIRTHDATE.INVALID"}),
    ({"birth_date": "31.02.1980"}, {"PAT.BIRTHDATE.INVALID"}),
    ({"birth_date": "1.2.1980"}, {"PAT.BIRTHDATE.INVALID"}),
    ({"birth_date": "2025-03-11"}, {"PAT.BIRTHDATE.INVALID"}),  # after D
    ({"birth_date": "2025-03-10"}, set()),  # on D
    ({"birth_date": "1900-01-01"}, set()),
    ({"birth_date": "01.01.1900"}, set()),
    ({"birth_date": "31.12.1899"}, {"PAT.BIRTHDATE.INVALID"}),
    ({"sex": "3"}, {"PAT.SEX.INVALID"}),
    ({"sex": ""}, {"PAT.SEX.INVALID"}),
    ({"sex": " 1"}, {"PAT.SEX.INVALID"}),
    ({"sex": "01"}, {"PAT.SEX.INVALID"}),
    ({"sex": "M"}, {"PAT.SEX.INVALID"}),
    ({"sex": "2"}, set()),
]

POLICY_CASES = [
    ({}, set()),
    ({"policy_type": "4"}, {"POL.TYPE.UNKNOWN"}),
    ({"policy_type": "03"}, {"POL.TYPE.UNKNOWN"}),  # codes are exact text
    ({"policy_type": ""}, {"POL.TYPE.UNKNOWN"}),
    ({"enp": ""}, {"POL.ENP.MISSING"}),
    ({"policy_type": "1", "policy_series": "АБ", "policy_number": "123456", "enp": ""}, set()),
    ({"policy_type": "2", "policy_number": "123456789", "enp": ""}, set()),
    ({"enp": " "}, {"POL.ENP.FORMAT"}),
    ({"enp": "1234 567890123452"}, {"POL.ENP.FORMAT"}),
    ({"enp": "123456789012345"}, {"POL.ENP.FORMAT"}),
    ({"enp": "12345678901234520"}, {"POL.ENP.FORMAT"}),
    ({"enp": "１２３４５６７８９０１２３４５２"}, {"POL.ENP.FORMAT"}),
    ({"enp": "1234567890123456"}, {"POL.ENP.CHECKSUM"}),
    ({"policy_type": "2", "policy_number": "123456789", "enp": "1234567890123456"},
     {"POL.ENP.CHECKSUM"}),
    ({"enp": "7788899730000765"}, set()),
    ({"policy_type": "2", "policy_number": "12345678"}, {"POL.NUMBER.FORMAT"}),
    ({"policy_type": "2", "policy_number": " 12345678"}, {"POL.NUMBER.FORMAT"}),
    ({"policy_type": "2", "policy_number": "１２３４５６７８９"}, {"POL.NUMBER.FORMAT"}),
    ({"policy_type": "2", "policy_series": "АА", "policy_number": "123456789"},
     {"POL.NUMBER.FORMAT"}),
    ({"policy_type": "1", "policy_series": "", "policy_number": "123"}, {"POL.NUMBER.FORMAT"}),
    ({"policy_type": "1", "policy_series": "АБ", "policy_number": ""}, {"POL.NUMBER.FORMAT"}),
    ({"policy_type": "1", "policy_series": "АБ", "policy_number": "x"}, set()),
    ({"policy_series": "X"}, {"POL.NUMBER.FORMAT"}),  # type 3 with a series
    ({"policy_number": "anything"}, set()),  # type 3: the number is not checked
    ({"date_begin": ""}, {"POL.DATES.INVALID"}),
    ({"date_begin": "2020-13-01"}, {"POL.DATES.INVALID"}),
    ({"date_end": "31.02.2026"}, {"POL.DATES.INVALID"}),
    ({"date_end": "2019-12-31"}, {"POL.DATES.INVALID"}),  # end before begin
    ({"date_end": "01.01.2020"}, set()),  # end == begin
    ({"date_begin": "2026-01-01"}, set()),  # a future policy is not a date defect
]

ATTACHMENT_CASES = [
    ({}, set()),
    ({"attach_method": "4"}, {"ATT.METHOD.INVALID"}),
    ({"attach_method": ""}, {"ATT.METHOD.INVALID"}),
    ({"attach_method": "01"}, {"ATT.METHOD.INVALID"}),
    ({"attach_method": "3"}, set()),
    ({"attach_method": "4", "detach_date": "2025-03-10"}, set()),  # detached on D: inactive
    ({"attach_method": "4", "attach_date": "2025-03-11"}, set()),  # not yet active
    ({"attach_method": "4", "attach_date": "bad"}, set()),  # ATT.DATES.INVALID is SQL's
    ({"doctor_snils": ""}, {"ATT.DOCTOR.SNILS"}),
    ({"doctor_snils": "112-233-445 96"}, {"ATT.DOCTOR.SNILS"}),
    ({"doctor_snils": "112 233 445 95"}, {"ATT.DOCTOR.SNILS"}),
    ({"doctor_snils": "11223344595"}, set()),
    ({"doctor_snils": "", "detach_date": "2025-03-01"}, set()),
    ({"doctor_snils": "", "detach_date": "2025-03-11"}, {"ATT.DOCTOR.SNILS"}),
]

_PAST = {"slot_start": "2025-03-10 09:29", "slot_end": "2025-03-10 09:45"}
SLOT_CASES = [
    ({}, set()),
    ({"slot_start": ""}, {"SCH.SLOT.INVALID"}),
    ({"slot_start": "2025-03-11 24:00"}, {"SCH.SLOT.INVALID"}),
    ({"slot_end": ""}, {"SCH.SLOT.INVALID"}),
    ({"slot_end": "2025-03-11 10:15+03:00"}, {"SCH.SLOT.INVALID"}),
    ({"slot_end": "2025-03-11 10:00"}, {"SCH.SLOT.INVALID"}),  # end == start
    ({"slot_end": "2025-03-11 09:45"}, {"SCH.SLOT.INVALID"}),
    ({"slot_end": "11.03.2025 10:15:00"}, set()),
    ({"status": "Free"}, {"SCH.SLOT.INVALID"}),
    ({"status": ""}, {"SCH.SLOT.INVALID"}),
    ({"status": "booked"}, {"SCH.SLOT.INVALID"}),  # booked without a patient
    ({"status": "booked", "patient_id": "P1"}, set()),
    ({"status": "free", "patient_id": "P1"}, {"SCH.SLOT.INVALID"}),
    ({"status": "free", "patient_id": " "}, {"SCH.SLOT.INVALID"}),  # a space is a value
    ({"status": "blocked", "patient_id": "P1"}, set()),
    ({"status": "blocked"}, set()),
    (_PAST, {"SCH.PAST.FREE"}),
    ({**_PAST, "slot_start": "2025-03-10 09:30"}, set()),  # start == as_of is future
    ({**_PAST, "status": "booked", "patient_id": "P1"}, set()),
    ({**_PAST, "status": "blocked"}, set()),
    ({**_PAST, "slot_end": ""}, {"SCH.PAST.FREE", "SCH.SLOT.INVALID"}),  # reading 10
    ({**_PAST, "slot_start": ""}, {"SCH.SLOT.INVALID"}),
    ({**_PAST, "doctor_status": "dismissed"}, {"SCH.PAST.FREE"}),  # past: not inactive
    ({"doctor_status": "on_leave"}, {"SCH.DOCTOR.INACTIVE"}),
    ({"doctor_status": "dismissed"}, {"SCH.DOCTOR.INACTIVE"}),
    ({"doctor_status": "Active"}, {"SCH.DOCTOR.INACTIVE"}),
    ({"doctor_status": ""}, {"SCH.DOCTOR.INACTIVE"}),
    ({"doctor_status": "active "}, {"SCH.DOCTOR.INACTIVE"}),
    ({"doctor_status": "dismissed", "status": "booked", "patient_id": "P1"}, set()),
    ({"doctor_status": "dismissed", "status": "blocked"}, set()),
    ({"doctor_status": "dismissed", "slot_start": "2025-03-10 09:30"},
     {"SCH.DOCTOR.INACTIVE"}),  # start == as_of
    ({"doctor_status": "dismissed", "slot_end": ""},
     {"SCH.DOCTOR.INACTIVE", "SCH.SLOT.INVALID"}),  # a parseable start >= as_of is future
    ({"doctor_status": "dismissed", "slot_start": "bad"}, {"SCH.SLOT.INVALID"}),
]


_CASES = {"patients": PATIENT_CASES, "policies": POLICY_CASES,
          "attachments": ATTACHMENT_CASES, "slots": SLOT_CASES}
_ID = {"patients": "patient_id", "policies": "policy_id", "attachments": "attachment_id",
       "slots": "slot_id"}


@functools.cache
def _all_cases_findings() -> pl.DataFrame:
    """Every case as its own record (id = entity:index) of one run, evaluated once."""
    rows = {e: [{**row, _ID[e]: f"{e}:{k}"} for k, (row, _) in enumerate(cases)]
            for e, cases in _CASES.items()}
    return row_findings(**rows)


@pytest.mark.parametrize("entity, k", [(e, k) for e, cases in _CASES.items()
                                       for k in range(len(cases))])
def test_codes_of_one_record(entity, k):
    row, expected = _CASES[entity][k]
    found = _all_cases_findings().filter(pl.col("record_id") == f"{entity}:{k}")
    assert set(found["check_code"]) == expected, row


def test_cases_alone_give_the_same_codes():
    """A record's findings do not depend on the other rows of its frame."""
    for entity, cases in _CASES.items():
        for row, expected in cases[:: 5]:
            assert _codes_of_single(entity, row) == expected, (entity, row)


def test_every_code_has_a_violating_and_a_passing_case():
    cases = PATIENT_CASES + POLICY_CASES + ATTACHMENT_CASES + SLOT_CASES
    violated = set().union(*(e for _, e in cases))
    assert violated == set(CODES)
    assert any(not e for _, e in cases)  # and the default rows pass every rule


def test_policy_type_uses_the_codes_passed_in():
    assert _codes_of_single("policies", {"policy_type": "5"}, f008={"5"}) == set()
    assert _codes_of_single("policies", {}, f008={"1", "2"}) == {"POL.TYPE.UNKNOWN"}
    assert _codes_of_single("policies", {}, f008=set()) == {"POL.TYPE.UNKNOWN"}


# --- raw-finding shape ------------------------------------------------------------------------

def _one(frame: pl.DataFrame, code: str, record_id: str) -> dict:
    rows = frame.filter((pl.col("check_code") == code) & (pl.col("record_id") == record_id))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_shape_and_keys_per_entity():
    out = row_findings(
        patients=[{"patient_id": "P7", "sex": "9"}],
        policies=[{"policy_id": "L7", "patient_id": "P8", "policy_type": "9"}],
        attachments=[{"attachment_id": "A7", "patient_id": "P9", "mo_code": "509999",
                      "attach_method": "7"}],
        slots=[{"slot_id": "S7", "mo_code": "500077", "status": "Booked", "patient_id": "P10"},
               {"slot_id": "S8", "mo_code": "500078", "status": "??"}],
    )
    assert out.columns == list(FINDING_COLUMNS)
    assert all(t == pl.Utf8 for t in out.dtypes)
    assert out.select("check_code", "record_id").is_duplicated().sum() == 0
    assert _one(out, "PAT.SEX.INVALID", "P7") == {
        "check_code": "PAT.SEX.INVALID", "record_id": "P7", "field": "sex", "value": "9",
        "patient_id": "P7", "route_mo": None}
    assert _one(out, "POL.TYPE.UNKNOWN", "L7") == {
        "check_code": "POL.TYPE.UNKNOWN", "record_id": "L7", "field": "policy_type",
        "value": "9", "patient_id": "P8", "route_mo": None}
    assert _one(out, "ATT.METHOD.INVALID", "A7") == {
        "check_code": "ATT.METHOD.INVALID", "record_id": "A7", "field": "attach_method",
        "value": "7", "patient_id": "P9", "route_mo": "509999"}
    s7 = _one(out, "SCH.SLOT.INVALID", "S7")
    assert (s7["field"], s7["value"], s7["patient_id"], s7["route_mo"]) == (
        "status", "Booked", "P10", "500077")
    s8 = _one(out, "SCH.SLOT.INVALID", "S8")
    assert (s8["patient_id"], s8["route_mo"]) == (None, "500078")  # empty patient_id → null


@pytest.mark.parametrize("row, field, value", [
    ({"last_name": "Ivanov", "first_name": "", "middle_name": "Петрович1"},
     "last_name,first_name,middle_name", "Ivanov |  | Петрович1"),
    ({"first_name": "Иван "}, "first_name", "Иван "),
    ({"last_name": "", "middle_name": "X"}, "last_name,middle_name", " | X"),
])
def test_name_invalid_lists_every_failing_field(row, field, value):
    got = _one(row_findings(patients=[row]), "PAT.NAME.INVALID", "P1")
    assert (got["field"], got["value"]) == (field, value)


@pytest.mark.parametrize("row, field, value", [
    ({"slot_start": "", "status": "x"}, "slot_start", ""),
    ({"slot_end": "2025-03-11 25:00", "status": "x"}, "slot_end", "2025-03-11 25:00"),
    ({"slot_end": "2025-03-11 09:00", "status": "x"}, "slot_end", "2025-03-11 09:00"),
    ({"status": "x"}, "status", "x"),
    ({"status": "booked"}, "patient_id", ""),
    ({"status": "free", "patient_id": "P3"}, "patient_id", "P3"),
])
def test_slot_invalid_reports_first_failing_field(row, field, value):
    got = _one(row_findings(slots=[row]), "SCH.SLOT.INVALID", "S1")
    assert (got["field"], got["value"]) == (field, value)


@pytest.mark.parametrize("row, field, value", [
    ({"policy_type": "2", "policy_number": "1", "policy_series": "С"}, "policy_number", "1"),
    ({"policy_type": "2", "policy_number": "123456789", "policy_series": "С"},
     "policy_series", "С"),
    ({"policy_type": "1", "policy_series": "", "policy_number": ""}, "policy_series", ""),
    ({"policy_type": "1", "policy_series": "АБ", "policy_number": ""}, "policy_number", ""),
])
def test_number_format_field(row, field, value):
    got = _one(row_findings(policies=[row]), "POL.NUMBER.FORMAT", "L1")
    assert (got["field"], got["value"]) == (field, value)


@pytest.mark.parametrize("row, field, value", [
    ({"date_begin": "", "date_end": "bad"}, "date_begin", ""),
    ({"date_end": "bad"}, "date_end", "bad"),
    ({"date_end": "2019-12-31"}, "date_end", "2019-12-31"),
])
def test_dates_invalid_field(row, field, value):
    got = _one(row_findings(policies=[row]), "POL.DATES.INVALID", "L1")
    assert (got["field"], got["value"]) == (field, value)


def test_identifier_findings_carry_the_full_value():
    out = row_findings(patients=[{"snils": "112-233-445 96"}],
                       policies=[{"enp": "1234 567890123452"}],
                       slots=[{**_PAST}, {"slot_id": "S2", "doctor_status": "on_leave"}])
    assert _one(out, "PAT.SNILS.CHECKSUM", "P1")["value"] == "112-233-445 96"
    assert _one(out, "POL.ENP.FORMAT", "L1")["value"] == "1234 567890123452"
    past = _one(out, "SCH.PAST.FREE", "S1")
    assert (past["field"], past["value"]) == ("status", "free")
    inactive = _one(out, "SCH.DOCTOR.INACTIVE", "S2")
    assert (inactive["field"], inactive["value"]) == ("doctor_status", "on_leave")


# --- all failure cases, mapped to the right records -------------------------------------------

def test_every_failure_is_returned_and_mapped_to_its_record():
    patients = [{"patient_id": f"P{i:04d}", "sex": "3" if i % 7 == 0 else "1",
                 "snils": "" if i % 11 == 0 else "112-233-445 95"} for i in range(1500)]
    out = row_findings(patients=patients)
    sex = set(out.filter(pl.col("check_code") == "PAT.SEX.INVALID")["record_id"])
    missing = set(out.filter(pl.col("check_code") == "PAT.SNILS.MISSING")["record_id"])
    assert sex == {f"P{i:04d}" for i in range(1500) if i % 7 == 0}  # 215, no cap
    assert missing == {f"P{i:04d}" for i in range(1500) if i % 11 == 0}
    assert out.height == len(sex) + len(missing)


def test_empty_staged_gives_empty_findings():
    out = row_findings()
    assert out.height == 0 and out.columns == list(FINDING_COLUMNS)
    assert all(t == pl.Utf8 for t in out.dtypes)


# --- the schemas themselves -------------------------------------------------------------------

def test_schemas_name_every_check_by_its_code():
    schemas = build_schemas(AS_OF, F008)
    names = []
    for entity, schema in schemas.items():
        for column in schema.columns.values():
            names += [check.name for check in column.checks]
    assert sorted(names) == sorted(CODES)
    assert len(CODES) == 17 and "ATT.DATES.INVALID" not in CODES


def test_row_codes_are_the_pandera_codes_of_the_catalogue():
    declared = {c.code: c for c in catalogue.CHECKS}
    if not declared:
        pytest.skip("catalogue not declared yet")
    pandera = {c.code for c in catalogue.CHECKS if c.engine == catalogue.Engine.PANDERA}
    assert pandera == set(CODES)


def test_validation_runs_even_when_pandera_is_disabled_around_it():
    with config_context(validation_enabled=False):
        out = row_findings(patients=[{"sex": "3"}])
    assert out["check_code"].to_list() == ["PAT.SEX.INVALID"]


def test_schema_failure_outside_the_rules_raises():
    broken = row_frames(patients=[{}])["patients"].drop("snils_valid")
    with pytest.raises(RuntimeError, match="outside the row rules"):
        run_entity_rules("patients", broken, AS_OF, F008)


def test_one_entity_needs_only_its_own_frame():
    frames = row_frames(patients=[{"sex": "3"}], slots=[{"status": "gone"}])
    patients = run_entity_rules("patients", frames["patients"], AS_OF, F008)
    assert patients["check_code"].to_list() == ["PAT.SEX.INVALID"]
    slots = run_entity_rules("slots", frames["slots"], AS_OF, F008)
    assert slots["check_code"].to_list() == ["SCH.SLOT.INVALID"]
    assert slots.columns == list(FINDING_COLUMNS)


# --- what the rules read ----------------------------------------------------------------------

def test_the_rules_read_only_their_rule_columns():
    """Staging hands the rules only RULE_COLUMNS (and line_no): the findings on those columns
    are the findings on the whole typed frame."""
    frames = row_frames(patients=[{"sex": "3"}, {"snils": "112-233-445 96"}],
                        policies=[{"enp": "1234567890123456"}, {"policy_type": "9"}],
                        attachments=[{"attach_method": "7"}], slots=[{"status": "gone"}])
    for entity, frame in frames.items():
        whole = run_entity_rules(entity, frame, AS_OF, F008)
        assert whole.height > 0, entity
        read = frame.select(RULE_COLUMNS[entity])
        assert read.width < frame.width, entity
        assert run_entity_rules(entity, read, AS_OF, F008).equals(whole), entity


def test_rule_columns_are_what_the_schemas_declare():
    schemas = build_schemas(AS_OF, F008)
    for entity, schema in schemas.items():
        assert tuple(schema.columns) == RULE_COLUMNS[entity]
    # the ENP checksum reads the staged enp_valid instead of computing it again
    assert "enp_valid" in RULE_COLUMNS["policies"]
    assert "snils_valid" in RULE_COLUMNS["patients"]


def test_a_rule_column_missing_raises():
    frame = row_frames(policies=[{}])["policies"].drop("enp_valid")
    with pytest.raises(RuntimeError, match="outside the row rules"):
        run_entity_rules("policies", frame, AS_OF, F008)
