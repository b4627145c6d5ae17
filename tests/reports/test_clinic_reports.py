"""Clinic fix lists: three files per clinic with findings, only that clinic's rows, the XLSX
layout, CSV encoding, languages, hostile clinic codes and formula injection."""
from __future__ import annotations

import re
import stat
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from report_fixtures import (CLINIC_NAMES, DEVICE_MO, EVIL_MO, FINDINGS, NO_FINDINGS_MO, RUN,
                             XSS, clinic_findings)
from checks import catalogue
from reports.clinic import clinic_stems, write_clinic_reports
from reports.i18n import Texts

RU, EN = Texts("ru"), Texts("en")
ENTITY_SHEETS_RU = ["Сводка", "Пациенты", "Полисы", "Расписание"]  # 500101: no attachments
MO_CODES = sorted({r[4] for r in FINDINGS if r[4] is not None})
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _stem(mo_code):
    return clinic_stems(MO_CODES)[mo_code]


def _csv(path: Path, sep: str = ";") -> pl.DataFrame:
    return pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8")


def _xlsx_rows(path: Path, skip_summary: bool = True) -> dict[str, list[dict]]:
    wb = openpyxl.load_workbook(path)
    out = {}
    for ws in wb.worksheets[1 if skip_summary else 0:]:
        rows = list(ws.iter_rows(values_only=True))
        header = rows[0]
        out[ws.title] = [dict(zip(header, r)) for r in rows[1:] if any(v is not None for v in r)]
    return out


def test_every_clinic_with_findings_has_its_three_files(rendered):
    out, paths, _ = rendered
    folder = out / "clinics"
    expected = {f"{_stem(mo)}.{ext}" for mo in MO_CODES + [None] for ext in ("xlsx", "csv", "html")}
    assert {p.name for p in folder.iterdir()} == expected
    assert sorted(p.resolve() for p in paths) == sorted((folder / n).resolve() for n in expected)
    assert not any(NO_FINDINGS_MO in n for n in expected)  # no findings -> no files


@pytest.mark.parametrize("mo_code", MO_CODES + [None])
def test_each_file_holds_exactly_that_clinics_findings(rendered, mo_code):
    out, _, _ = rendered
    stem = out / "clinics" / _stem(mo_code)
    want = clinic_findings(mo_code)
    assert want, "every listed clinic has findings in the test data"
    csv = _csv(stem.with_suffix(".csv"))
    got_csv = list(zip(csv[RU.check_code], csv[RU.record_id].str.strip_prefix("'")))
    assert sorted(got_csv) == sorted(want)
    xlsx_rows = [r for rows in _xlsx_rows(stem.with_suffix(".xlsx")).values() for r in rows]
    got_xlsx = [(r[RU.check_code], r[RU.record_id]) for r in xlsx_rows]
    assert sorted(got_xlsx) == sorted(want)
    html = stem.with_suffix(".html").read_text(encoding="utf-8")
    for other in [r for r in FINDINGS if r[4] != mo_code]:
        if other[3] not in {w[1] for w in want} and len(other[3]) > 2:
            assert f">{other[3]}<" not in html, f"{other[3]} of another clinic leaked"


def test_blockers_come_first_and_full_values_are_shown(rendered):
    out, _, _ = rendered
    csv = _csv(out / "clinics" / "500101.csv")
    severities = csv[RU.severity].to_list()
    assert severities == sorted(severities, key=lambda s: s != RU.severity_of("blocker"))
    assert severities[0] == "Блокирующая" and severities[-1] == "Предупреждение"
    # The clinic owns its records: the full SNILS and ENP are in its list, masks are not.
    assert "112-233-445 96" in csv[RU.value].to_list()
    assert "1234567890123456" in csv[RU.value].to_list()
    html = (out / "clinics" / "500101.html").read_text(encoding="utf-8")
    assert "112-233-445 96" in html and "1234567890123456" in html
    assert "***-***-*" not in html


