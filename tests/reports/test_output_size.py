"""The outputs' size per finding at realistic defect density (issue 15): every finding adds at
most OUTPUT_BYTES_PER_FINDING bytes to a run's outputs (findings.csv, the clinic lists in
HTML, XLSX and CSV, the steward's list, the auditors' pages), measured as the growth from a
region to one with three times its findings (the pages' fixed parts cancel out). The catalogue
texts are the real ones: a list states them once per check, findings.csv on every row."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from checks import catalogue
from flows import warehouse
from reports import data
from reports.auditor import write_auditor_report
from reports.clinic import write_clinic_reports
from reports.findings_csv import write_findings_csv
from tests.raw_rows import write_raw

#: Half of the 2.9 KB per finding measured before issue 15.
OUTPUT_BYTES_PER_FINDING = 1450
RUN_ID = "20261125T230000-size00"
CLINICS = {"500101": 'ГБУЗ МО "ПЕРВАЯ ГОРОДСКАЯ БОЛЬНИЦА"', "500102": "ГБУЗ МО \"ВТОРАЯ ЦРБ\""}
#: check, entity, field, value, suggested: the commonest kinds of a dense region
KINDS = [("PAT.SNILS.MISSING", "patient", "snils", "", "129-443-374 70"),
         ("PAT.SEX.INVALID", "patient", "sex", "9", ""),
         ("ATT.METHOD.INVALID", "attachment", "attach_method", "7", ""),
         ("POL.SMO.UNKNOWN", "policy", "smo_code", "59999", "")]


@pytest.fixture(autouse=True)
def small_catalogue():
    """The real catalogue here (its texts' lengths are what is measured)."""
    assert {k[0] for k in KINDS} <= set(catalogue.BY_CODE)


def _region(path: Path, patients: int):
    con = warehouse.connect(path)
    con.execute("INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
                "reference_dir, started_at, status) VALUES (?, ?, 'cli', '50', 'x', 'y', ?, "
                "'running')", [RUN_ID, datetime(2026, 11, 25, 23), datetime(2026, 11, 25, 23, 30)])
    for mcod, name in CLINICS.items():
        con.execute("INSERT INTO ref_f003 (run_id, mcod, tf_okato, name, d_begin) VALUES "
                    "(?, ?, '46000', ?, DATE '2020-01-01')", [RUN_ID, mcod, name])
    pid = [f"{10_000_000 + i}" for i in range(patients)]
    line = list(range(2, patients + 2))
    _insert(con, "raw_patients", {
        "line_no": line, "patient_id": pid, "last_name": "Константинопольская",
        "first_name": "Александра", "middle_name": "Владимировна", "birth_date": "02.08.1969",
        "sex": "2", "snils": ""})
    _insert(con, "raw_policies", {
        "line_no": line, "policy_id": [f"2{p}" for p in pid], "patient_id": pid,
        "policy_type": "3", "policy_series": "", "policy_number": "",
        "enp": [f"46147926{p}" for p in pid], "smo_code": "59999", "okato": "46000",
        "date_begin": "2015-01-03", "date_end": ""})
    _insert(con, "raw_attachments", {
        "line_no": line, "attachment_id": [f"3{p}" for p in pid], "patient_id": pid,
        "mo_code": [list(CLINICS)[i % 2] for i in range(patients)], "attach_method": "7",
        "attach_date": "2020-01-01", "detach_date": "", "area_code": "08", "doctor_snils": ""})
    rows = []
    for i, p in enumerate(pid):  # one finding per patient
        code, entity, field, value, suggested = KINDS[i % len(KINDS)]
        record = {"patient": p, "attachment": f"3{p}", "policy": f"2{p}"}[entity]
        mo = None if i % 50 == 0 else list(CLINICS)[i % 2]  # 2% unassigned
        rows.append((code, catalogue.BY_CODE[code].severity.value, entity, record, mo,
                     "no_active_attachment_to_known_mo" if mo is None else None, field, value,
                     "*" * len(value), p, suggested, "*" * len(suggested)))
    columns = ("check_code", "severity", "entity", "record_id", "mo_code", "unassigned_reason",
               "field", "value", "value_masked", "patient_id", "suggested_value",
               "suggested_masked")
    _insert(con, "findings", {c: [r[i] for r in rows] for i, c in enumerate(columns)})
    return con


def _insert(con, table: str, columns: dict) -> None:
    height = max(len(v) for v in columns.values() if isinstance(v, list))
    frame = pl.DataFrame({"run_id": [RUN_ID] * height, **{
        c: v if isinstance(v, list) else [v] * height for c, v in columns.items()}},
        schema_overrides={c: pl.String for c in columns if c != "line_no"})
    if table.startswith("raw_"):
        write_raw(con, table, frame)
        return
    con.register("size_view", frame.to_arrow())
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM size_view")
    con.unregister("size_view")


def _output_bytes(root: Path, patients: int) -> tuple[int, dict[str, int]]:
    root.mkdir()
    con = _region(root / "wh.duckdb", patients)
    out = root / "out"
    findings = data.load_findings(con, RUN_ID)
    write_findings_csv(findings, out / "findings.csv", "ru")
    write_clinic_reports(con, RUN_ID, out, "ru", workers=1)
    write_auditor_report(con, RUN_ID, out, "ru", workers=1)
    con.close()
    kinds: dict[str, int] = {}
    for path in out.rglob("*"):
        if path.is_file():
            kind = ("findings.csv" if path.name == "findings.csv"
                    else f"clinics/*{path.suffix}" if path.parent.name == "clinics"
                    else "auditor")
            kinds[kind] = kinds.get(kind, 0) + path.stat().st_size
    return findings.height, kinds


def test_outputs_grow_by_at_most_half_of_the_old_size_per_finding(tmp_path):
    n1, small = _output_bytes(tmp_path / "small", 600)
    n2, large = _output_bytes(tmp_path / "large", 1800)
    per = {k: (large[k] - small.get(k, 0)) / (n2 - n1) for k in large}
    total = sum(per.values())
    assert total <= OUTPUT_BYTES_PER_FINDING, per
    # a clinic list states its texts once per check: its rows are small
    assert per["clinics/*.html"] + per["clinics/*.xlsx"] + per["clinics/*.csv"] < 700, per
    # the HTML rows without the optional </td> and </tr> and nothing between them (~210 B a
    # row here; ~250 B with them)
    assert per["clinics/*.html"] < 230, per
