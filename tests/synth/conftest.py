"""Small generated regions shared by the synth tests (a few seconds each, generated once)."""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from flows.synth import generate_region

AS_OF = datetime(2026, 11, 25, 23, 0)


def read_truth(path: Path) -> set[tuple[str, str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["check_code", "record_id", "mo_code"]
        return {tuple(row) for row in reader}


@pytest.fixture(scope="session")
def region(tmp_path_factory):
    """A 2,500-patient region with every defect, synthetic reference."""
    out = tmp_path_factory.mktemp("region")
    result = generate_region(out, patients=2500, seed=3, as_of=AS_OF)
    return result


@pytest.fixture(scope="session")
def clean_region(tmp_path_factory):
    """The same kind of region without defects."""
    out = tmp_path_factory.mktemp("clean")
    return generate_region(out, patients=2000, seed=5, as_of=datetime(2026, 3, 2, 8, 0), defects=False)
