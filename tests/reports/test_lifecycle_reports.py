"""The defect lifecycle in the reports: clinic fix lists show status and days open, mark new
rows and count what was fixed; the auditors' index shows the changes since the last run and
the trend of open findings per check and per clinic. Warehouse: report_fixtures.HIST_* (runs
h1, h2, failed hf, h3, and h4 being reported)."""
from __future__ import annotations

import html as html_lib
import re
from datetime import datetime

import openpyxl
import polars as pl
import pytest

from report_fixtures import (HIST_FINDINGS, HIST_RUN, HIST_RUNS, build_history_warehouse,
                             findings_frame, html_tables, patch_catalogue)
from reports import trends
from reports.auditor import write_auditor_report
from reports.clinic import write_clinic_reports
from reports.i18n import Texts
from worklist_pages import groups, record_cells

RU, EN = Texts("ru"), Texts("en")
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
RUN_LABELS = ["2026-11-20 23:00", "2026-11-21 23:00", "2026-11-23 23:00", "2026-11-24 23:00"]
FAILED_LABEL = "2026-11-22 23:00"


@pytest.fixture(scope="module")
def hist(tmp_path_factory):
    """One render (ru) of run h4, shared by read-only assertions."""
    root = tmp_path_factory.mktemp("history")
    con = build_history_warehouse(root / "wh.duckdb")
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp:
        patch_catalogue(mp)
        write_clinic_reports(con, HIST_RUN, out)
        write_auditor_report(con, HIST_RUN, out)
    con.close()
    return out


def _csv(path, sep=";") -> pl.DataFrame:
    return pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8")


def _status(frame: pl.DataFrame, t: Texts = RU) -> dict[str, tuple[str, str]]:
    return {r: (s, d) for r, s, d in zip(frame[t.record_id], frame[t.status], frame[t.days_open])}


def _facts(path) -> dict[str, str]:
    ws = openpyxl.load_workbook(path).worksheets[0]
    return {r[0]: r[1] for r in ws.iter_rows(min_row=4, max_col=2, values_only=True) if r[0]}


def _figure(html: str, chart_id: str) -> str:
    return html.split(f'id="{chart_id}">', 1)[1].split("</figure>", 1)[0]


def _points(svg: str) -> set[tuple[str, str, int]]:
    """(series, run, n) of every mark described in the SVG's aria-labels."""
    found = set()
    for label in re.findall(r'aria-label="([^"]*)"', svg):
        parts = dict(p.split(": ", 1) for p in html_lib.unescape(label).split("; ") if ": " in p)
        if {"series", "run", "n"} <= parts.keys():
            found.add((parts["series"], parts["run"], int(parts["n"])))
    return found


def test_fix_lists_show_status_and_days_open(hist):
    folder = hist / "clinics"
    assert _status(_csv(folder / "500101.csv")) == {
        "P1": ("Открыто", "4"), "P2": ("Повторно", "0"), "D1": ("Новое", "0")}
    # P5 was seen only by the failed run before: new. P7 was absent only in the failed run:
    # its streak is unbroken since h2.
    assert _status(_csv(folder / "500102.csv")) == {
        "S1": ("Открыто", "3"), "P5": ("Новое", "0"), "P7": ("Открыто", "3")}
    assert _status(_csv(folder / "unassigned.csv")) == {"A1": ("Открыто", "1")}


def test_xlsx_has_status_columns_marks_new_rows_and_counts_fixed(hist):
    path = hist / "clinics" / "500101.xlsx"
    facts = _facts(path)
    assert (facts[RU.new_count], facts[RU.reopened_count], facts[RU.fixed_since_last],
            facts[RU.previous_run]) == ("1", "1", "1", "h3")
    wb = openpyxl.load_workbook(path)
    rows = list(wb["Расписание"].iter_rows(values_only=True))
    assert rows[0][:3] == (RU.severity, RU.status, RU.days_open)
    assert rows[1][:3] == ("Блокирующая", "Новое", 0)  # days open is a number cell
    patients = {r[5]: r[1:3] for r in wb["Пациенты"].iter_rows(min_row=2, values_only=True)}
    assert patients == {"P1": ("Открыто", 4), "P2": ("Повторно", 0)}
    rules = [rule.formula[0] for r in wb["Расписание"].conditional_formatting for rule in r.rules]
    assert '$B2="Новое"' in rules
    facts = _facts(hist / "clinics" / "500102.xlsx")
    assert (facts[RU.new_count], facts[RU.reopened_count], facts[RU.fixed_since_last]) == (
        "1", "0", "1")


