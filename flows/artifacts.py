"""Prefect artifacts of a run, for the data steward watching it in the Prefect UI: findings
per check and severity (table), a markdown summary with the booking impact, and a link to the
report folder. Counts and clinic codes only: no personal data goes to the Prefect server."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from reports import data


def _markdown(run: data.Run, findings: pl.DataFrame, names: dict[str, str], top: int = 10) -> str:
    s = data.summary(findings)
    by_clinic = data.impact(findings.with_columns(pl.col("mo_code").fill_null("(unassigned)")),
                            "mo_code").head(top)
    by_check = data.impact(findings, "check_code").head(top)
    lines = [f"# Talon run {run.run_id}", "",
             f"Data as of **{run.as_of_text}**: {s['blockers']:,} blockers, "
             f"{s['warnings']:,} warnings; **{s['patients_blocked']:,} patients cannot book "
             f"online** because of blockers ({s['patients_affected']:,} affected in all).", "",
             f"## Booking impact by clinic (top {top})", "",
             "| clinic | name | patients blocked | blockers | warnings |", "|---|---|--:|--:|--:|"]
    lines += [f"| {r['mo_code']} | {names.get(r['mo_code'], '')} | {r['patients_blocked']:,} | "
              f"{r['blockers']:,} | {r['warnings']:,} |" for r in by_clinic.iter_rows(named=True)]
    lines += ["", f"## Booking impact by check (top {top})", "",
              "| check | patients blocked | findings |", "|---|--:|--:|"]
    lines += [f"| {r['check_code']} | {r['patients_blocked']:,} | {r['findings']:,} |"
              for r in by_check.iter_rows(named=True)]
    return "\n".join(lines)


def create_run_artifacts(con: duckdb.DuckDBPyConnection, run_id: str, folder: Path) -> None:
    findings = data.open_findings(data.load_findings(con, run_id))  # waived: not defects
    run = data.load_run(con, run_id)
    table = (findings.group_by("check_code", "severity").len("findings")
             .sort("severity", "check_code"))
    create_table_artifact(key="talon-findings-by-check", table=table.to_dicts(),
                          description=f"Findings per check and severity, run {run_id}")
    create_markdown_artifact(key="talon-booking-impact",
                             markdown=_markdown(run, findings, data.clinic_names(con, run_id)),
                             description=f"Summary and booking impact, run {run_id}")
    index = Path(folder).resolve() / "index.html"
    create_link_artifact(key="talon-report", link=index.as_uri(),
                         link_text=f"Talon report {folder.name}",
                         description="The auditors' report of this run (open on the report host)")
