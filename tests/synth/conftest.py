"""Small generated regions shared by the synth tests (a few seconds each, generated once)."""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from flows.synth import generate_region

AS_OF = datetime(2026, 11, 25, 23, 0)
TRUTH_HEADER = ["check_code", "record_id", "mo_code", "suggested_value", "v11_mo_code", "registry_only"]


def truth_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == TRUTH_HEADER
        return list(reader)


def read_truth(path: Path) -> set[tuple[str, str, str, str]]:
    """(check_code, record_id, mo_code, suggested_value) of a run with the register."""
    return {(r["check_code"], r["record_id"], r["mo_code"], r["suggested_value"]) for r in truth_rows(path)}


def read_truth_v11(path: Path) -> set[tuple[str, str, str, str]]:
    """What a run without registry.csv finds: the rows that are not registry-only, v1.1 routing,
    no suggestion."""
    return {(r["check_code"], r["record_id"], r["v11_mo_code"], "") for r in truth_rows(path)
            if r["registry_only"] == "0"}


@pytest.fixture(scope="session")
def region(tmp_path_factory):
    """A 2,500-patient region with every defect and a register, synthetic reference."""
    out = tmp_path_factory.mktemp("region")
    result = generate_region(out, patients=2500, seed=3, as_of=AS_OF)
    return result


@pytest.fixture(scope="session")
def clean_region(tmp_path_factory):
    """The same kind of region without defects (with its register)."""
    out = tmp_path_factory.mktemp("clean")
    return generate_region(out, patients=2000, seed=5, as_of=datetime(2026, 3, 2, 8, 0), defects=False)
