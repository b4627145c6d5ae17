"""The insured-persons register in the reports (issue 12): the clinic fix lists show the
register's suggested value in full in its own column, findings.csv and the auditors' pages only
masked; an insured register row's record id (an ENP) is masked for auditors; the auditors' index
has a register section (patients per linking tier, not found, REG booking impact per clinic),
or a note when the run had no register. Warehouse: report_fixtures.REG_* (built by hand)."""
from __future__ import annotations

import html as html_lib
import re

import duckdb
import openpyxl
import polars as pl
import pytest

from report_fixtures import (INSURED_ENP, NOREG_RUN, REG_EXPECTED, REG_FINDINGS, REG_LINKS,
                             REG_NAMES, REG_PATIENTS, REG_PII, REG_RUN, build_register_warehouse,
                             html_tables, patch_catalogue)
from reports import data
from reports.auditor import write_auditor_report
from reports.clinic import write_clinic_reports
from reports.findings_csv import COLUMNS, write_findings_csv
from reports.i18n import Texts
from worklist_pages import groups, record_cells

RU, EN = Texts("ru"), Texts("en")
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
INSURED_MASKED = "************9999"


def _suggestions(mo_code) -> dict[tuple[str, str], str]:
    """(check_code, record_id) -> full suggested value of the findings routed to `mo_code`."""
    return {(r[0], r[3]): r[9] for r in REG_FINDINGS if r[4] == mo_code}


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    """One render (ru) of REG_RUN: findings.csv, the clinic lists, the auditors' report."""
    root = tmp_path_factory.mktemp("register")
    con = build_register_warehouse(root / "wh.duckdb")
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp:
        patch_catalogue(mp, REG_FINDINGS)
        write_findings_csv(data.load_findings(con, REG_RUN), out / "findings.csv")
        write_clinic_reports(con, REG_RUN, out)
        write_auditor_report(con, REG_RUN, out)
    con.close()
    return out


@pytest.fixture
def reg_catalogue(monkeypatch):
    patch_catalogue(monkeypatch, REG_FINDINGS)


def _csv(path, sep=";") -> pl.DataFrame:
    return pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8")


def _auditor_files(out):
    return [out / "index.html", out / "findings.csv", *sorted((out / "clinic").iterdir()),
            *sorted((out / "check").iterdir())]


# --------------------------------------------------------------------------- clinic fix lists


@pytest.mark.parametrize("mo_code", ["500101", "500102", "500103", None])
def test_fix_lists_show_the_full_suggestion_beside_the_value(reg, mo_code):
    stem = reg / "clinics" / (mo_code or "unassigned")
    want = {k: v for k, v in _suggestions(mo_code).items()}
    csv = _csv(stem.with_suffix(".csv"))
    at = csv.columns.index(RU.value)
    assert csv.columns[at + 1] == RU.suggested == "Предлагаемое значение (по регистру застрахованных)"
    got = {(c, r): s or "" for c, r, s in zip(csv[RU.check_code], csv[RU.record_id],
                                              csv[RU.suggested])}
    assert got == want
    rows = [r for ws in openpyxl.load_workbook(stem.with_suffix(".xlsx")).worksheets[1:]
            for r in _sheet(ws)]
    assert {(r[RU.check_code], r[RU.record_id]): r[RU.suggested] or "" for r in rows} == want
    # The HTML: grouped by check, the suggestion in its own column right after the value in
    # every group that has one (a group without any suggestion has no such column).
    got = {}
    for g in groups(stem.with_suffix(".html")):
        if any(want.get((g.code, r), "") for r in record_cells(g)):
            at = g.headers.index(RU.value)
            assert g.headers[at + 1] == RU.suggested, g.headers
        got |= {(g.code, rec): html_lib.unescape(row.get(RU.suggested, ""))
                for rec, row in zip(record_cells(g), g.rows)}
    assert got == want


def _sheet(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:] if any(v is not None for v in r)]


