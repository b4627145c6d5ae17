"""A real run's outputs in headless Chromium with networking disabled: the auditors' index, a
clinic's fix list, the auditor's clinic page and the Great Expectations page render from
file://, show their content, ask for nothing remote, and a patient named
<script>alert(1)</script> is shown as text. Screenshots go to tests/artifacts/."""
from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.synth import generate_region
from tests.reports.test_browser import ARTIFACTS, Visit, chromium  # noqa: F401  (fixture)

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def run_output(prefect_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("browser-run")
    region = base / "region"
    generate_region(region, patients=600, seed=8, region="50", as_of=datetime(2026, 11, 25, 23))
    path = region / "extract" / "patients.csv"
    lines = path.read_bytes().decode("cp1251").split("\n")
    header = lines[0].split(";")
    fields = lines[1].split(";")
    patient_id = fields[header.index("patient_id")]
    fields[header.index("last_name")] = XSS
    lines[1] = ";".join(fields)
    path.write_bytes("\n".join(lines).encode("cp1251"))
    out, db = base / "out", base / "w.duckdb"
    result = CliRunner().invoke(app, ["run", "--extracts", str(region / "extract"), "--reference",
                                      str(region / "reference"), "--out", str(out),
                                      "--warehouse", str(db), "--gx-crosscheck"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        [(mo_code,)] = con.execute(
            "SELECT mo_code FROM findings WHERE check_code = 'PAT.NAME.INVALID' AND record_id = ?",
            [patient_id]).fetchall()
    assert mo_code, "the renamed patient must route to a clinic"
    return out.resolve() / "latest", mo_code


def _visit(chromium, page, tmp_path, name):
    visit = Visit(chromium, page.as_uri(), tmp_path / name, ARTIFACTS / f"run_{name}.png")
    assert visit.requests == [], visit.requests
    assert (ARTIFACTS / f"run_{name}.png").stat().st_size > 10_000
    return visit


def test_index_and_gx_page_render_offline(chromium, run_output, tmp_path):
    folder, _ = run_output
    index = _visit(chromium, folder / "index.html", tmp_path, "index")
    assert "Влияние на запись" in index.dom and 'href="gx/index.html"' in index.dom
    gx = _visit(chromium, folder / "gx" / "index.html", tmp_path, "gx")
    assert "Great Expectations" in gx.dom and "UnexpectedRowsExpectation" in gx.dom
    assert "Все счётчики GX совпадают с замечаниями Talon." in gx.dom


def test_clinic_fix_list_shows_script_name_as_text(chromium, run_output, tmp_path):
    folder, mo_code = run_output
    fixlist = _visit(chromium, folder / "clinics" / f"{mo_code}.html", tmp_path, "fixlist")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fixlist.dom
    assert XSS not in fixlist.dom
    assert not [c for c in fixlist.console if "alert" in c]
    page = _visit(chromium, folder / "clinic" / f"{mo_code}.html", tmp_path, "auditor_clinic")
    assert mo_code in page.dom and "alert(1)" not in page.dom  # auditors see masked names only
