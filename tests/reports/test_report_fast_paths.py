"""Shortcuts of the reports that must give what the plain way gives (issue 15's speed work)."""
from __future__ import annotations

import random

import duckdb
import polars as pl
import pytest

from reports import waivers


def _set_summary(findings: pl.DataFrame) -> tuple[int, int]:
    """waivers.summary's two finding counts the plain way: Python sets of patients."""
    waived = findings.filter(pl.col("waiver_id").is_not_null())
    open_ = findings.filter(pl.col("waiver_id").is_null())
    blocker = pl.col("severity") == "blocker"
    still = set(open_.filter(blocker)["patient_id"].drop_nulls().to_list())
    gone = set(waived.filter(blocker)["patient_id"].drop_nulls().to_list())
    return waived.height, len(gone - still)


@pytest.mark.parametrize("seed", range(6))
def test_waiver_summary_counts_as_sets_of_patients_do(seed):
    """waivers.summary counts the patients only waived blockers keep from booking by polars:
    what the sets counted (nulls, a patient with waived and open blockers, none waived)."""
    rng = random.Random(seed)
    n = 200
    findings = pl.DataFrame({
        "severity": [rng.choice(["blocker", "warning"]) for _ in range(n)],
        "patient_id": [rng.choice([None, *[f"P{i}" for i in range(30)]]) for _ in range(n)],
        "waiver_id": [None if seed == 0 or rng.random() < 0.7 else "w" for _ in range(n)]},
        schema={"severity": pl.String, "patient_id": pl.String, "waiver_id": pl.String})
    rows = pl.DataFrame({"status": ["active"], "seen": ["no"]})
    counted = waivers.summary(findings, rows)
    assert (counted["waived_findings"], counted["waived_patients"]) == _set_summary(findings)
    assert type(counted["waived_patients"]) is int and type(counted["waived_findings"]) is int


@pytest.mark.parametrize("column", [True, False])
def test_run_keys_of_none_are_the_run_keys_columns(column):
    """With no waiver to look up, the run's keys are not read: an empty frame of the same
    columns and types (the waivers' join then gives the same empty rows)."""
    con = duckdb.connect()
    waiver = ", waiver_id VARCHAR" if column else ""
    con.execute(f"CREATE TABLE findings (run_id VARCHAR, check_code VARCHAR, entity VARCHAR, "
                f"record_id VARCHAR{waiver})")
    con.execute(f"INSERT INTO findings VALUES ('r', 'X.1', 'patient', 'P1'{', NULL' if column else ''})")
    full = waivers._run_keys(con, "r")
    none = waivers._run_keys(con, "r", none=True)
    assert full.height == 1 and none.height == 0
    assert none.schema == full.schema


@pytest.mark.parametrize("seed", range(4))
def test_bulk_rows_number_each_tables_texts_in_order_of_first_use(seed):
    """xlsx.bulk_rows numbers each table's distinct texts in order of first use, row by row
    (as xlsxwriter's shared strings do), whatever order the tables' rows come in (here
    interleaved), with nulls and "" left blank; as a plain loop over the cells numbers them."""
    from reports import xlsx

    rng = random.Random(seed)
    n = 300
    words = [None, "", "a", "b", "c & d", "Блокирующая", "x1", "x2"]
    frame = pl.DataFrame({
        "k": [rng.choice([None, "m1", "m2", "m3"]) for _ in range(n)],
        "A": [rng.choice(words) for _ in range(n)],
        "N": [rng.choice([None, 1, 22]) for _ in range(n)],
        "B": [rng.choice(words + [f"u{i}" for i in range(40)]) for _ in range(n)]})
    rows = xlsx.bulk_rows(frame, "k")
    for key, part in frame.partition_by("k", as_dict=True, maintain_order=True).items():
        strings: dict[str, int] = {}
        at = [strings.setdefault(v, len(strings)) for a, b in zip(part["A"], part["B"])
              for v in (a, b) if v]
        assert rows[key[0]].strings == list(strings) and rows[key[0]].at == at
        assert rows[key[0]].xml.count("<row ") == part.height