def test_a_clinic_never_sees_another_clinics_suggestions(reg):
    for mo_code in ("500101", "500102", "500103", None):
        stem = reg / "clinics" / (mo_code or "unassigned")
        text = stem.with_suffix(".csv").read_text(encoding="utf-8-sig")
        text += html_lib.unescape(stem.with_suffix(".html").read_text(encoding="utf-8"))
        own = set(_suggestions(mo_code).values())
        others = {r[9] for r in REG_FINDINGS if r[4] != mo_code and len(r[9]) > 6} - own
        assert others and [s for s in others if s in text] == [], mo_code
        assert [s for s in own if s not in text] == [], mo_code


def test_steward_list_shows_the_insured_record_in_full(reg):
    """The register's own rows go to the data steward (unassigned), like other file rows."""
    csv = _csv(reg / "clinics" / "unassigned.csv")
    row = csv.filter(pl.col(RU.check_code) == "ROW.DUPLICATE_ID").row(0, named=True)
    assert row[RU.record_id] == INSURED_ENP and row[RU.entity] == RU.entity_of("insured")
    assert row[RU.reason] == RU.reason_of("register_record")
    assert "ТФОМС" in row[RU.reason]


def test_english_fix_list_header(tmp_path, reg_catalogue):
    con = build_register_warehouse(tmp_path / "wh.duckdb")
    write_clinic_reports(con, REG_RUN, tmp_path / "out", lang="en")
    con.close()
    csv = _csv(tmp_path / "out" / "clinics" / "500101.csv", sep=",")
    at = csv.columns.index("Current value")
    assert csv.columns[at + 1] == "Suggested value (insured register)"
    assert "Иванов Пётр Сергеевич" in csv["Suggested value (insured register)"].to_list()
    un = _csv(tmp_path / "out" / "clinics" / "unassigned.csv", sep=",")
    assert set(un.filter(pl.col("Check code") == "ROW.DUPLICATE_ID")["Record type"]) == {
        "Insured register record"}


# --------------------------------------------------------------------------- findings.csv


def test_findings_csv_has_the_masked_suggestion_after_the_masked_value(reg):
    frame = pl.read_csv(reg / "findings.csv", infer_schema=False).fill_null("")
    assert frame.columns == list(COLUMNS)
    assert frame.columns[frame.columns.index("value_masked") + 1] == "suggested_masked"
    got = {(c, r): s for c, r, s in zip(frame["check_code"], frame["record_id"],
                                         frame["suggested_masked"])}
    assert got[("REG.NAME.MISMATCH", "P2")] == "И.П.С."
    assert got[("PAT.SNILS.CHECKSUM", "P1")] == "***-***-*19 62"
    assert got[("REG.POLICY.ENP", "POL5")] == "************9876"
    assert got[("REG.BIRTHDATE.MISMATCH", "P4")] == "**.**.****"
    assert got[("REG.PERSON.DECEASED", "P5")] == "**.**.****"  # a death date: like a birth date
    assert got[("REG.POLICY.SMO", "POL1")] == "50099"  # not personal: as is
    assert got[("REG.PERSON.NOT_FOUND", "P8")] == "" and got[("PAT.SEX.INVALID", "P1")] == ""
    assert len(got) == len(REG_FINDINGS)


def test_findings_csv_masks_the_insured_record_id_and_holds_no_full_value(reg):
    text = (reg / "findings.csv").read_text(encoding="utf-8")
    frame = pl.read_csv(reg / "findings.csv", infer_schema=False)
    insured = frame.filter(pl.col("entity") == "insured")
    assert insured["record_id"].to_list() == [INSURED_MASKED]
    assert insured["value_masked"].to_list() == [INSURED_MASKED]
    assert [s for s in REG_PII if s in text] == []
    assert "P2" in frame["record_id"].to_list()  # other record ids are shown as they are


def test_findings_csv_needs_the_masked_suggestion(tmp_path, reg_catalogue):
    """A frame without suggested_masked is refused, also when it has the full suggestion: the
    full value never stands in for its mask."""
    con = build_register_warehouse(tmp_path / "wh.duckdb")
    findings = data.load_findings(con, REG_RUN)
    con.close()
    for frame in (findings.drop("suggested_masked"),
                  findings.drop("suggested_value", "suggested_masked")):
        with pytest.raises(ValueError, match="suggested_masked"):
            write_findings_csv(frame, tmp_path / "findings.csv")
    assert not (tmp_path / "findings.csv").exists()
    empty = findings.with_columns(pl.lit(None, pl.String).alias("suggested_masked"))
    frame = pl.read_csv(write_findings_csv(empty, tmp_path / "findings.csv"), infer_schema=False)
    assert (frame["suggested_masked"].fill_null("") == "").all()


