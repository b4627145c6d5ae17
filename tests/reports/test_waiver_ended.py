"""A finding whose waiver ended (checks/lifecycle.py `waiver_ended`): the clinic answered it
"not an error", the waiver covered it on the previous night and no longer does (expired, or
removed by the steward), so it is back on the clinic's list. Its status says so in the HTML
(row class, badge text with the answer's end), the XLSX and the CSV; the summary, the table of
contents and the checks table count it; the auditor report counts it apart from new and
reopened findings, and so does the clinic's message; the next night it is `open` with its days
counted from its return.

Warehouse built by hand, each night's `findings.waiver_id` set by the routing's own code
(checks.findings._waive: expiry, then the waivers that apply on the run's D) and the waivers
recorded by flows/waivers.py:
  r0 (D 23.11): every finding open; the clinic answers A, C, D, F after it;
  r1 (D 24.11): A (until 24.11), C (no until), D (until 25.11), F waived; B, G open. After it
                the steward removes F's waiver, and G is answered and withdrawn again;
  r2 (D 25.11): A's waiver expires (24.11 < 25.11) -> waiver_ended (expired); D's until is D
                itself -> still waived (a waiver applies through its until day); F ->
                waiver_ended (removed); B (never answered) and G (on r1's list) -> open;
  r3 (D 26.11): A again -> open, 1 day.
"""
from __future__ import annotations

from datetime import date, datetime

import openpyxl
import polars as pl
import pytest

from checks import lifecycle
from checks.findings import _waive
from flows import delivery
from flows import waivers as wv
from flows import warehouse
from report_fixtures import findings_frame, html_tables
from reports import data
from reports.auditor import write_auditor_report
from reports.clinic import write_clinic_reports
from reports.i18n import Texts
from worklist_pages import groups, read_worklist

RU, EN = Texts("ru"), Texts("en")
MO = "500101"
RUNS = {"r0": datetime(2026, 11, 23, 23, 0), "r1": datetime(2026, 11, 24, 23, 0),
        "r2": datetime(2026, 11, 25, 23, 0), "r3": datetime(2026, 11, 26, 23, 0)}

# check_code, severity, entity, record_id, mo_code, unassigned_reason, field, value, patient_id
A = ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P1", MO, None, "snils", "112-233-445 96", "P1")
B = ("PAT.SEX.INVALID", "warning", "patient", "P1", MO, None, "sex", "-1", "P1")
C = ("PAT.NAME.INVALID", "blocker", "patient", "P2", MO, None, "last_name", "Ивaнов", "P2")
D = ("PAT.BIRTHDATE.INVALID", "blocker", "patient", "P3", MO, None, "birth_date", "14.03.2099",
     "P3")
F = ("POL.ENP.CHECKSUM", "blocker", "policy", "POL2", MO, None, "enp", "1234567890123456", "P2")
G = ("SCH.STALE", "blocker", "doctor", "D1", MO, None, "updated_at", "2026-11-01 10:00", None)
ALL = [A, B, C, D, F, G]
UNTIL = {A: date(2026, 11, 24), C: None, D: date(2026, 11, 25), F: None}


