"""`OUT/findings.csv`: the run's findings, one row per (check_code, record_id), masked values.

The full value stays in the warehouse and in each clinic's own fix list; this file may travel
further, so it carries `value_masked` and `suggested_masked` only (the register's suggested
value, masked the same way), and a record id that is itself personal data (an insured person's
ENP, entity `insured`) masked too (reports.data.mask_record_ids).
"""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from checks import catalogue
from reports.data import mask_record_ids

COLUMNS = ("run_id", "check_code", "severity", "entity", "record_id", "mo_code", "field",
           "value_masked", "suggested_masked", "message", "fix")


def texts(lang: str) -> pl.DataFrame:
    return pl.DataFrame({
        "check_code": [c.code for c in catalogue.CHECKS],
        "message": [c.message(lang) for c in catalogue.CHECKS],
        "fix": [c.fix(lang) for c in catalogue.CHECKS],
    })


def ordered(findings: pl.DataFrame) -> pl.DataFrame:
    """Blockers first, then by check and record."""
    return findings.sort(
        pl.col("severity").replace_strict({"blocker": 0, "warning": 1}, default=2),
        "check_code", "record_id")


def _with_suggestions(findings: pl.DataFrame) -> pl.DataFrame:
    """`suggested_masked` with "" where there is no suggestion. The column is required (every
    routed frame has it, checks.findings): the full `suggested_value` never stands in for it."""
    if "suggested_masked" not in findings.columns:
        raise ValueError("the findings have no suggested_masked column (routed before "
                         "contract v1.2?)")
    return findings.with_columns(pl.col("suggested_masked").fill_null(""))


def write_findings_csv(findings: pl.DataFrame, path: Path, lang: str = "ru") -> Path:
    frame = mask_record_ids(ordered(_with_suggestions(findings).join(
        texts(lang), on="check_code", how="left"))).select(COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    frame.write_csv(tmp)
    os.chmod(tmp, 0o600)  # findings name clinics and records: owner only, like every output
    tmp.replace(path)
    return path