# --------------------------------------------------------------------------- auditors' pages


def test_auditor_pages_hold_no_full_suggestion_or_insured_enp(reg):
    files = _auditor_files(reg)
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        for view in (text, html_lib.unescape(text)):
            leaks = [s for s in REG_PII if s in view]
            assert leaks == [], (path.name, leaks)
    # The scan can fail: the same values are in the clinics' own lists.
    clinics = "".join(p.read_text(encoding="utf-8-sig") for p in (reg / "clinics").glob("*.csv"))
    assert [s for s in REG_PII if s not in clinics and "," not in s] == []


def test_auditor_pages_mask_the_insured_record_id(reg):
    rows = html_tables(reg / "check" / "ROW.DUPLICATE_ID.html")["table-examples"]
    # columns: clinic, entity, record id, field, status, days, masked value, masked suggestion
    assert [(r[1], r[2], r[-2]) for r in rows] == [
        (RU.entity_of("insured"), INSURED_MASKED, INSURED_MASKED)]
    rows = html_tables(reg / "clinic" / "unassigned.html")["table-examples"]
    assert INSURED_MASKED in {r[3] for r in rows}


def test_auditor_examples_show_the_masked_suggestion(reg):
    rows = html_tables(reg / "clinic" / "500101.html")["table-examples"]
    got = {(r[0], r[3]): r[-1] for r in rows}
    assert got[("REG.NAME.MISMATCH", "P2")] == "И.П.С."
    assert got[("PAT.SNILS.CHECKSUM", "P1")] == "***-***-*19 62"
    assert got[("REG.ATTACHMENT.MISMATCH", "A2")] == "500102"
    assert got[("PAT.SEX.INVALID", "P1")] == ""


# --------------------------------------------------------------------------- register section


def test_register_summary_counts(tmp_path, reg_catalogue):
    con = build_register_warehouse(tmp_path / "wh.duckdb")
    findings = data.load_findings(con, REG_RUN)
    got = data.register_summary(con, REG_RUN, findings)
    assert data.register_summary(con, NOREG_RUN, data.load_findings(con, NOREG_RUN)) is None
    con.close()
    assert got["patients"] == REG_PATIENTS
    assert got["tiers"] == REG_EXPECTED["tiers"] and got["linked"] == len(REG_LINKS)
    assert got["not_found"] == REG_EXPECTED["not_found"]
    assert got["linked"] + got["not_found"] == got["patients"]
    assert got["blocked"] == REG_EXPECTED["blocked"]
    assert got["suggestions"] == REG_EXPECTED["suggestions"] == 13
    by_clinic = {r["mo_code"]: (r["patients_blocked"], r["blockers"], r["warnings"],
                                r["findings"], r["patients_affected"])
                 for r in got["by_clinic"].to_dicts()}
    assert by_clinic == REG_EXPECTED["by_clinic"]


def test_register_section_on_the_index(reg):
    page = (reg / "index.html").read_text(encoding="utf-8")
    assert f'<h2 id="register">{RU.register}</h2>' in page and 'id="register-none"' not in page
    section = page.split('<h2 id="register">', 1)[1].split("<h2 ", 1)[0]
    cards = dict(re.findall(r'data-metric="(register_\w+)"><span class="n">([0-9\u202f]+)</span>',
                            section))
    assert cards == {"register_patients": "10", "register_linked": "7",
                     "register_not_found": "3", "register_blocked": "9",
                     "register_suggestions": "13"}
    tables = html_tables(reg / "index.html")
    tiers = [(r[0], r[1], r[2], r[3]) for r in tables["table-register-tiers"]]
    assert tiers == [
        ("1", RU.register_tier_1, "4", "40,0"), ("2", RU.register_tier_2, "1", "10,0"),
        ("3", RU.register_tier_3, "1", "10,0"), ("4", RU.register_tier_4, "1", "10,0"),
        ("", RU.register_total_linked, "7", "70,0"), ("", RU.register_not_found_row, "3", "30,0")]
    # columns: rank, code, name, patients blocked, blockers, warnings, findings, affected
    rows = tables["table-register-clinic"]
    assert [r[1] for r in rows] == ["500101", "500102", "500103", RU.unassigned_name]
    assert rows[0][2] == REG_NAMES["500101"] and rows[3][2] == RU.unassigned_title
    for row in rows:
        key = None if row[1] == RU.unassigned_name else row[1]
        assert tuple(int(x) for x in (row[3], row[4], row[5], row[6], row[7])) == \
            REG_EXPECTED["by_clinic"][key], row
    # REG impact counts REG findings only: P1's v1.1 blocker blocks P1 in the general table
    general = {r[1]: int(r[3]) for r in tables["table-clinic"]}
    assert general["500101"] == 5 and int(rows[0][3]) == 4
    names = {r[1]: r[2] for r in tables["table-clinic"]}  # (the unassigned row has its title)
    assert names[RU.unassigned_name] == RU.unassigned_title
    links = re.findall(r'href="([^"]+)"', section)
    assert links and all((reg / link).is_file() for link in links)