def test_html_fix_list_marks_new_rows_and_lists_fixed(hist):
    page = (hist / "clinics" / "500101.html").read_text(encoding="utf-8")
    found = groups(hist / "clinics" / "500101.html")
    status = {rec: (row[RU.status], cls) for g in found
              for rec, row, cls in zip(record_cells(g), g.rows, g.row_classes)}
    # the status with its days open, in one column; new and reopened rows marked by class
    assert status == {"P1": ("Открыто 4 дн.", "st-open"), "P2": ("Повторно", "st-reopened"),
                      "D1": ("Новое", "st-new")}
    assert page.count('<tr class="st-new">') == 1  # exactly the D1 row
    assert 'data-metric="fixed_since_last"><span class="n">1</span>' in page
    assert 'data-metric="new_count"><span class="n">1</span>' in page
    fixed = html_tables(hist / "clinics" / "500101.html")["table-fixed"]
    assert [(r[3], r[5]) for r in fixed] == [("POL1", "POL.ENP.CHECKSUM")]
    # Each clinic lists only its own fixed records; S3 was fixed long before the last run.
    assert [r[3] for r in html_tables(hist / "clinics" / "500102.html")["table-fixed"]] == ["S2"]
    assert [r[3] for r in html_tables(hist / "clinics" / "unassigned.html")["table-fixed"]] == [
        "P9"]
    for other in ("S2", "P9", "S3"):
        assert f">{other}<" not in page


def test_first_run_has_everything_new_and_nothing_fixed(tmp_path):
    runs = {k: v for k, v in HIST_RUNS.items() if k == "h1"}
    con = build_history_warehouse(tmp_path / "wh.duckdb", runs=runs)
    write_clinic_reports(con, "h1", tmp_path / "out")
    index = write_auditor_report(con, "h1", tmp_path / "out")
    con.close()
    csv = _csv(tmp_path / "out" / "clinics" / "500101.csv")
    assert set(csv[RU.status]) == {"Новое"} and set(csv[RU.days_open]) == {"0"}
    page = (tmp_path / "out" / "clinics" / "500101.html").read_text(encoding="utf-8")
    assert "table-fixed" not in page and RU.no_previous_run in page
    assert 'data-metric="fixed_since_last"><span class="n">0</span>' in page
    facts = _facts(tmp_path / "out" / "clinics" / "500101.xlsx")
    assert facts[RU.fixed_since_last] == "0" and facts[RU.previous_run] == RU.no_previous_run
    tables = html_tables(index)
    assert {r[0]: r[6] for r in tables["table-changes-check"]} == {
        "PAT.SNILS.CHECKSUM": "0", "PAT.SEX.INVALID": "0", "POL.ENP.CHECKSUM": "0",
        "SCH.SLOT.INVALID": "0"}
    trend = html_tables(index)["table-trend-clinic"]
    assert [r[0] for r in trend] == ["500101", "500102"] and all(len(r) == 3 for r in trend)


def test_auditor_index_counts_changes_since_the_last_run(hist):
    html = (hist / "index.html").read_text(encoding="utf-8")
    for metric, n in (("new_count", 2), ("reopened_count", 1), ("fixed_since_last", 3)):
        assert f'data-metric="{metric}"><span class="n">{n}</span>' in html
    tables = html_tables(hist / "index.html")
    # check: open now, new, reopened, back on the list (none: no waivers here), fixed since
    # the last run
    per_check = {r[0]: tuple(int(x) for x in r[2:]) for r in tables["table-changes-check"]}
    assert per_check == {
        "PAT.SNILS.CHECKSUM": (2, 0, 0, 0, 0), "PAT.SEX.INVALID": (1, 0, 1, 0, 0),
        "SCH.STALE": (1, 1, 0, 0, 0), "POL.ENP.CHECKSUM": (0, 0, 0, 0, 1),
        "SCH.DOUBLE_BOOKING": (1, 0, 0, 0, 1), "ATT.MO.UNKNOWN": (1, 0, 0, 0, 0),
        "PAT.NAME.INVALID": (0, 0, 0, 0, 1), "PAT.SNILS.FORMAT": (1, 1, 0, 0, 0)}
    per_clinic = {r[0]: tuple(int(x) for x in r[2:]) for r in tables["table-changes-clinic"]}
    assert per_clinic == {"500101": (3, 1, 1, 0, 1), "500102": (3, 1, 0, 0, 1),
                          "Нераспределённые": (1, 0, 0, 0, 1)}
    assert 'data-metric="waiver_ended_count"' not in html  # the card only where there are any
    # Most fixed first; a check with nothing open has no page, so no link.
    assert [r[6] for r in tables["table-changes-check"]][:3] == ["1", "1", "1"]
    assert 'href="check/POL.ENP.CHECKSUM.html"' not in html
    assert 'href="check/SCH.DOUBLE_BOOKING.html"' in html
    assert f"{RU.previous_run}: <code>h3</code>" in html