def test_clinic_name_run_and_summary_at_the_top(rendered):
    out, _, _ = rendered
    wb = openpyxl.load_workbook(out / "clinics" / "500101.xlsx")
    summary = wb.worksheets[0]
    assert summary.title == "Сводка"
    assert summary["A1"].value.startswith(CLINIC_NAMES["500101"])  # latest F003 name
    facts = {r[0]: r[1] for r in summary.iter_rows(min_row=4, max_col=2, values_only=True) if r[0]}
    assert facts[RU.run_id] == RUN
    assert facts[RU.as_of] == "2026-11-25 23:00:00"
    assert facts[RU.run_date] == "2026-11-25 23:30"
    assert facts[RU.blockers] == "6" and facts[RU.warnings] == "3"
    assert facts[RU.patients_affected] == "3"  # P1, P2, P3 (doctor/slot findings have none)
    html = (out / "clinics" / "500101.html").read_text(encoding="utf-8")
    assert "<h1>ГБУЗ МО «Поликлиника №1»</h1>" in html
    assert 'data-metric="blockers"><span class="n">6</span>' in html


def test_xlsx_layout(rendered):
    out, _, _ = rendered
    wb = openpyxl.load_workbook(out / "clinics" / "500101.xlsx")
    assert wb.sheetnames == ENTITY_SHEETS_RU
    for ws in wb.worksheets[1:]:
        assert ws.freeze_panes == "A2", ws.title
        (table,) = ws.tables.values()
        assert table.ref.startswith("A1:")
        assert table.autoFilter is not None and table.autoFilter.ref == table.ref
        header = [c.value for c in ws[1]]
        assert header[:6] == [RU.severity, RU.status, RU.days_open, RU.check_code, RU.check,
                              RU.record_id]
        at = header.index(RU.value)  # the register's suggestion right beside the current value
        assert header[at:at + 2] == [RU.value, RU.suggested]
        assert header[-2:] == [RU.answer_reason, RU.answer_until]  # the clinic's answer
        assert RU.message not in header and RU.fix not in header  # texts: once, in the summary
    patients = wb["Пациенты"]
    assert [r[0] for r in patients.iter_rows(min_row=2, values_only=True)] == [
        "Блокирующая", "Блокирующая", "Блокирующая", "Предупреждение"]
    rules = {(str(r.sqref), rule.formula[0]): rule for r in patients.conditional_formatting
             for rule in r.rules}
    assert set(rules) == {("B2:B5", '$B2="Новое"'), ("A2:N5", '$B2="Новое"'),
                          ("A2:N5", '$A2="Блокирующая"')}
    blocker = rules[("A2:N5", '$A2="Блокирующая"')]
    assert blocker.type == "expression" and blocker.dxf.fill.bgColor.rgb.endswith("FDE7E5")
    new_cell = rules[("B2:B5", '$B2="Новое"')]
    assert new_cell.dxf.font.b and new_cell.dxf.fill.bgColor.rgb.endswith("DDEBF7")
    assert rules[("A2:N5", '$B2="Новое"')].dxf.font.b
    # The new-row rules come first so that they win where both rules set a property.
    assert new_cell.priority < blocker.priority
    assert len(wb["Расписание"].tables["findings_schedule"].ref) and \
        wb["Расписание"].max_row == 4  # doctor + mo_specialty + slot findings
    # The summary states each check's texts once, in the order of the work list.
    summary = [r for r in wb["Сводка"].iter_rows(values_only=True)]
    at = next(i for i, r in enumerate(summary) if r[0] == RU.order_col)
    head = list(summary[at])
    checks = [dict(zip(head, r)) for r in summary[at + 1:] if r[0] is not None]
    assert [c[RU.check_code] for c in checks][:3] == [
        "PAT.BIRTHDATE.INVALID", "PAT.NAME.INVALID", "PAT.SNILS.CHECKSUM"]
    assert {c[RU.check_code] for c in checks} == {c for c, _ in clinic_findings("500101")}
    for c in checks:
        check = catalogue.BY_CODE[c[RU.check_code]]
        assert (c[RU.message], c[RU.fix]) == (check.message("ru"), check.fix("ru"))


