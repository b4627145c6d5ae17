"""End to end: a night's run → the clinic answers "not an error" in its own fix-list XLSX →
`talon waive --file` → the next night. The waived finding leaves the clinic's list and the
booking impact, stays in `findings` with its waiver, and the auditors' waivers page shows it.
Each refused answer is tried on the real workbook first: exit 2, one line, nothing recorded.

The nights run as flows/nightly.py's do (pipeline, then the report writers of `publish`),
without Prefect; the answers go through the `talon` command line."""
from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta

import duckdb
import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from flows import pipeline, publish, warehouse
from flows.cli import app
from flows.synth import generate_region
from flows.waivers import ANSWER_HEADERS, UNTIL_HEADERS

pytestmark = pytest.mark.slow

runner = CliRunner()
AS_OF = datetime(2026, 11, 25, 23, 0)
REASON = "иностранный гражданин, СНИЛС не оформлялся"
KEEP = "пациент выбыл, запись закрыта приказом"


def _night(region, db, out, as_of: datetime):
    """One night as nightly_flow runs it (no GX cross-check), outputs staged and promoted."""
    from reports.auditor import write_auditor_report
    from reports.clinic import write_clinic_reports
    from reports.findings_csv import write_findings_csv

    prepared = pipeline.prepare(region / "extract", region / "reference",
                                as_of=as_of.isoformat())
    run_id = pipeline.new_run_id()
    with warehouse.connect(db) as con:
        pipeline.load_run(con, prepared, run_id)
        routed = pipeline.run_checks(con, run_id, prepared.as_of, pipeline.CheckParams())

    def render(folder):
        write_findings_csv(routed, folder / "findings.csv", "ru")
        with warehouse.connect(db) as con:
            write_clinic_reports(con, run_id, folder, "ru", workers=1)
            write_auditor_report(con, run_id, folder, "ru", workers=1, gx_page=False)

    folder = publish.stage(out, publish.run_label(prepared.as_of, run_id), render)
    with warehouse.connect(db) as con:
        pipeline.finish_run(con, run_id, "completed")
    publish.promote(out, folder.name)
    return run_id, folder