def test_auditor_trend_per_check_and_clinic_skips_the_failed_run(hist):
    html = (hist / "index.html").read_text(encoding="utf-8")
    tables = html_tables(hist / "index.html")
    per_check = {r[0]: [int(x) for x in r[2:]] for r in tables["table-trend-check"]}
    assert per_check == {
        "PAT.SNILS.CHECKSUM": [1, 2, 2, 2], "SCH.DOUBLE_BOOKING": [0, 1, 2, 1],
        "ATT.MO.UNKNOWN": [0, 0, 1, 1], "PAT.SEX.INVALID": [1, 1, 0, 1],
        "PAT.SNILS.FORMAT": [0, 0, 0, 1], "SCH.STALE": [0, 0, 0, 1],
        "PAT.NAME.INVALID": [0, 0, 1, 0], "POL.ENP.CHECKSUM": [1, 1, 1, 0],
        "SCH.SLOT.INVALID": [1, 0, 0, 0]}
    per_clinic = {r[0]: [int(x) for x in r[2:]] for r in tables["table-trend-clinic"]}
    assert per_clinic == {"500101": [3, 3, 2, 3], "500102": [1, 2, 3, 3],
                          "Нераспределённые": [0, 0, 2, 1]}
    head = html.split('id="table-trend-check"', 1)[1].split("</thead>", 1)[0]
    assert re.findall(r'<th class="num">([^<]*)</th>', head) == RUN_LABELS
    assert FAILED_LABEL not in html  # the failed run is in no chart or table

    checks_svg = _figure(html, "chart-trend-check")
    assert checks_svg.lstrip().startswith("<svg")
    assert {(s, r, n) for s, r, n in _points(checks_svg)} == {
        (code, RUN_LABELS[i], n) for code, counts in per_check.items()
        for i, n in enumerate(counts)}
    for code in per_check:  # one small chart per check, titled by its code
        assert f">{code}</text>" in checks_svg
    clinics_svg = _figure(html, "chart-trend-clinic")
    assert _points(clinics_svg) == {(mo, RUN_LABELS[i], n) for mo, counts in per_clinic.items()
                                    for i, n in enumerate(counts)}
    legend = re.search(r"Symbol legend titled[^\"]*with 3 values: ([^\"]*)\"", clinics_svg)
    assert legend and legend.group(1) == "500101, 500102, Нераспределённые"


def test_completing_the_failed_run_would_change_everything(tmp_path):
    """The same data with hf completed: P5 is no longer new and the trend has five runs."""
    runs = dict(HIST_RUNS, hf=(HIST_RUNS["hf"][0], "completed"))
    con = build_history_warehouse(tmp_path / "wh.duckdb", runs=runs)
    write_clinic_reports(con, HIST_RUN, tmp_path / "out")
    index = write_auditor_report(con, HIST_RUN, tmp_path / "out")
    con.close()
    status = _status(_csv(tmp_path / "out" / "clinics" / "500102.csv"))
    assert status["P5"] == ("Повторно", "0") and status["P7"] == ("Открыто", "1")
    assert FAILED_LABEL in index.read_text(encoding="utf-8")


def test_auditor_examples_show_status_and_days(hist):
    rows = html_tables(hist / "clinic" / "500101.html")["table-examples"]
    # columns: check, severity, entity, record id, field, status, days open, masked value
    assert {r[3]: (r[5], r[6]) for r in rows} == {
        "P1": ("Открыто", "4"), "P2": ("Повторно", "0"), "D1": ("Новое", "0")}
    page = (hist / "clinic" / "500101.html").read_text(encoding="utf-8")
    assert 'data-metric="fixed_since_last"><span class="n">1</span>' in page
    check = (hist / "check" / "SCH.DOUBLE_BOOKING.html").read_text(encoding="utf-8")
    assert 'data-metric="fixed_since_last"><span class="n">1</span>' in check
    assert {r[2]: r[4] for r in html_tables(hist / "check" / "SCH.DOUBLE_BOOKING.html")
            ["table-examples"]} == {"S1": "Открыто"}