def test_a_run_without_a_register_says_so(tmp_path, reg_catalogue):
    con = build_register_warehouse(tmp_path / "wh.duckdb")
    index = write_auditor_report(con, NOREG_RUN, tmp_path / "out")
    con.close()
    page = index.read_text(encoding="utf-8")
    assert f'<p class="note" id="register-none">{RU.register_none}</p>' in page
    assert "table-register-tiers" not in page and "table-register-clinic" not in page


def test_register_section_without_reg_findings(tmp_path, reg_catalogue):
    con = build_register_warehouse(tmp_path / "wh.duckdb")
    con.execute("DELETE FROM findings WHERE run_id = ? AND check_code LIKE 'REG.%'", [REG_RUN])
    index = write_auditor_report(con, REG_RUN, tmp_path / "out")
    con.close()
    page = index.read_text(encoding="utf-8")
    assert RU.register_no_findings in page and "table-register-clinic" not in page
    tiers = html_tables(index)["table-register-tiers"]
    assert tiers[-1][2] == "0"  # no REG.PERSON.NOT_FOUND left


def test_english_register_section(tmp_path, reg_catalogue):
    con = build_register_warehouse(tmp_path / "wh.duckdb")
    index = write_auditor_report(con, REG_RUN, tmp_path / "out", lang="en")
    none = write_auditor_report(con, NOREG_RUN, tmp_path / "out2", lang="en")
    con.close()
    page = index.read_text(encoding="utf-8")
    assert "Reconciliation with the insured register" in page
    assert "Booking impact of register disagreements" in page and "by SNILS" in page
    section = page.split('<h2 id="register">', 1)[1].split("<h2 ", 1)[0]
    for name in REG_NAMES.values():
        section = section.replace(name, "")
    assert not CYRILLIC.search(section), CYRILLIC.search(section)
    assert "This run had no insured-persons register file" in none.read_text(encoding="utf-8")
    tiers = html_tables(index)["table-register-tiers"]
    assert tiers[0][:4] == ["1", "by the policy's ENP", "4", "40.0"]  # English decimal point


# --------------------------------------------------------------------------- older warehouses


def test_findings_of_a_warehouse_before_the_register_read_without_suggestions(tmp_path):
    """A read-only connection (talon deliver) to a warehouse written before contract v1.2:
    its findings table has no suggestion columns; they read as empty."""
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE findings (run_id VARCHAR, check_code VARCHAR, severity VARCHAR, "
                    "entity VARCHAR, record_id VARCHAR, mo_code VARCHAR, unassigned_reason VARCHAR, "
                    "field VARCHAR, value VARCHAR, value_masked VARCHAR, patient_id VARCHAR)")
        con.execute("INSERT INTO findings VALUES ('r', 'PAT.SEX.INVALID', 'warning', 'patient', "
                    "'P1', '500101', NULL, 'sex', '9', '9', 'P1')")
    with duckdb.connect(str(path), read_only=True) as con:
        frame = data.load_findings(con, "r")
    assert frame.columns == list(data.FINDING_COLUMNS)
    assert frame.select("suggested_value", "suggested_masked").row(0) == ("", "")
