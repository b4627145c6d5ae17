"""The auditors' report: pages, booking impact, trend, masking (PII scan), no URLs, escaping."""
from __future__ import annotations

import html as html_lib
import re
import zipfile
from datetime import datetime
from pathlib import Path

from markupsafe import escape

from checks import catalogue
from report_fixtures import (CLINIC_NAMES, FINDINGS, OLD_RUN, RUN, XSS, build_warehouse,
                             findings_frame, html_tables, pii_values)
from reports import data
from reports.auditor import EXAMPLES_PER_CLINIC_CHECK, write_auditor_report
from reports.clinic import clinic_stems, write_clinic_reports

CODES = sorted({r[0] for r in FINDINGS})
MO_CODES = sorted({r[4] for r in FINDINGS if r[4] is not None})
URL = re.compile(rb"(?i)https?://")
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _auditor_files(out: Path) -> list[Path]:
    return [out / "index.html", *sorted((out / "clinic").iterdir()),
            *sorted((out / "check").iterdir())]


def test_pages_exist_for_every_clinic_and_check(rendered):
    out, _, index = rendered
    assert index == out / "index.html"
    stems = clinic_stems(MO_CODES)
    assert {p.name for p in (out / "clinic").iterdir()} == {f"{s}.html" for s in stems.values()}
    assert {p.name for p in (out / "check").iterdir()} == {f"{c}.html" for c in CODES}
    links = set(re.findall(r'href="([^"]+)"', index.read_text(encoding="utf-8")))
    assert {f"clinic/{s}.html" for s in stems.values()} <= links
    assert {f"check/{c}.html" for c in CODES} <= links
    for link in links:  # every link of the index resolves to a file beside it
        assert (out / link).is_file(), link


def test_booking_impact_per_clinic_is_ranked(rendered):
    out, _, _ = rendered
    rows = html_tables(out / "index.html")["table-clinic"]
    # columns: rank, code, name, patients blocked, blockers, warnings, findings, patients affected
    impact = {r[1]: int(r[3]) for r in rows}
    assert impact == {"500101": 3, "500102": 3, "Нераспределённые": 3, "CON": 0, "../../evil": 0}
    blocked = [int(r[3]) for r in rows]
    assert blocked == sorted(blocked, reverse=True)
    first = rows[0]
    assert first[1] == "500101" and first[2] == CLINIC_NAMES["500101"]
    assert first[4:7] == ["6", "3", "9"]  # 500101 wins the tie on blockers
    cards = (out / "index.html").read_text(encoding="utf-8")
    assert 'data-metric="patients_blocked"><span class="n">9</span>' in cards
    assert 'data-metric="findings_total"><span class="n">22</span>' in cards


def test_booking_impact_per_check_is_ranked(rendered):
    out, _, _ = rendered
    rows = html_tables(out / "index.html")["table-check"]
    impact = {r[1]: int(r[4]) for r in rows}
    assert impact["PAT.NAME.INVALID"] == 2  # P2 and P4
    assert impact["SCH.DOUBLE_BOOKING"] == 2  # P4 and P6, two slots
    assert impact["PAT.SNILS.CHECKSUM"] == 2  # P1 (500101) and P11 (unassigned)
    assert impact["SCH.STALE"] == 0 and impact["PAT.SEX.INVALID"] == 0
    assert [int(r[4]) for r in rows] == sorted((int(r[4]) for r in rows), reverse=True)
    assert len(rows) == len(CODES)


def test_impact_counts_distinct_patients_with_a_blocker():
    import polars as pl

    frame = pl.DataFrame({
        "mo_code": ["A", "A", "A", "B", "B"],
        "severity": ["blocker", "blocker", "warning", "warning", "blocker"],
        "patient_id": ["p1", "p1", "p2", None, None],
    })
    got = {r["mo_code"]: r for r in data.impact(frame, "mo_code").to_dicts()}
    assert got["A"]["patients_blocked"] == 1 and got["A"]["patients_affected"] == 2
    assert got["B"]["patients_blocked"] == 0 and got["B"]["blockers"] == 1