def test_unassigned_list_has_file_sheet_and_translated_reasons(rendered):
    out, _, _ = rendered
    wb = openpyxl.load_workbook(out / "clinics" / "unassigned.xlsx")
    # only the kinds of record it has: no schedule findings are unassigned here
    assert wb.sheetnames == ["Сводка", "Пациенты", "Полисы", "Прикрепления", "Файлы"]
    # unassigned: an empty MO code (openpyxl reads the empty text as None)
    assert wb.custom_doc_props["talon_mo_code"].value in ("", None)
    rows = _xlsx_rows(out / "clinics" / "unassigned.xlsx")
    (malformed,) = rows["Файлы"]
    assert malformed[RU.record_id] == "patients.csv:17"
    assert malformed[RU.reason] == RU.reason_of("file_level")
    reasons = {r[RU.check_code]: r[RU.reason] for sheet in rows.values() for r in sheet}
    assert reasons["ATT.MO.UNKNOWN"] == "Код МО отсутствует в реестре F003"
    assert reasons["POL.PATIENT.ORPHAN"] == "Пациент не найден в выгрузке пациентов"
    csv = _csv(out / "clinics" / "unassigned.csv")
    assert RU.reason in csv.columns and None not in csv[RU.reason].to_list()
    assert "Нераспределённые" in (out / "clinics" / "unassigned.html").read_text(encoding="utf-8")


def test_clinic_sheets_have_no_reason_column_or_file_sheet(rendered):
    out, _, _ = rendered
    assert RU.reason not in _csv(out / "clinics" / "500101.csv").columns
    assert "Файлы" not in openpyxl.load_workbook(out / "clinics" / "500101.xlsx").sheetnames


