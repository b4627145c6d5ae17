"""Fixtures of the report tests (data and helpers: report_fixtures.py)."""
from __future__ import annotations

import pytest

from report_fixtures import RUN, build_warehouse, patch_catalogue


@pytest.fixture(autouse=True)
def small_catalogue(monkeypatch):
    patch_catalogue(monkeypatch)


@pytest.fixture
def wh(tmp_path):
    con = build_warehouse(tmp_path / "wh.duckdb")
    yield con
    con.close()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """One render of everything (ru), shared by read-only assertions (do not modify it)."""
    from reports.auditor import write_auditor_report
    from reports.clinic import write_clinic_reports

    root = tmp_path_factory.mktemp("rendered")
    con = build_warehouse(root / "wh.duckdb")
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp:
        patch_catalogue(mp)
        clinic_paths = write_clinic_reports(con, RUN, out)
        index = write_auditor_report(con, RUN, out)
    con.close()
    return out, clinic_paths, index


