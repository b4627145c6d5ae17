"""pipeline.write_lists_and_pages with the run's routed findings: findings.csv is the report
pool's first job (a worker writes it while this process reads the lists' data), the file is
the one write_findings_csv writes here, and the auditor's index links it although the worker
may not have written it yet when the index is rendered."""
from __future__ import annotations

import pytest

from report_fixtures import HIST_RUN, build_history_warehouse
from flows import parallel
from reports import data
from reports.findings_csv import write_findings_csv


@pytest.fixture
def pools(monkeypatch):
    """Pools even for the fixtures' few clinics; the jobs handed to them, in order."""
    jobs = []
    submit, submit_all = parallel.Pool.submit, parallel.Pool.submit_all
    monkeypatch.setattr(parallel, "MIN_JOBS", 1)
    monkeypatch.setattr(parallel.Pool, "submit",
                        lambda self, fn, *args: jobs.append(fn) or submit(self, fn, *args))
    monkeypatch.setattr(parallel.Pool, "submit_all", lambda self, fn, todo, weights: (
        jobs.extend([fn] * len(todo)) or submit_all(self, fn, todo, weights)))
    return jobs


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_a_worker_writes_findings_csv_first_and_the_index_links_it(tmp_path, pools, lang):
    from flows import pipeline

    con = build_history_warehouse(tmp_path / "wh.duckdb")
    findings = data.load_findings(con, HIST_RUN)
    here = write_findings_csv(findings, tmp_path / "here" / "findings.csv", lang)
    out = tmp_path / "out"
    pipeline.write_lists_and_pages(con, HIST_RUN, out, lang, findings)
    con.close()
    assert pools[0] is write_findings_csv and pools.count(write_findings_csv) == 1
    assert (out / "findings.csv").read_bytes() == here.read_bytes()
    assert (out / "findings.csv").stat().st_mode & 0o777 == 0o600
    assert 'href="findings.csv"' in (out / "index.html").read_text(encoding="utf-8")


def test_without_findings_neither_the_file_nor_its_link(tmp_path, pools):
    from flows import pipeline

    con = build_history_warehouse(tmp_path / "wh.duckdb")
    pipeline.write_lists_and_pages(con, HIST_RUN, tmp_path / "out", "ru")
    con.close()
    assert write_findings_csv not in pools and not (tmp_path / "out" / "findings.csv").exists()
    assert 'href="findings.csv"' not in (tmp_path / "out" / "index.html").read_text(
        encoding="utf-8")