def test_csv_is_utf8_with_bom(rendered):
    out, _, _ = rendered
    raw = (out / "clinics" / "500101.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw[3:].decode("utf-8")
    assert text.splitlines()[0].startswith("Важность;Статус;Дней открыто;Код проверки;")
    # one row per finding, without the catalogue's paragraphs (the check code keys them)
    assert len(text.splitlines()) == 1 + len(clinic_findings("500101"))
    assert "Ошибка PAT.SNILS.CHECKSUM" not in text and "Исправьте" not in text
    assert "Ивaнов, Пётр, Сергеевич" in text  # the value with its Latin "a", byte for byte


def test_hostile_clinic_codes_stay_inside_clinics_folder(rendered):
    out, paths, _ = rendered
    folder = (out / "clinics").resolve()
    for p in paths:
        assert p.resolve().parent == folder
    root = out.parent
    assert sorted(p.name for p in root.iterdir()) == ["out", "wh.duckdb", "wh.duckdb.raw"]
    assert not (out / "evil.xlsx").exists() and not (root.parent / "evil.xlsx").exists()
    evil, device = _stem(EVIL_MO), _stem(DEVICE_MO)
    assert "/" not in evil and ".." not in evil and evil != "evil"
    assert device.upper() != "CON" and not device.upper().startswith("CON.")
    html = (folder / f"{evil}.html").read_text(encoding="utf-8")
    assert "../../evil" in html  # the code itself is shown, as text


def test_formula_cells_are_neutralised(rendered):
    out, _, _ = rendered
    folder = out / "clinics"
    evil = _csv(folder / f"{_stem(EVIL_MO)}.csv")
    assert evil[RU.value].to_list() == ["'=1+2"]
    device = _csv(folder / f"{_stem(DEVICE_MO)}.csv")
    assert sorted(device[RU.value].to_list()) == ["'\t-2", "'@SUM(A1)"]
    csv = _csv(folder / "500101.csv")
    values = dict(zip(csv[RU.record_id], csv[RU.value]))
    assert values["S9"] == "'+booked"  # + leads
    assert "'-1" in csv[RU.value].to_list()  # - leads (the invalid sex code)
    assert values["POL2"] == "1234567890123456"  # harmless text untouched
    for path in folder.glob("*.xlsx"):
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (path.name, ws.title, cell.coordinate)
                    if isinstance(cell.value, str):
                        assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r"))
    device_wb = openpyxl.load_workbook(folder / f"{_stem(DEVICE_MO)}.xlsx")
    assert device_wb.worksheets[0]["A1"].value.startswith("'=HYPERLINK")  # the clinic's name
    attachments = _xlsx_rows(folder / f"{_stem(DEVICE_MO)}.xlsx")["Прикрепления"]
    assert sorted(r[RU.value] for r in attachments) == ["'\t-2", "'@SUM(A1)"]


def test_html_fix_list_escapes_values(rendered):
    out, _, _ = rendered
    html = (out / "clinics" / "500102.html").read_text(encoding="utf-8")
    assert XSS not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # only Talon's own inline script


def test_outputs_are_private(rendered):
    out, paths, _ = rendered
    assert stat.S_IMODE((out / "clinics").stat().st_mode) == 0o700
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name


def test_english(wh, tmp_path):
    write_clinic_reports(wh, RUN, tmp_path, lang="en")
    folder = tmp_path / "clinics"
    raw = (folder / "500101.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    csv = _csv(folder / "500101.csv", sep=",")
    assert csv.columns[:4] == ["Severity", "Status", "Days open", "Check code"]
    assert set(csv["Severity"]) == {"Blocker", "Warning"}
    wb = openpyxl.load_workbook(folder / "500101.xlsx")
    assert wb.sheetnames == ["Summary", "Patients", "Policies", "Schedule"]
    html = (folder / "500101.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Fix list" in html
    # Every text is English: once the data (clinic name, values) is removed, no Cyrillic is left.
    data = [CLINIC_NAMES["500101"]] + [r[7] for r in FINDINGS if r[4] == "500101"]
    for value in data:
        html = html.replace(value, "")
    assert not CYRILLIC.search(html), CYRILLIC.search(html)
    for row in csv.iter_rows():
        assert not any(CYRILLIC.search(v or "") for v in row if v not in data)
    un = _csv(folder / "unassigned.csv", sep=",")
    assert "The clinic code is not in the F003 registry" in un["Reason"].to_list()


def test_russian_is_the_default(wh, tmp_path):
    write_clinic_reports(wh, RUN, tmp_path)
    html = (tmp_path / "clinics" / "500101.html").read_text(encoding="utf-8")
    assert '<html lang="ru">' in html and "Список исправлений" in html and "Fix list" not in html


def test_unknown_run_or_language_is_refused(wh, tmp_path):
    with pytest.raises(ValueError, match="not in the warehouse"):
        write_clinic_reports(wh, "no-such-run", tmp_path)
    with pytest.raises(ValueError, match="unsupported language"):
        write_clinic_reports(wh, RUN, tmp_path, lang="de")
    assert not (tmp_path / "clinics").exists()


def test_a_run_without_findings_writes_all_clear_lists(wh, tmp_path):
    """Every finding of 500101 was fixed since the last run: it still gets its three files,
    saying so and thanking it; so does the steward; clinics never listed get none."""
    wh.execute("DELETE FROM findings WHERE run_id = ?", [RUN])
    paths = write_clinic_reports(wh, RUN, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{stem}.{ext}" for stem in ("500101", "unassigned") for ext in ("xlsx", "csv", "html"))
    folder = tmp_path / "clinics"
    html = (folder / "500101.html").read_text(encoding="utf-8")
    assert RU.all_clear in html and "Спасибо" in html and 'id="toc"' not in html
    assert 'data-metric="fixed_since_last"><span class="n">2</span>' in html
    assert RU.unassigned_clear in (folder / "unassigned.html").read_text(encoding="utf-8")
    wb = openpyxl.load_workbook(folder / "500101.xlsx")
    assert wb.sheetnames == ["Сводка"]  # no findings sheet, but still a Talon fix list
    assert wb.custom_doc_props["talon_fixlist"].value == "1"
    texts = [c for r in wb["Сводка"].iter_rows(values_only=True) for c in r if c]
    assert RU.all_clear in texts
    csv = _csv(folder / "500101.csv")
    assert csv.height == 0 and csv.columns[:4] == [RU.severity, RU.status, RU.days_open,
                                                   RU.check_code]


def test_read_back_with_polars(rendered):
    """The sheets are plain tables: polars reads them straight back with the same rows."""
    out, _, _ = rendered
    frame = pl.read_excel(out / "clinics" / "500102.xlsx", sheet_name="Расписание",
                          engine="openpyxl", infer_schema_length=0)
    assert frame.columns[0] == RU.severity
    assert sorted(frame[RU.record_id]) == sorted(["S1", "S2", "<img src=x onerror=alert(2)>"])
    assert XSS in frame[RU.value].to_list()  # spreadsheets carry the value as text
