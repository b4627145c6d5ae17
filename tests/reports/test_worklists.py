"""Clinic fix lists as work lists (issue 13): grouped by check in booking-impact order, every
record identified as the clinic's MIS shows it (full values read from the run's raw tables, only
in the clinic's own list), each catalogue text once, waived findings left out, all-clear lists;
the workbook's layout, print setup, answer columns and custom properties (openpyxl).

Warehouse: report_fixtures' hand-built one plus raw rows for its records (WORK_* below) and a
few more findings (EXTRA) that make the groups' order and the identity cases explicit."""
from __future__ import annotations

import html as html_lib
import re
from datetime import datetime

import openpyxl
import polars as pl
import pytest

from checks import catalogue
from report_fixtures import (DEVICE_MO, EVIL_MO, FINDINGS, RUN, build_warehouse,
                             findings_frame, patch_catalogue)
from reports import identity
from tests.raw_rows import write_raw
from reports.auditor import write_auditor_report
from reports.clinic import clinic_stems, write_clinic_reports
from reports.i18n import Texts
from reports.xlsx import DATE_FORMAT
from worklist_pages import groups, read_worklist, record_cells

RU, EN = Texts("ru"), Texts("en")
MO = "500101"

# check_code, severity, entity, record_id, mo_code, unassigned_reason, field, value, patient_id
EXTRA = [
    # three patients who cannot book because of one check: that group comes first
    *[("PAT.SNILS.FORMAT", "blocker", "patient", p, MO, None, "snils", v, p)
      for p, v in (("P12", "402-102-488-0O"), ("P13", "12345"), ("P14", " 112-233-445 95"))],
    ("PAT.SEX.INVALID", "warning", "patient", "P12", MO, None, "sex", "0", "P12"),
    # an attachment whose id and area keep their leading zeros
    ("ATT.DATES.INVALID", "warning", "attachment", "0042", MO, None, "attach_date", "", "P1"),
]
WORK_FINDINGS = FINDINGS + EXTRA
#: The run's raw rows of those records (and of other clinics' records, which must not leak).
PATIENTS = [  # patient_id, last, first, middle, birth_date
    ("P1", "Смирнова", "Анна", "Петровна", "1980-03-14"),
    ("P2", "Ивaнов", "Пётр", "Сергеевич", "31.02.1980"),  # does not parse: shown as written
    ("P3", "Кузнецов", "Олег", "", "14.03.2099"),
    ("P4", "Тайнова", "Вера", "Павловна", "01.01.1990"),  # 500102's patients
    ("P5", "Секретов", "Глеб", "Ильич", "02.02.1991"),
    ("P7", "Чужакова", "Лидия", "", "03.03.1970"), ("P8", "Дальний", "Марк", "", "04.04.1971"),
    ("P9", "Иной", "Ян", "", "05.05.1972"),
    ("P12", "Белова", "Дарья", "Олеговна", "09.09.2001"),
    ("P13", "Абрамов", "Илья", "", "10.10.2002"), ("P14", "Волков", "Юрий", "", "11.11.2003"),
]
POLICIES = [  # policy_id, patient_id, type, series, number, enp, date_begin, date_end
    ("POL1OLD", "P1", "3", "", "", "7700000000000001", "2010-01-01", "2015-12-31"),  # expired
    ("POL1", "P1", "3", "", "", "0050000000000017", "2016-01-01", ""),  # active: shown
    ("POL2", "P2", "3", "", "", "1234567890123456", "2016-01-01", ""),
    ("POL3", "P3", "1", "ЕА", "987654321012", "", "2016-01-01", ""),  # no ENP: series number
    ("POL4", "P4", "3", "", "", "5099999999999901", "2016-01-01", ""),
    ("POL5", "P5", "3", "", "", "5099999999999902", "2016-01-01", ""),
    ("POL12", "P12", "3", "", "", "5011111111111111", "2016-01-01", ""),
]
ATTACHMENTS = [  # attachment_id, patient_id, mo_code, area_code
    ("0042", "P1", MO, "07"), ("A9", "P9", EVIL_MO, "3"), ("A8", "P8", DEVICE_MO, "1"),
    ("A7", "P7", DEVICE_MO, "2")]