def test_by_severity_and_unassigned_reasons(rendered):
    out, _, _ = rendered
    tables = html_tables(out / "index.html")
    assert tables["table-severity"] == [["Блокирующая", "15", "9"], ["Предупреждение", "7", "4"]]
    reasons = {r[0]: int(r[1]) for r in tables["table-reasons"]}
    assert reasons == {"У пациента нет действующего прикрепления к МО из реестра F003": 2,
                       "Код МО отсутствует в реестре F003": 1,
                       "Пациент не найден в выгрузке пациентов": 1,
                       "Строка файла не прочитана: исправить выгрузку должен её поставщик": 1}


def test_trend_has_completed_runs_and_this_one(rendered):
    out, _, _ = rendered
    rows = html_tables(out / "index.html")["table-trend"]
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        (OLD_RUN, "2", "1", "1"), (RUN, "22", "15", "7")]  # the failed run is left out
    html = (out / "index.html").read_text(encoding="utf-8")
    for chart in ("chart-clinic", "chart-check", "chart-trend"):
        figure = html.split(f'id="{chart}">', 1)[1].split("</figure>", 1)[0]
        assert figure.lstrip().startswith("<svg") and "role-mark" in figure


def test_single_run_trend_is_one_point(tmp_path):
    con = build_warehouse(tmp_path / "wh.duckdb")
    con.execute("DELETE FROM runs WHERE run_id <> ?", [RUN])
    index = write_auditor_report(con, RUN, tmp_path / "out")
    con.close()
    rows = html_tables(index)["table-trend"]
    assert [r[0] for r in rows] == [RUN]
    html = index.read_text(encoding="utf-8")
    trend = html.split('id="chart-trend">', 1)[1].split("</figure>", 1)[0]
    assert trend.count('role-mark marks"') or trend.count("mark-symbol")
    assert "2026-11-25 23:00" in trend


def test_pii_scan_no_full_identifier_on_auditor_pages(rendered):
    out, _, _ = rendered
    secrets = pii_values()
    assert len(secrets) >= 10
    for path in _auditor_files(out):
        text = path.read_text(encoding="utf-8")
        unescaped = html_lib.unescape(text)
        for secret in secrets:
            assert secret not in text and secret not in unescaped, (path.name, secret)
        for check in catalogue.CHECKS:  # the catalogue's own texts quote a sample SNILS
            for text_of in (check.message, check.fix, check.title):
                unescaped = unescaped.replace(text_of("ru"), "").replace(text_of("en"), "")
        assert not re.search(r"[0-9]{3}-[0-9]{3}-[0-9]{3}[ -]?[0-9]{2}", unescaped), path.name
        assert not re.search(r"(?<![0-9])[0-9]{11}(?![0-9])", unescaped), path.name
    # The scan can fail: the same identifiers are in the clinics' own fix lists.
    clinic_text = "".join(p.read_text(encoding="utf-8") for p in (out / "clinics").glob("*.csv"))
    clinic_text += "".join(p.read_text(encoding="utf-8") for p in (out / "clinics").glob("*.html"))
    whole_values = [s for s in secrets if s in {r[7] for r in FINDINGS}]
    assert len(whole_values) >= 8
    assert [s for s in whole_values if s not in clinic_text] == []


def test_examples_show_masked_values(rendered):
    out, _, _ = rendered
    rows = html_tables(out / "check" / "PAT.SNILS.CHECKSUM.html")["table-examples"]
    # columns: ..., masked value, masked suggestion (none in this data)
    assert sorted(r[-2] for r in rows) == ["***-***-*24 01", "***-***-*45 96"]
    assert {r[-1] for r in rows} == {""}
    rows = html_tables(out / "clinic" / "500101.html")["table-examples"]
    masked = {r[3]: r[-2] for r in rows}  # record id -> value
    assert masked["POL2"] == "************3456"
    assert masked["P3"] == "**.**.****"
    assert masked["P2"] == "И.П.С."