def _query(db, sql, params=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.fixture(scope="module")
def first_night(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    region = root / "region"
    generate_region(region, patients=600, seed=11, region="50", as_of=AS_OF)
    db, out = root / "w.duckdb", root / "out"
    run_id, folder = _night(region, db, out, AS_OF)
    return root, region, db, out, run_id, folder


def _pick(db, run_id):
    """A clinic and two of its patient findings: a blocker whose patient has no other blocker
    (so the booking impact must drop by one patient) and another finding of another patient."""
    rows = _query(db, """
        WITH b AS (SELECT mo_code, patient_id, count(*) AS n FROM findings
                   WHERE run_id = ? AND severity = 'blocker' AND patient_id IS NOT NULL
                   GROUP BY ALL)
        SELECT f.mo_code, f.check_code, f.record_id, f.patient_id
        FROM findings f JOIN b USING (mo_code, patient_id)
        WHERE f.run_id = ? AND f.severity = 'blocker' AND b.n = 1 AND f.mo_code IS NOT NULL
          AND f.entity = 'patient' AND f.check_code NOT LIKE 'ROW.%'
        ORDER BY f.mo_code, f.check_code, f.record_id""", [run_id, run_id])
    assert rows, "the region has no clinic patient with a single blocker"
    mo, check, record, patient = rows[0]
    other = _query(db, """SELECT check_code, record_id FROM findings
                          WHERE run_id = ? AND mo_code = ? AND entity = 'patient'
                            AND patient_id <> ? AND check_code NOT LIKE 'ROW.%'
                          ORDER BY check_code, record_id LIMIT 1""", [run_id, mo, patient])
    return mo, (check, record, patient), other[0]


def _headers(ws):
    return {c.value: c.column for c in ws[1] if c.value}


def _find_row(book, check, record):
    """(sheet, row, headers) of a finding in a fix-list workbook."""
    for ws in book.worksheets:
        head = _headers(ws)
        if ANSWER_HEADERS[0] not in head:
            continue
        for row in range(2, ws.max_row + 1):
            if (ws.cell(row, head["Код проверки"]).value == check
                    and ws.cell(row, head["ID записи"]).value == record):
                return ws, row, head
    return None


def _answer(src, dst, answers, edit=None):
    """Copy the workbook `src` to `dst` with answers {(check, record): (reason, until)} filled
    in (openpyxl, as a clerk's Excel would save it); `edit(book)` may spoil it further."""
    book = openpyxl.load_workbook(src)
    for (check, record), (reason, until) in answers.items():
        ws, row, head = _find_row(book, check, record)
        if reason is not None:
            ws.cell(row, head[ANSWER_HEADERS[0]]).value = reason
        if until is not None:
            ws.cell(row, head[UNTIL_HEADERS[0]]).value = until
    if edit is not None:
        edit(book)
    book.save(dst)
    return dst


def _waivers(db):
    return _query(db, "SELECT count(*) FROM waivers")[0][0], \
        _query(db, "SELECT count(*) FROM waiver_events")[0][0]


def _card(html: str, metric: str) -> int:
    match = re.search(rf'data-metric="{metric}"><span class="n">([\d\u202f]+)</span>', html)
    return int(match.group(1).replace("\u202f", ""))


@pytest.fixture
def wide(monkeypatch):
    """The CLI's tables at full width (the runner's terminal is 80 columns)."""
    from rich.console import Console

    from flows import cli

    monkeypatch.setattr(cli, "console", Console(highlight=False, width=250))


def test_answer_in_the_fix_list_then_next_night(first_night, tmp_path, wide):
    root, region, db, out, run1, folder1 = first_night
    mo, (check, record, patient), (check2, record2) = _pick(db, run1)
    workbook = folder1 / "clinics" / f"{mo}.xlsx"
    assert _find_row(openpyxl.load_workbook(workbook), check, record), "not in the clinic list"
    until = max(date.today(), AS_OF.date()) + timedelta(days=365)
    good = {(check, record): (REASON, datetime(until.year, until.month, until.day)),
            (check2, record2): (KEEP, None)}
    other_mo, other_record = _query(db, """
        SELECT mo_code, record_id FROM findings WHERE run_id = ? AND check_code = ?
          AND mo_code IS NOT NULL AND mo_code <> ? ORDER BY record_id LIMIT 1""",
        [run1, check, mo])[0]

    # --- every refused answer: exit 2, one line naming the place, nothing recorded -----------
    def set_cell(header, value, key=(check, record)):
        def edit(book):
            ws, row, head = _find_row(book, *key)
            ws.cell(row, head[header]).value = value
        return edit

    def strip_properties(book):
        for name in list(book.custom_doc_props.names):
            del book.custom_doc_props[name]

    unassigned = folder1 / "clinics" / "unassigned.xlsx"
    [(malformed,)] = _query(db, "SELECT min(record_id) FROM findings WHERE run_id = ? AND "
                                "check_code = 'ROW.MALFORMED'", [run1])
    refusals = [
        ("unknown check", workbook, set_cell("Код проверки", "PAT.NO.SUCH"), [],
         "column 'Код проверки': unknown check code 'PAT.NO.SUCH'"),
        ("never reported", workbook, set_cell("ID записи", "NO-SUCH-RECORD"), [],
         "column 'ID записи': the warehouse never reported"),
        ("empty reason", workbook, set_cell(ANSWER_HEADERS[0], "  "), [],
         "empty reason"),
        ("past until", workbook, set_cell(UNTIL_HEADERS[0], datetime(2020, 1, 1)), [],
         "until 2020-01-01 is in the past"),
        ("not a fix list", workbook, strip_properties, [], "not a Talon fix list"),
        ("another clinic's record", workbook, set_cell("ID записи", other_record), [],
         f"is on MO {other_mo}'s list, not MO {mo}'s"),
        ("another clinic's workbook", workbook, None, ["--mo", other_mo],
         f"this is MO {mo}'s fix list, not MO {other_mo}'s"),
    ]
    for name, src, edit, extra, message in refusals:
        path = _answer(src, tmp_path / f"{name}.xlsx", good, edit)
        result = runner.invoke(app, ["waive", "--warehouse", str(db), "--file", str(path),
                                     *extra])
        assert result.exit_code == 2, (name, result.output)
        line = " ".join(result.output.split())
        assert message in line and path.name in line, (name, line)
        assert _waivers(db) == (0, 0), name
    steward = _answer(unassigned, tmp_path / "unassigned.xlsx", {
        ("ROW.MALFORMED", malformed): ("строка верна", None)})
    result = runner.invoke(app, ["waive", "--warehouse", str(db), "--file", str(steward)])
    assert result.exit_code == 2 and "ROW.MALFORMED cannot be waived" in result.output
    assert _waivers(db) == (0, 0)

    # --- the clinic's answers are recorded -----------------------------------------------------
    answered = _answer(workbook, tmp_path / f"{mo}.xlsx", good)
    result = runner.invoke(app, ["waive", "--warehouse", str(db), "--file", str(answered),
                                 "--mo", mo, "--by", "Петрова (регистратура)"])
    assert result.exit_code == 0, result.output
    assert "2 waiver(s) added" in " ".join(result.output.split())
    again = runner.invoke(app, ["waive", "--warehouse", str(db), "--file", str(answered)])
    assert again.exit_code == 0 and "2 unchanged" in " ".join(again.output.split())
    listed = runner.invoke(app, ["waivers", "--warehouse", str(db), "--mo", mo])
    assert listed.exit_code == 0 and record in listed.output and check in listed.output
    [(waiver_id, reason, until_db, by, waiver_mo)] = _query(
        db, "SELECT waiver_id, reason, until, created_by, mo_code FROM waivers "
            "WHERE check_code = ? AND record_id = ?", [check, record])
    assert (reason, until_db, by, waiver_mo) == (REASON, until, "Петрова (регистратура)", mo)

    # --- the next night ------------------------------------------------------------------------
    run2, folder2 = _night(region, db, out, AS_OF + timedelta(days=1))
    [(stored,)] = _query(db, "SELECT waiver_id FROM findings WHERE run_id = ? AND "
                             "check_code = ? AND record_id = ?", [run2, check, record])
    assert stored == waiver_id  # still a finding, with its waiver
    # the clinic's lists no longer show it, nor the other answered one
    book = openpyxl.load_workbook(folder2 / "clinics" / f"{mo}.xlsx")
    assert _find_row(book, check, record) is None and _find_row(book, check2, record2) is None
    csv = pl.read_csv(folder2 / "clinics" / f"{mo}.csv", separator=";", infer_schema=False)
    pairs = set(zip(csv["Код проверки"], csv["ID записи"]))
    assert (check, record) not in pairs and (check2, record2) not in pairs
    # findings.csv keeps every finding, the waived ones too
    every = pl.read_csv(folder2 / "findings.csv", infer_schema=False)
    assert ((every["check_code"] == check) & (every["record_id"] == record)).sum() == 1
    # booking impact: the patient whose only blocker was waived no longer counts
    blocked = {p for (p,) in _query(db, "SELECT DISTINCT patient_id FROM findings WHERE run_id = ?"
                                        " AND severity = 'blocker' AND waiver_id IS NULL "
                                        "AND patient_id IS NOT NULL", [run2])}
    assert patient not in blocked
    index = (folder2 / "index.html").read_text(encoding="utf-8")
    assert _card(index, "patients_blocked") == len(blocked)
    assert _card(index, "waiver_waived_findings") == 2
    assert _card(index, "waiver_waived_patients") >= 1
    # the auditors' waivers page: the waiver, seen and waived, with its reason and author
    page = (folder2 / "waivers.html").read_text(encoding="utf-8")
    row = re.search(rf'<tr data-waiver="{waiver_id}"[^>]*>.*?</tr>', page, re.S).group(0)
    assert 'data-status="active"' in row and 'data-seen="waived"' in row
    assert REASON in row and "Петрова (регистратура)" in row and f"{until:%Y-%m-%d}" in row
    assert 'href="waivers.html"' in index

    # --- withdrawn: kept as removed, with the whole trail ------------------------------------
    removed = runner.invoke(app, ["waive", "--warehouse", str(db), "--remove", "--check", check,
                                  "--record", record, "--by", "steward"])
    assert removed.exit_code == 0, removed.output
    trail = _query(db, 'SELECT event, "by" FROM waiver_events WHERE waiver_id = ? '
                       "ORDER BY event_id", [waiver_id])
    assert trail == [("added", "Петрова (регистратура)"), ("removed", "steward")]
    assert _query(db, "SELECT status FROM waivers WHERE waiver_id = ?", [waiver_id]) == \
        [("removed",)]