SLOTS = [  # slot_id, mo_code, doctor_id, specialty_code, slot_start, slot_end, patient_id
    ("S9", MO, "D1", "27", "2026-11-26 10:00", "2026-11-26 10:20", ""),
    ("S10", MO, "D1", "27", "26.11.2026 10:20", "26.11.2026 10:40", ""),
    ("S1", "500102", "D2", "76", "2026-11-26 10:00", "2026-11-26 10:20", "P4"),
    ("S2", "500102", "D2", "76", "2026-11-26 10:05", "2026-11-26 10:25", "P6"),
]
V021 = [("27", "Терапия", "2019-11-01", None), ("27", "Терапия (старое название)", "2010-01-01",
                                                 "2019-10-31"), ("76", "Хирургия", "2019-11-01", None)]
WAIVED = ("POL.NUMBER.FORMAT", "policy", "POL3")  # answered "not an error" by the clinic
PII_OTHERS = ["Тайнова", "Секретов", "Чужакова", "Дальний", "5099999999999901", "Хирургия"]


def add_raw_rows(con, run_id: str = RUN) -> None:
    """The raw rows above, for `run_id`, and the EXTRA findings."""
    def raw(table: str, columns: tuple[str, ...], rows, **same) -> None:
        frame = pl.DataFrame([dict(zip(columns, r)) for r in rows], schema=dict.fromkeys(
            columns, pl.String), orient="row")
        write_raw(con, table, frame.with_columns(
            run_id=pl.lit(run_id), line_no=pl.int_range(2, frame.height + 2),
            **{c: pl.lit(v) for c, v in same.items()}))

    raw("raw_patients", ("patient_id", "last_name", "first_name", "middle_name", "birth_date"),
        PATIENTS, sex="1", snils="")
    raw("raw_policies", ("policy_id", "patient_id", "policy_type", "policy_series",
                         "policy_number", "enp", "date_begin", "date_end"),
        POLICIES, smo_code="50001", okato="46000")
    raw("raw_attachments", ("attachment_id", "patient_id", "mo_code", "area_code"), ATTACHMENTS,
        attach_method="1", attach_date="2020-01-01", detach_date="", doctor_snils="")
    raw("raw_slots", ("slot_id", "mo_code", "doctor_id", "specialty_code", "slot_start",
                      "slot_end", "patient_id"), SLOTS,
        doctor_snils="", doctor_status="active", status="booked", updated_at="2026-11-25 10:00")
    con.executemany("INSERT INTO ref_v021 (run_id, idspec, name, date_begin, date_end) "
                    "VALUES (?, ?, ?, ?, ?)", [(run_id, *v) for v in V021])
    con.register("extra_view", findings_frame(EXTRA, run_id).to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM extra_view")
    con.unregister("extra_view")


def waive(con, key=WAIVED, run_id: str = RUN) -> None:
    """Mark a finding as V's routing does (findings.waiver_id), adding the column if needed."""
    con.execute("ALTER TABLE findings ADD COLUMN IF NOT EXISTS waiver_id VARCHAR")
    con.execute("UPDATE findings SET waiver_id = 'w-test' WHERE run_id = ? AND check_code = ? "
                "AND entity = ? AND record_id = ?", [run_id, *key])


def build(path, waived=True):
    con = build_warehouse(path / "wh.duckdb")
    add_raw_rows(con)
    if waived:
        waive(con)
    return con


@pytest.fixture(autouse=True)
def work_catalogue(monkeypatch):
    patch_catalogue(monkeypatch, WORK_FINDINGS)


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    """One render (ru) of the clinic lists and the auditors' report, shared read-only."""
    root = tmp_path_factory.mktemp("worklists")
    with pytest.MonkeyPatch.context() as mp:
        patch_catalogue(mp, WORK_FINDINGS)
        con = build(root)
        out = root / "out"
        write_clinic_reports(con, RUN, out)
        write_auditor_report(con, RUN, out)
        con.close()
    return out


def _clinic(out, mo=MO):
    return out / "clinics" / clinic_stems([c for c in {r[4] for r in WORK_FINDINGS} if c])[mo]


def _csv(path, sep=";") -> pl.DataFrame:
    return pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8")


# --------------------------------------------------------------------------- groups and order


EXPECTED_ORDER = [
    "PAT.SNILS.FORMAT",  # 3 patients cannot book
    # 1 patient each, 1 finding each: by code
    "PAT.BIRTHDATE.INVALID", "PAT.NAME.INVALID", "PAT.SNILS.CHECKSUM", "POL.ENP.CHECKSUM",
    "SCH.STALE",  # a blocker, but no patient: last of the blockers
    "PAT.SEX.INVALID",  # warnings: most findings first (2), then by code
    "ATT.DATES.INVALID", "SCH.HORIZON.EMPTY", "SCH.SLOT.INVALID",
]  # POL.NUMBER.FORMAT is waived


def test_groups_blockers_first_by_booking_impact_and_the_contents_counts(lists):
    page = read_worklist(_clinic(lists).with_suffix(".html"))
    assert [g.code for g in page.groups] == EXPECTED_ORDER
    assert [g.severity for g in page.groups] == ["blocker"] * 6 + ["warning"] * 4
    first = page.groups[0]
    assert (first.count, first.blocked) == (3, 3)
    assert [g.count for g in page.groups][-4:] == [2, 1, 1, 1]
    # the contents: one row per group, in the same order, with its counts and anchor
    assert [r[2] for r in page.toc] == EXPECTED_ORDER
    assert [int(r[0]) for r in page.toc] == list(range(1, 11))
    assert page.toc[0][4:6] == ["3", "3"] and page.toc[5][4:6] == ["1", "0"]
    assert page.toc[6][5] == ""  # warnings block no booking
    html = _clinic(lists).with_suffix(".html").read_text(encoding="utf-8")
    for g in page.groups:
        assert f'href="#{g.anchor}"' in html
    # within a group: by patient name
    assert [r[RU.person] for r in first.rows] == ["Абрамов Илья", "Белова Дарья Олеговна",
                                                  "Волков Юрий"]


def test_each_catalogue_text_is_stated_once(lists):
    stem = _clinic(lists)
    html = html_lib.unescape(stem.with_suffix(".html").read_text(encoding="utf-8"))
    page = read_worklist(stem.with_suffix(".html"))
    for g in page.groups:
        check = catalogue.BY_CODE[g.code]
        assert g.texts["message"] == check.message("ru") and g.texts["fix"] == check.fix("ru")
        assert html.count(check.message("ru")) == 1 and html.count(check.fix("ru")) == 1
    assert len(page.groups[0].rows) == 3 and RU.message not in page.groups[0].headers
    wb = openpyxl.load_workbook(stem.with_suffix(".xlsx"))
    cells = [c for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for c in r
             if isinstance(c, str)]
    for code in EXPECTED_ORDER:
        check = catalogue.BY_CODE[code]
        assert cells.count(check.message("ru")) == 1 and cells.count(check.fix("ru")) == 1
    csv = stem.with_suffix(".csv").read_text(encoding="utf-8-sig")
    assert not any(catalogue.BY_CODE[c].fix("ru") in csv for c in EXPECTED_ORDER)


# --------------------------------------------------------------------------- identity


def test_every_row_identifies_its_record_as_the_mis_shows_it(lists):
    found = {(g.code, rec): row for g in groups(_clinic(lists).with_suffix(".html"))
             for rec, row in zip(record_cells(g), g.rows)}
    p1 = found[("PAT.SNILS.CHECKSUM", "P1")]
    # the patient's full name, birth date DD.MM.YYYY and active policy (not the expired one)
    assert (p1[RU.person], p1[RU.birth_date], p1[RU.policy]) == (
        "Смирнова Анна Петровна", "14.03.1980", "0050000000000017")
    p2 = found[("PAT.NAME.INVALID", "P2")]
    assert (p2[RU.person], p2[RU.birth_date]) == ("Ивaнов Пётр Сергеевич", "31.02.1980")
    # a policy finding shows that policy: series and number where it has no ENP
    pol = found[("POL.ENP.CHECKSUM", "POL2")]
    assert (pol[RU.patient_id], pol[RU.person], pol[RU.policy]) == (
        "P2", "Ивaнов Пётр Сергеевич", "1234567890123456")
    att = found[("ATT.DATES.INVALID", "0042")]
    assert (att[RU.person], att[RU.area], att[RU.policy]) == (
        "Смирнова Анна Петровна", "07", "0050000000000017")
    slot = found[("SCH.SLOT.INVALID", "S9")]
    assert (slot[RU.doctor_id], slot[RU.specialty], slot[RU.slot_date], slot[RU.slot_time]) == (
        "D1", "Терапия (27)", "26.11.2026", "10:00–10:20")  # the latest V021 name
    assert found[("SCH.STALE", "D1")][RU.specialty] == "Терапия (27)"
    assert found[("SCH.HORIZON.EMPTY", "500101/27")][RU.specialty] == "Терапия (27)"
    # columns follow the group's kind of record; the field is stated once when it is one
    by_code = {g.code: g for g in groups(_clinic(lists).with_suffix(".html"))}
    assert by_code["PAT.SNILS.CHECKSUM"].headers == [  # (no suggestion: no such column)
        RU.status, RU.patient_id, RU.person, RU.birth_date, RU.policy, RU.value]
    assert by_code["PAT.SNILS.CHECKSUM"].texts["field"] == "snils"
    assert by_code["SCH.SLOT.INVALID"].headers[:6] == [
        RU.status, RU.slot_id, RU.doctor_id, RU.specialty, RU.slot_date, RU.slot_time]


def test_identity_in_the_csv_and_the_workbook(lists):
    stem = _clinic(lists)
    csv = _csv(stem.with_suffix(".csv"))
    row = csv.filter(pl.col(RU.record_id) == "0042").row(0, named=True)
    assert (row[RU.person], row[RU.birth_date], row[RU.policy], row[RU.area]) == (
        "Смирнова Анна Петровна", "14.03.1980", "0050000000000017", "07")
    slot = csv.filter(pl.col(RU.record_id) == "S9").row(0, named=True)
    assert (slot[RU.doctor_id], slot[RU.slot_date], slot[RU.slot_time]) == (
        "D1", "26.11.2026", "10:00–10:20")
    assert csv.height == len([r for r in WORK_FINDINGS if r[4] == MO]) - 1  # less the waived
    ws = openpyxl.load_workbook(stem.with_suffix(".xlsx"))["Прикрепления"]
    header = [c.value for c in ws[1]]
    (values,) = [dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert values[RU.person] == "Смирнова Анна Петровна" and values[RU.area] == "07"
    assert values[RU.birth_date] == datetime(1980, 3, 14)


def test_full_values_only_in_the_clinics_own_list(lists):
    """A clinic's files name its own patients in full and nobody else's; the other clinics'
    patients appear in their own lists; the auditors' outputs name nobody."""
    def text_of(stem) -> str:
        text = html_lib.unescape(stem.with_suffix(".html").read_text(encoding="utf-8"))
        text += stem.with_suffix(".csv").read_text(encoding="utf-8-sig")
        wb = openpyxl.load_workbook(stem.with_suffix(".xlsx"))
        return text + " ".join(str(c) for ws in wb.worksheets
                               for r in ws.iter_rows(values_only=True) for c in r if c)

    own = text_of(_clinic(lists))
    assert "Смирнова Анна Петровна" in own and "Белова Дарья Олеговна" in own
    assert [v for v in PII_OTHERS if v in own] == []
    other = text_of(_clinic(lists, "500102"))
    assert "Тайнова Вера Павловна" in other and "Секретов Глеб Ильич" in other
    assert "Смирнова" not in other and "0050000000000017" not in other
    assert "Дальний Марк" in text_of(_clinic(lists, DEVICE_MO))
    auditors = [lists / "index.html", *(lists / "clinic").iterdir(), *(lists / "check").iterdir()]
    for path in auditors:
        text = html_lib.unescape(path.read_text(encoding="utf-8"))
        for value in ("Смирнова", "Тайнова", "Белова", "0050000000000017", "Терапия (27)"):
            assert value not in text, (path.name, value)


def test_identities_read_only_the_named_records(wh):
    """One query for every key; keys the raw tables lack (file lines, the register's rows,
    records that were never loaded) have no identity; an empty key set reads nothing."""
    add_raw_rows(wh)
    keys = pl.DataFrame({"entity": ["patient", "policy", "file", "insured", "patient", "slot"],
                         "record_id": ["P1", "POL3", "patients.csv:17", "7700000000009999",
                                       "NOPE", "S10"]})
    found = identity.identities(wh, RUN, keys, datetime(2026, 11, 25, 23))
    assert sorted(found["record_id"]) == ["NOPE", "P1", "POL3", "S10"]
    by = {r["record_id"]: r for r in found.iter_rows(named=True)}
    assert by["POL3"]["policy"] == "ЕА 987654321012" and by["POL3"]["person"] == "Кузнецов Олег"
    assert by["NOPE"]["person"] is None
    assert (by["S10"]["slot_date"].isoformat(), by["S10"]["slot_time"]) == (
        "2026-11-26", "10:20–10:40")  # DD.MM.YYYY HH:MM parses too
    assert identity.identities(wh, RUN, keys.clear(), datetime(2026, 11, 25)).is_empty()
    other = identity.identities(wh, "other-run", keys, datetime(2026, 11, 25))
    assert other["person"].null_count() == other.height  # another run's rows are not read


def test_identity_policy_active_on_the_run_date(wh):
    """A policy key shows its own policy, its patient's keys the policy active on D (ends
    empty, on or after D, in either format), else the one that began last; an end date that
    does not parse (a blank one too, or one the checks' strict parser rejects), or a begin
    after D, is not active: active as staging decides it (stage_policies' is_active)."""
    add_raw_rows(wh)
    rows = [  # policy_id, patient_id, enp, date_begin, date_end
        ("Q1", "P20", "1000000000000001", "2010-01-01", "2015-12-31"),  # ended
        ("Q2", "P20", "1000000000000002", "01.01.2016", "25.11.2026"),  # ends on D: active
        ("Q3", "P20", "1000000000000003", "2020-01-01", "31.02.2030"),  # end does not parse
        ("Q4", "P21", "1000000000000004", "2016-01-01", "2020-01-01"),  # ended
        ("Q5", "P21", "1000000000000005", "2026-12-01", ""),  # begins after D: began last
        ("Q6", "P22", "1000000000000006", "2016-01-01", "  "),  # blank end: not active
        ("Q7", "P22", "1000000000000007", "2020-01-01", "2019-01-01"),  # ended before D
        ("Q8", "P23", "1000000000000008", "2016-1-1", ""),  # begin not strict: not active
        ("Q9", "P23", "1000000000000009", "2010-01-01", "30-01-01"),  # end not strict
        ("QA", "P23", "1000000000000010", "2008-01-01", ""),  # active
    ]
    write_raw(wh, "raw_policies", pl.DataFrame(
        [dict(zip(("policy_id", "patient_id", "enp", "date_begin", "date_end"), r)) for r in rows],
        orient="row").with_columns(run_id=pl.lit(RUN), line_no=pl.int_range(100, 100 + len(rows))))
    keys = pl.DataFrame({"entity": ["policy", "patient", "patient", "patient", "patient",
                                    "policy", "policy"],
                         "record_id": ["Q1", "P20", "P21", "P22", "P23", "POL1OLD", "Q5"]})
    as_of = datetime(2026, 11, 25, 23)
    found = identity.identities(wh, RUN, keys, as_of)
    by = {(r["entity"], r["record_id"]): r["policy"] for r in found.iter_rows(named=True)}
    assert by == {("policy", "Q1"): "1000000000000001", ("patient", "P20"): "1000000000000002",
                  ("patient", "P21"): "1000000000000005", ("patient", "P22"): "1000000000000007",
                  ("patient", "P23"): "1000000000000010",
                  ("policy", "POL1OLD"): "7700000000000001", ("policy", "Q5"): "1000000000000005"}
    # the active ones are exactly those staging types as active
    from checks.staging import stage_policies
    staged = stage_policies(pl.DataFrame(
        [dict(zip(("policy_id", "patient_id", "enp", "date_begin", "date_end"), r)) for r in rows],
        orient="row"), as_of)
    assert set(staged.filter("is_active")["policy_id"]) == {"Q2", "QA"}


# --------------------------------------------------------------------------- waivers, all clear


def test_waived_findings_leave_the_clinic_list(lists):
    stem = _clinic(lists)
    codes = {g.code for g in groups(stem.with_suffix(".html"))}
    assert WAIVED[0] not in codes
    assert "POL3" not in _csv(stem.with_suffix(".csv"))[RU.record_id].to_list()
    html = stem.with_suffix(".html").read_text(encoding="utf-8")
    assert f"{RU.waived_count}: 1" in html
    wb = openpyxl.load_workbook(stem.with_suffix(".xlsx"))
    facts = {r[0]: r[1] for r in wb["Сводка"].iter_rows(values_only=True) if r[0]}
    assert facts[RU.waived_count] == "1"
    assert "POL3" not in [r[5] for r in wb["Полисы"].iter_rows(min_row=2, values_only=True)]


def test_a_clinic_whose_findings_are_all_waived_gets_an_all_clear_list(tmp_path):
    con = build(tmp_path)
    waive(con, ("ATT.METHOD.INVALID", "attachment", "A9"))  # EVIL_MO's only finding
    write_clinic_reports(con, RUN, tmp_path / "out")
    con.close()
    stem = _clinic(tmp_path / "out", EVIL_MO)
    html = stem.with_suffix(".html").read_text(encoding="utf-8")
    assert RU.all_clear in html and f"{RU.waived_count}: 1" in html and "A9" not in html
    assert _csv(stem.with_suffix(".csv")).height == 0
    assert openpyxl.load_workbook(stem.with_suffix(".xlsx")).sheetnames == ["Сводка"]


def test_a_warehouse_without_the_waiver_column_lists_everything(tmp_path):
    con = build(tmp_path, waived=False)
    columns = {r[0] for r in con.execute("DESCRIBE findings").fetchall()}
    if "waiver_id" in columns:
        con.execute("ALTER TABLE findings DROP COLUMN waiver_id")
    write_clinic_reports(con, RUN, tmp_path / "out")
    con.close()
    assert WAIVED[0] in {g.code for g in groups(_clinic(tmp_path / "out").with_suffix(".html"))}


# --------------------------------------------------------------------------- the workbook


def test_workbook_layout_for_a_clerk(lists):
    wb = openpyxl.load_workbook(_clinic(lists).with_suffix(".xlsx"))
    assert wb.sheetnames == ["Сводка", "Пациенты", "Полисы", "Прикрепления", "Расписание"]
    # custom document properties (design13.md): the waiver import recognises its lists by them
    assert wb.properties.title == "Talon fix list"
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    assert props == {"talon_fixlist": "1", "talon_mo_code": MO, "talon_run_id": RUN}
    patients = wb["Пациенты"]
    header = [c.value for c in patients[1]]
    col = {h: openpyxl.utils.get_column_letter(i + 1) for i, h in enumerate(header)}
    rows = list(patients.iter_rows(min_row=2))
    cell = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    # frozen header row, autofilter over the table
    assert patients.freeze_panes == "A2"
    (table,) = patients.tables.values()
    assert table.ref == f"A1:{col[header[-1]]}{len(rows) + 1}"
    assert table.autoFilter.ref == table.ref
    # the answer columns, exactly as design13.md names them, empty
    assert header[-2:] == ["Ответ МО: не ошибка — причина", "Ответ МО: до (ДД.ММ.ГГГГ)"]
    assert all(c.value is None for h in header[-2:] for c in cell[h])
    assert cell[RU.answer_until][0].number_format == DATE_FORMAT
    validations = {str(v.sqref): v for v in patients.data_validations.dataValidation}
    until = validations[f"{col[RU.answer_until]}2:{col[RU.answer_until]}{len(rows) + 1}"]
    assert until.type == "date" and until.operator == "greaterThanOrEqual"
    # check code and record id: text cells
    assert all(c.data_type == "s" and c.number_format == "@" for h in (RU.check_code,
               RU.record_id) for c in cell[h])
    # dates are Excel dates shown DD.MM.YYYY; one that does not parse keeps its text
    births = {r[header.index(RU.record_id)].value: r[header.index(RU.birth_date)] for r in rows}
    assert births["P1"].is_date and births["P1"].value == datetime(1980, 3, 14)
    assert births["P1"].number_format == DATE_FORMAT
    assert births["P2"].data_type == "s" and births["P2"].value == "31.02.1980"
    # ids and codes as text with their leading zeros
    att = wb["Прикрепления"]
    att_header = [c.value for c in att[1]]
    (att_row,) = list(att.iter_rows(min_row=2))
    for name, want in ((RU.record_id, "0042"), (RU.area, "07"), (RU.policy, "0050000000000017")):
        c = att_row[att_header.index(name)]
        assert (c.value, c.data_type, c.number_format) == (want, "s", "@"), name
    # widths fitted to the content, capped; long text wrapped
    widths = {h: patients.column_dimensions[col[h]].width for h in header}
    assert widths[RU.check] > widths[RU.status] > 0
    assert max(widths.values()) < 50  # capped (~350 px)
    assert widths[RU.answer_reason] > 30  # room to write the answer
    assert cell[RU.check][0].alignment.wrap_text and cell[RU.value][0].alignment.wrap_text
    assert not cell[RU.check_code][0].alignment.wrap_text
    # blockers highlighted
    rules = [(str(r.sqref), rule.formula[0]) for r in patients.conditional_formatting
             for rule in r.rules]
    assert (f"A2:{col[header[-1]]}{len(rows) + 1}", '$A2="Блокирующая"') in rules
    # print setup: landscape A4, one page wide, the header row on every page, the clinic and
    # the run's date in the page header, page numbers in the footer
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert (ws.page_setup.fitToWidth in (1, None), ws.page_setup.fitToHeight) == (True, 0)
        assert MO in ws.oddHeader.left.text and "ГБУЗ МО «Поликлиника №1»" in ws.oddHeader.left.text
        assert re.search(r"\d\d\.\d\d\.\d{4}", ws.oddHeader.right.text)
        assert "&P" in ws.oddFooter.center.text and "&N" in ws.oddFooter.center.text
    assert all(ws.print_title_rows == "$1:$1" for ws in wb.worksheets[1:])


def test_summary_sheet_tells_how_to_use_and_answer(lists):
    wb = openpyxl.load_workbook(_clinic(lists).with_suffix(".xlsx"))
    texts = [c for r in wb["Сводка"].iter_rows(values_only=True) for c in r if c]
    assert RU.howto_xlsx in texts and RU.howto_answer in texts
    assert "Ответ МО: не ошибка — причина" in RU.howto_answer
    rows = list(wb["Сводка"].iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == RU.order_col)
    head = rows[at]
    checks = [dict(zip(head, r)) for r in rows[at + 1:] if r[0] is not None]
    assert [c[RU.check_code] for c in checks] == EXPECTED_ORDER
    assert (checks[0][RU.group_findings], checks[0][RU.group_blocked]) == (3, 3)
    assert checks[0][RU.sheet_col] == "Пациенты" and checks[-1][RU.sheet_col] == "Расписание"


def test_english_answer_columns(tmp_path):
    con = build(tmp_path)
    write_clinic_reports(con, RUN, tmp_path / "out", lang="en")
    con.close()
    stem = _clinic(tmp_path / "out")
    wb = openpyxl.load_workbook(stem.with_suffix(".xlsx"))
    for ws in wb.worksheets[1:]:
        header = [c.value for c in ws[1]]
        assert EN.check_code in header and EN.record_id in header
        assert header[-2:] == ["Clinic's answer: not an error — reason",
                               "Answer: until (DD.MM.YYYY)"]
    page = read_worklist(stem.with_suffix(".html"))
    assert [g.code for g in page.groups] == EXPECTED_ORDER
    assert page.groups[0].headers[:3] == ["Status", "Patient id", "Patient's full name"]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_rows_leave_out_optional_end_tags_and_keep_every_cell(tmp_path, lang):
    """A work list's table rows end without `</td>` and `</tr>` (HTML ends a cell at the next
    cell or row and both at the table body's end; issue 15: ~40 bytes a row) and nothing
    stands between rows, so no cell gains text (the value cells are pre-wrapped): every row
    has a cell per header, whatever the list (the steward's, a clinic with one finding or many
    checks)."""
    con = build(tmp_path)
    out = tmp_path / "out"
    write_clinic_reports(con, RUN, out, lang)
    con.close()
    pages = sorted((out / "clinics").glob("*.html"))
    sizes = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        tables = re.findall(r'<table class="worklist"[^>]*>\n<thead>(.*?)</thead>\n<tbody>\n'
                            r'(.*?)</tbody>', text, re.S)
        read = groups(page)
        assert len(tables) == len(read)
        for (head, body), group in zip(tables, read):
            assert "</td>" not in body and "</tr>" not in body
            assert "\n<tr" not in body and not body.endswith("\n")
            rows = body.split("<tr ")[1:]
            assert len(rows) == group.count == len(group.rows)
            assert all(r.count("<td") == head.count("<th") == len(group.headers) for r in rows)
            assert all(len(r) == len(group.headers) for r in group.rows)
        sizes.append(sum(len(g.rows) for g in read))
    assert 1 in sizes and max(sizes) > 1 and len(pages) >= 3
    assert any(len(groups(p)) > 2 for p in pages)


def test_print_css_for_a4_landscape():
    from reports.html import STATIC

    css = (STATIC / "talon.css").read_text(encoding="utf-8")
    assert re.search(r"@page\s*\{\s*size:\s*A4 landscape", css)
    assert "counter(page)" in css and "counter(pages)" in css
    media = css.split("@media print", 1)[1]
    assert re.search(r"\.filterbox[^{]*\{\s*display:\s*none", media)
    assert re.search(r"\.group-head\s*\{[^}]*break-after:\s*avoid", media)
    assert re.search(r"thead\s*\{\s*display:\s*table-header-group", media)
