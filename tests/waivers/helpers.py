"""Test data of the waiver tests: a warehouse built by hand (two completed runs and their
findings, F003 names) and a fix-list workbook written with xlsxwriter exactly as design13.md
says the clinic lists are (custom properties, one header row, the answer columns)."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import xlsxwriter

from flows import warehouse
from flows.waivers import ANSWER_HEADERS, UNTIL_HEADERS

R1, R2 = "r1", "r2"
AS_OF = {R1: datetime(2026, 11, 20, 23, 0), R2: datetime(2026, 11, 21, 23, 0)}
TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 9, 30)
ENP = "5098765432109876"

# check_code, severity, entity, record_id, mo_code, patient_id
FINDINGS = [
    ("PAT.SNILS.MISSING", "blocker", "patient", "P1", "500101", "P1"),
    ("PAT.SEX.INVALID", "warning", "patient", "P1", "500101", "P1"),
    ("PAT.SNILS.MISSING", "blocker", "patient", "P2", "500102", "P2"),
    ("SCH.STALE", "blocker", "doctor", "D1", "500101", None),
    ("PAT.POLICY.NONE", "blocker", "patient", "P11", None, "P11"),
    ("ROW.MALFORMED", "blocker", "file", "patients.csv:17", None, None),
    ("ROW.DUPLICATE_ID", "blocker", "insured", ENP, None, None),
    ("ATT.METHOD.INVALID", "warning", "attachment", "=A9", "500101", "P9"),  # formula-like id
]
#: Findings of the first run only (fixed since): still "reported" by the warehouse.
OLD_ONLY = [("POL.ENP.MISSING", "blocker", "policy", "POL7", "500102", "P7")]


def build_warehouse(path: Path) -> Path:
    with warehouse.connect(path) as con:
        for run_id, as_of in AS_OF.items():
            con.execute(
                "INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
                "reference_dir, started_at, finished_at, status) "
                "VALUES (?, ?, 'cli', '50', 'x', 'y', ?, ?, 'completed')",
                [run_id, as_of, as_of, as_of])
            rows = FINDINGS + (OLD_ONLY if run_id == R1 else [])
            for code, sev, entity, record, mo, patient in rows:
                con.execute(
                    "INSERT INTO findings (run_id, check_code, severity, entity, record_id, "
                    "mo_code, field, value, value_masked, patient_id, suggested_value, "
                    "suggested_masked) VALUES (?, ?, ?, ?, ?, ?, 'f', 'v', 'v*', ?, '', '')",
                    [run_id, code, sev, entity, record, mo, patient])
            for mcod, name in (("500101", "Поликлиника №1"), ("500102", "Больница №2")):
                con.execute("INSERT INTO ref_f003 (run_id, mcod, name) VALUES (?, ?, ?)",
                            [run_id, mcod, name])
    return path


def counts(path: Path) -> tuple[int, int]:
    """(waivers, waiver_events) rows: a refused answer changes neither."""
    with warehouse.connect(path, read_only=True) as con:
        return (con.execute("SELECT count(*) FROM waivers").fetchall()[0][0],
                con.execute("SELECT count(*) FROM waiver_events").fetchall()[0][0])


def write_fixlist(path: Path, rows: list[tuple], *, mo_code: str | None = "500101",
                  run_id: str = R2, lang: str = "ru", properties: bool = True,
                  until_column: bool = True, sheet: str = "Пациенты") -> Path:
    """A fix-list workbook as design13.md describes it: title, the custom properties, a
    summary sheet, then a findings sheet with one header row. `rows`: (check_code,
    record_id, answer, until) where until is a date, a text or None."""
    i = 1 if lang == "en" else 0
    check = ("Код проверки", "Check code")[i]
    record = ("ID записи", "Record id")[i]
    workbook = xlsxwriter.Workbook(str(path))
    workbook.set_properties({"title": "Talon fix list"})
    if properties:
        workbook.set_custom_property("talon_fixlist", "1")
        workbook.set_custom_property("talon_mo_code", mo_code or "")
        workbook.set_custom_property("talon_run_id", run_id)
    text = workbook.add_format({"num_format": "@"})
    day = workbook.add_format({"num_format": "dd.mm.yyyy"})
    summary = workbook.add_worksheet("Сводка")
    summary.write_row(0, 0, ["Показатель", "Значение"])
    summary.write_row(1, 0, [ANSWER_HEADERS[i], "как ответить"])
    sheet_ = workbook.add_worksheet(sheet)
    header = ["Серьёзность", check, record, "Значение", ANSWER_HEADERS[i]]
    if until_column:
        header.append(UNTIL_HEADERS[i])
    sheet_.write_row(0, 0, header)
    for r, (code, rec, answer, until) in enumerate(rows, start=1):
        sheet_.write_string(r, 0, "Блокирующая")
        sheet_.write_string(r, 1, code, text)
        sheet_.write_string(r, 2, rec, text)
        sheet_.write_string(r, 3, "значение")
        if answer is not None:
            sheet_.write_string(r, 4, answer)
        if until_column and until is not None:
            if isinstance(until, date):
                sheet_.write_datetime(r, 5, datetime(until.year, until.month, until.day), day)
            else:
                sheet_.write_string(r, 5, until)
    workbook.close()
    return path