def _night(con, run_id: str, rows) -> None:
    as_of = RUNS[run_id]
    con.execute("INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
                "reference_dir, started_at, status) VALUES (?, ?, 'cli', '50', 'x', 'y', ?, "
                "'completed')", [run_id, as_of, as_of])
    con.execute("INSERT INTO ref_f003 (run_id, mcod, name) VALUES (?, ?, 'Поликлиника №1')",
                [run_id, MO])
    routed = _waive(con, run_id, findings_frame(rows, run_id))  # as the routing marks them
    con.register("night_view", routed.to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM night_view")
    con.unregister("night_view")


def _build(path, last: str = "r2"):
    con = warehouse.connect(path)
    _night(con, "r0", ALL)
    for row, until in UNTIL.items():
        wv.add_waiver(con, row[0], row[3], "не ошибка: проверено", until, by="clerk",
                      today=date(2026, 11, 24), now=datetime(2026, 11, 24, 9, 0))
    _night(con, "r1", ALL)
    wv.remove_waiver(con, F[0], F[3], by="steward", now=datetime(2026, 11, 25, 10, 0))
    wv.add_waiver(con, G[0], G[3], "врач в отпуске", by="clerk", today=date(2026, 11, 25),
                  now=datetime(2026, 11, 25, 11, 0))
    wv.remove_waiver(con, G[0], G[3], by="steward", now=datetime(2026, 11, 25, 12, 0))
    _night(con, "r2", ALL)
    if last == "r3":
        _night(con, "r3", ALL)
    return con


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """r2's fix lists in Russian and English and its Russian auditor report (r3 is in the
    warehouse: runs after the reported one are ignored); "wh": the warehouse, "ru_out": the
    Russian run folder."""
    root = tmp_path_factory.mktemp("waiver_ended")
    con = _build(root / "wh.duckdb", last="r3")
    try:
        for lang in ("ru", "en"):
            write_clinic_reports(con, "r2", root / lang, lang, workers=1)
        write_auditor_report(con, "r2", root / "ru", "ru", workers=1, gx_page=False)
    finally:
        con.close()
    return {**{lang: root / lang / "clinics" / MO for lang in ("ru", "en")},
            "wh": root / "wh.duckdb", "ru_out": root / "ru"}


def _status(con, run_id: str) -> dict[str, tuple[str, int]]:
    frame = lifecycle.finding_status(con, run_id)
    return {r["check_code"]: (r["status"], r["days_open"]) for r in frame.iter_rows(named=True)}


def test_the_routing_waived_as_the_waivers_said(tmp_path):
    con = _build(tmp_path / "wh.duckdb")
    waived = dict(con.execute("SELECT run_id, list(check_code ORDER BY check_code) FROM findings "
                              "WHERE waiver_id IS NOT NULL GROUP BY run_id").fetchall())
    con.close()
    assert sorted(waived["r1"]) == sorted([A[0], C[0], D[0], F[0]])
    assert sorted(waived["r2"]) == sorted([C[0], D[0]])  # D: until = r2's D, still applies
    assert "r0" not in waived


def test_lifecycle_status_and_days(tmp_path):
    con = _build(tmp_path / "wh.duckdb", last="r3")
    try:
        r2, r3 = _status(con, "r2"), _status(con, "r3")
    finally:
        con.close()
    assert r2[A[0]] == ("waiver_ended", 0)  # expired: its days start again
    assert r2[F[0]] == ("waiver_ended", 0)  # removed
    assert r2[B[0]] == ("open", 2)  # never answered: on the list since r0
    assert r2[G[0]] == ("open", 2)  # answered and withdrawn between r1 and r2: on r1's list
    assert r2[C[0]][0] == r2[D[0]][0] == "open"  # waived in r1 and r2
    # the night after: back to open, its days counted from its return, not from r0
    assert r3[A[0]] == ("open", 1) and r3[F[0]] == ("open", 1)
    assert r3[B[0]] == ("open", 3)


def test_without_the_waiver_column_no_status_ends(tmp_path):
    con = _build(tmp_path / "wh.duckdb")
    con.execute("ALTER TABLE findings DROP COLUMN waiver_id")
    try:
        statuses = {s for s, _ in _status(con, "r2").values()}
    finally:
        con.close()
    assert statuses == {"open"}


def _html_rows(stem) -> dict[str, tuple[str, str]]:
    """check code -> (row class, status cell) of the clinic's HTML list."""
    out = {}
    for g in groups(stem.with_suffix(".html")):
        for cls, row in zip(g.row_classes, g.rows):
            out[g.code] = (cls, row[g.headers[0]])
    return out


def test_html_marks_the_rows_and_says_when_the_answer_ended(outputs):
    rows = _html_rows(outputs["ru"])
    assert rows[A[0]] == ("st-waiver_ended", "Ответ истёк (действовал до 24.11.2026)")
    assert rows[F[0]] == ("st-waiver_ended", "Ответ отменён 25.11.2026")
    assert rows[B[0]] == ("st-open", "Открыто 2 дн.")  # control: no waiver ever
    assert rows[G[0]][0] == "st-open"
    assert C[0] not in rows and D[0] not in rows  # still waived: not listed
    html = outputs["ru"].with_suffix(".html").read_text(encoding="utf-8")
    assert 'data-metric="waiver_ended_count"><span class="n">2</span>' in html
    assert RU.waiver_ended_note.format(n=2) in html
    en = _html_rows(outputs["en"])
    assert en[A[0]] == ("st-waiver_ended", "Answer expired (applied until 24.11.2026)")
    assert en[F[0]] == ("st-waiver_ended", "Answer withdrawn on 25.11.2026")


def test_xlsx_status_column_and_summary(outputs):
    wb = openpyxl.load_workbook(outputs["ru"].with_suffix(".xlsx"))
    status = {}
    for ws in wb.worksheets[1:]:
        header = [c.value for c in ws[1]]
        for r in ws.iter_rows(min_row=2, values_only=True):
            row = dict(zip(header, r))
            status[row[RU.check_code]] = (row[RU.status], row[RU.days_open])
    assert status[A[0]] == ("Ответ истёк", 0)
    assert status[F[0]] == ("Ответ отменён", 0)
    assert status[B[0]] == ("Открыто", 2)
    assert C[0] not in status and D[0] not in status
    facts = {r[0]: r[1] for r in wb["Сводка"].iter_rows(values_only=True) if r[0]}
    assert facts[RU.waiver_ended_count] == "2" and facts[RU.waived_count] == "2"


def test_csv_status_column(outputs):
    for lang, t, sep in (("ru", RU, ";"), ("en", EN, ",")):
        frame = pl.read_csv(outputs[lang].with_suffix(".csv"), separator=sep,
                            infer_schema=False, encoding="utf8")
        status = dict(zip(frame[t.check_code], frame[t.status]))
        assert status[A[0]] == ("Ответ истёк" if lang == "ru" else "Answer expired")
        assert status[F[0]] == ("Ответ отменён" if lang == "ru" else "Answer withdrawn")
        assert status[B[0]] == status[G[0]] == t.status_of("open")
        assert C[0] not in status and D[0] not in status


def test_ended_answers_reads_the_previous_runs_waivers(tmp_path):
    con = _build(tmp_path / "wh.duckdb")
    try:
        ended = {r["check_code"]: r for r in data.ended_answers(con, "r2").iter_rows(named=True)}
        first = data.ended_answers(con, "r0")
    finally:
        con.close()
    assert first.is_empty()
    assert (ended[A[0]]["ended_how"], ended[A[0]]["ended_until"]) == ("expired",
                                                                      date(2026, 11, 24))
    assert ended[A[0]]["ended_on"] is not None  # the expiry event of r2's routing
    assert (ended[F[0]]["ended_how"], ended[F[0]]["ended_on"]) == ("removed", date(2026, 11, 25))
    assert ended[C[0]]["ended_how"] == "active"  # still waived in r2: not waiver_ended there


def test_table_of_contents_and_sections_count_the_findings_back_on_the_list(outputs):
    page = read_worklist(outputs["ru"].with_suffix(".html"))
    html = outputs["ru"].with_suffix(".html").read_text(encoding="utf-8")
    assert f'<th class="num">{RU.waiver_ended_col}</th></tr></thead>' in html
    back = {row[2]: row[-1] for row in page.toc}  # check code -> its last cell
    assert back == {A[0]: "1", F[0]: "1", B[0]: "0", G[0]: "0"}

    def section(code: str) -> str:
        start = html.index(f'data-code="{code}"')
        return html[start:html.index("</section>", start)]

    assert f"<span>{RU.waiver_ended_col}: <b>1</b></span>" in section(A[0])
    assert RU.waiver_ended_col not in section(B[0])
    en = read_worklist(outputs["en"].with_suffix(".html"))
    assert {row[2]: row[-1] for row in en.toc}[F[0]] == "1"


def test_xlsx_checks_table_counts_them(outputs):
    wb = openpyxl.load_workbook(outputs["ru"].with_suffix(".xlsx"))
    rows = [r for r in wb["Сводка"].iter_rows(values_only=True)]
    header = next(r for r in rows if r and RU.waiver_ended_col in r)
    col, code = header.index(RU.waiver_ended_col), header.index(RU.check_code)
    after = rows[rows.index(header) + 1:]
    back = {r[code]: r[col] for r in after if r[code] in {x[0] for x in ALL}}
    assert back == {A[0]: 1, F[0]: 1, B[0]: 0, G[0]: 0}


def test_a_list_without_them_has_no_such_column(tmp_path):
    con = _build(tmp_path / "wh.duckdb")
    try:
        write_clinic_reports(con, "r1", tmp_path / "out", "ru", workers=1)  # nothing ended yet
    finally:
        con.close()
    stem = tmp_path / "out" / "clinics" / MO
    html = stem.with_suffix(".html").read_text(encoding="utf-8")
    assert f'<th class="num">{RU.new_count}</th></tr></thead>' in html  # the TOC ends there
    assert f"<span>{RU.waiver_ended_col}:" not in html
    wb = openpyxl.load_workbook(stem.with_suffix(".xlsx"))
    assert not any(RU.waiver_ended_col in r for r in wb["Сводка"].iter_rows(values_only=True))


def test_an_answer_still_active_but_no_longer_covering_keeps_the_plain_label(tmp_path):
    """ended_how 'active' (data.ended_answers: the finding left its waiver behind): neither
    'expired' nor 'withdrawn' is true, so the list says only that it is back."""
    con = _build(tmp_path / "wh.duckdb")
    try:
        con.execute("UPDATE waivers SET status = 'active', until = NULL WHERE check_code = ?",
                    [A[0]])
        write_clinic_reports(con, "r2", tmp_path / "out", "ru", workers=1)
    finally:
        con.close()
    stem = tmp_path / "out" / "clinics" / MO
    frame = pl.read_csv(stem.with_suffix(".csv"), separator=";", infer_schema=False)
    status = dict(zip(frame[RU.check_code], frame[RU.status]))
    assert status[A[0]] == RU.status_of("waiver_ended") == "Снова в списке"
    assert status[F[0]] == "Ответ отменён"  # control: removed is still said
    assert _html_rows(stem)[A[0]] == ("st-waiver_ended", "Снова в списке")


def test_auditor_report_counts_them_apart_from_new_and_reopened(outputs):
    index = outputs["ru_out"] / "index.html"
    html = index.read_text(encoding="utf-8")
    assert 'data-metric="waiver_ended_count"><span class="n">2</span>' in html
    assert 'data-metric="new_count"><span class="n">0</span>' in html
    tables = html_tables(index)
    # open now, new, reopened, back on the list, fixed since the last run
    per_check = {r[0]: tuple(int(x) for x in r[2:]) for r in tables["table-changes-check"]}
    assert per_check[A[0]] == per_check[F[0]] == (1, 0, 0, 1, 0)
    assert per_check[B[0]] == (1, 0, 0, 0, 0)
    per_clinic = {r[0]: tuple(int(x) for x in r[2:]) for r in tables["table-changes-clinic"]}
    assert per_clinic[MO] == (4, 0, 0, 2, 0)
    clinic_page = next((outputs["ru_out"] / "clinic").glob("*.html")).read_text(encoding="utf-8")
    assert 'data-metric="waiver_ended_count"><span class="n">2</span>' in clinic_page
    # the auditor does not know how each answer ended: the neutral label, never "expired"
    assert '<span class="badge st-waiver_ended">Снова в списке</span>' in clinic_page
    assert "Ответ истёк" not in clinic_page.replace(RU.lifecycle_note, "")


def test_the_clinic_message_counts_them_apart_from_new(outputs):
    con = warehouse.connect(outputs["wh"], read_only=True)
    try:
        run = delivery.load_run_data(con, delivery.RunFolder("x", "r2", outputs["ru_out"]))
    finally:
        con.close()
    (clinic,) = run.clinics
    assert (clinic.new, clinic.back, clinic.waived, clinic.fixed) == (0, 2, 2, 0)
    lines = delivery._counts_lines(delivery._TEXTS["ru"], clinic)
    assert "Новых с прошлого запуска: 0" in lines
    assert "Снова в списке: ответ «не ошибка» истёк или отменён: 2" in lines


def test_the_reported_runs_history_ends_with_it(outputs):
    """r3 (a later night) is in the warehouse when r2 is reported: not in r2's history table
    or trend, as it is not in r2's lifecycle."""
    con = warehouse.connect(outputs["wh"], read_only=True)
    try:
        r2, r3 = data.history(con, "r2"), data.history(con, "r3")
    finally:
        con.close()
    assert r2["run_id"].to_list() == ["r0", "r1", "r2"]
    assert r3["run_id"].to_list() == ["r0", "r1", "r2", "r3"]
    assert r2["findings"].to_list() == [6, 2, 4]  # open ones: r1 had four answered
    trend = html_tables(outputs["ru_out"] / "index.html")["table-trend"]
    assert [row[0] for row in trend] == ["r0", "r1", "r2"]