def test_no_value_of_any_run_reaches_auditor_pages(hist):
    values = {row[7] for row in HIST_FINDINGS if row[6] in (
        "snils", "enp", "last_name, first_name, middle_name")}
    values |= {"Сидорова", "Мария", "Ивановна"}
    pages = [hist / "index.html", *(hist / "clinic").iterdir(), *(hist / "check").iterdir()]
    for path in pages:
        text = html_lib.unescape(path.read_text(encoding="utf-8"))
        for value in values:
            assert value not in text, (path.name, value)
    # The scan can fail: the clinic's own list shows its full current values.
    assert "112-233-445 96" in (hist / "clinics" / "500101.csv").read_text(encoding="utf-8")


def test_english(tmp_path):
    con = build_history_warehouse(tmp_path / "wh.duckdb")
    write_clinic_reports(con, HIST_RUN, tmp_path / "out", lang="en")
    index = write_auditor_report(con, HIST_RUN, tmp_path / "out", lang="en")
    con.close()
    csv = _csv(tmp_path / "out" / "clinics" / "500101.csv", sep=",")
    assert _status(csv, EN) == {"P1": ("Open", "4"), "P2": ("Reopened", "0"), "D1": ("New", "0")}
    facts = _facts(tmp_path / "out" / "clinics" / "500101.xlsx")
    assert facts["Fixed since the last run"] == "1" and facts["New"] == "1"
    html = index.read_text(encoding="utf-8")
    assert "Changes since the last run" in html and "Open findings per clinic (top 10)" in html
    for name in ("Поликлиника №1", "Больница №2"):
        html = html.replace(name, "")
    assert not CYRILLIC.search(html), CYRILLIC.search(html)
    page = (tmp_path / "out" / "clinics" / "500101.html").read_text(encoding="utf-8")
    for value in ["Поликлиника №1"] + [r[7] for r in HIST_FINDINGS if r[4] == "500101"]:
        page = page.replace(value, "")
    assert not CYRILLIC.search(page), CYRILLIC.search(page)
    assert '<tr class="st-new"><td>New<td>' in page  # (a fix list's cells end unclosed)


def test_clinic_trend_draws_the_top_clinics_and_tables_all(tmp_path):
    con = build_history_warehouse(tmp_path / "wh.duckdb")
    extra = [("SCH.STALE", "blocker", "doctor", f"DX{i:02d}-{j}", f"5009{i:02d}", None,
              "updated_at", "x", None) for i in range(trends.TOP_CLINICS + 3) for j in range(i + 1)]
    con.register("extra", findings_frame(extra, HIST_RUN).to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM extra")
    index = write_auditor_report(con, HIST_RUN, tmp_path / "out")
    con.close()
    html = index.read_text(encoding="utf-8")
    legend = re.search(r"Symbol legend titled[^\"]*with ([0-9]+) values: ([^\"]*)\"",
                       _figure(html, "chart-trend-clinic"))
    assert legend and int(legend.group(1)) == trends.TOP_CLINICS
    top = [f"5009{i:02d}" for i in range(trends.TOP_CLINICS + 2, 2, -1)]  # most findings first
    assert legend.group(2).split(", ")[:3] == top[:3]
    assert "500900" not in legend.group(2)  # the smallest clinic is not drawn ...
    rows = html_tables(index)["table-trend-clinic"]
    assert len(rows) == trends.TOP_CLINICS + 3 + 3  # ... but every clinic is in the table
    assert rows[0][0] == top[0] and rows[0][-1] == str(trends.TOP_CLINICS + 3)


def test_run_labels_are_unique_per_run():
    runs = pl.DataFrame({"run_id": ["a", "b", "c"], "pos": [1, 2, 3],
                         "as_of": [datetime(2026, 1, 1, 2, 0)] * 2 + [datetime(2026, 1, 2)]})
    assert trends.run_labels(runs)["run"].to_list() == [
        "2026-01-01 02:00", "2026-01-01 02:00 (2)", "2026-01-02 00:00"]