def test_examples_are_limited_per_check(tmp_path):
    con = build_warehouse(tmp_path / "wh.duckdb")
    extra = [("PAT.SEX.INVALID", "warning", "patient", f"PX{i:02d}", "500101", None, "sex",
              "9", f"PX{i:02d}") for i in range(EXAMPLES_PER_CLINIC_CHECK + 5)]
    con.register("extra", findings_frame(extra, RUN).to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM extra")
    write_auditor_report(con, RUN, tmp_path / "out")
    con.close()
    rows = html_tables(tmp_path / "out" / "clinic" / "500101.html")["table-examples"]
    assert sum(r[0] == "PAT.SEX.INVALID" for r in rows) == EXAMPLES_PER_CLINIC_CHECK
    counts = {r[0]: r[4] for r in html_tables(tmp_path / "out" / "clinic" / "500101.html")
              ["table-check"]}
    assert counts["PAT.SEX.INVALID"] == str(EXAMPLES_PER_CLINIC_CHECK + 6)  # counts are all


def test_no_remote_url_in_any_emitted_file(rendered):
    out, _, _ = rendered
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 30
    for path in files:
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:  # OOXML namespaces are names, not fetched
                rels = b"".join(z.read(n) for n in z.namelist() if n.endswith(".rels"))
                assert b'TargetMode="External"' not in rels and b"hyperlink" not in rels
            continue
        assert not URL.search(path.read_bytes()), path


def test_urls_from_data_are_written_inert(tmp_path):
    con = build_warehouse(tmp_path / "wh.duckdb")
    url_finding = [("SCH.SLOT.INVALID", "warning", "slot", "S-url", "500101", None, "status",
                    "see HTTPS://evil.invalid/x.js", None)]
    con.register("extra", findings_frame(url_finding, RUN).to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM extra")
    con.execute("UPDATE ref_f003 SET name = 'Клиника http://evil.invalid' WHERE mcod = '500102'")
    out = tmp_path / "out"
    write_clinic_reports(con, RUN, out)
    write_auditor_report(con, RUN, out)
    con.close()
    for path in out.rglob("*.html"):
        assert not URL.search(path.read_bytes()), path
    page = (out / "check" / "SCH.SLOT.INVALID.html").read_text(encoding="utf-8")
    assert "see HTTPS:&#47;&#47;evil.invalid/x.js" in page  # shown as the same text
    # Spreadsheets and CSV carry the clinic's value verbatim (nothing there is rendered).
    assert b"HTTPS://evil.invalid" in (out / "clinics" / "500101.csv").read_bytes()


def test_values_are_escaped(rendered):
    out, _, _ = rendered
    for path in _auditor_files(out):
        text = path.read_text(encoding="utf-8")
        assert XSS not in text and "<img src=x" not in text, path.name
        assert text.count("<script") == 1, path.name  # Talon's own inline script only
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Больница &lt;script&gt;alert(1)&lt;/script&gt;" in index
    page = (out / "check" / "SCH.SLOT.INVALID.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_full_values_never_reach_auditor_pages_even_unmasked_fields(rendered):
    """`value` is dropped: a non-personal full value shows only through value_masked."""
    out, _, _ = rendered
    page = (out / "check" / "SCH.STALE.html").read_text(encoding="utf-8")
    assert "2026-11-01 10:00" in page  # value_masked passes non-personal values through


def test_gx_data_docs_link_when_present(tmp_path):
    con = build_warehouse(tmp_path / "wh.duckdb")
    out = tmp_path / "out"
    index = write_auditor_report(con, RUN, out)
    assert 'href="gx/index.html"' not in index.read_text(encoding="utf-8")
    (out / "gx").mkdir()
    (out / "gx" / "index.html").write_text("<html></html>", encoding="utf-8")
    (out / "findings.csv").write_text("run_id\n", encoding="utf-8")
    index = write_auditor_report(con, RUN, out)
    con.close()
    html = index.read_text(encoding="utf-8")
    assert 'href="gx/index.html"' in html and 'href="findings.csv"' in html


def test_english_index(tmp_path):
    con = build_warehouse(tmp_path / "wh.duckdb")
    index = write_auditor_report(con, RUN, tmp_path / "out", lang="en")
    con.close()
    html = index.read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Data quality report for online booking" in html
    assert "Patients who cannot book" in html
    for name in CLINIC_NAMES.values():  # data may be Cyrillic; nothing else may
        html = html.replace(str(escape(name)), "")
    assert not CYRILLIC.search(html), CYRILLIC.search(html)


def test_history_counts_each_run(wh):
    hist = data.history(wh, RUN)
    assert hist["run_id"].to_list() == [OLD_RUN, RUN]
    assert hist["findings"].to_list() == [2, len(FINDINGS)]
    assert hist["as_of"].to_list()[0] == datetime(2026, 11, 24, 23, 0)
