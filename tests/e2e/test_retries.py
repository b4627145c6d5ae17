"""Tasks that read files retry transient OS errors and never retry bad input."""
from __future__ import annotations

from datetime import datetime

import pytest

from flows import nightly
from flows.errors import InputError
from flows.extract import reader
from flows.synth import generate_region


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    path = tmp_path_factory.mktemp("retry-region")
    generate_region(path, patients=300, seed=9, region="50", as_of=datetime(2026, 11, 25, 23))
    return path


def _flaky(monkeypatch, exc: Exception, failures: int) -> dict:
    calls = {"slots": 0}
    real = reader.read_extract_file

    def read(path, spec, spool=None, typing=None):
        if spec.name == "slots":
            calls["slots"] += 1
            if calls["slots"] <= failures:
                raise exc
        return real(path, spec, spool, typing)

    # the read task reaches it through pipeline.read_file, by the module's attribute
    monkeypatch.setattr(reader, "read_extract_file", read)
    return calls


def test_transient_read_error_is_retried(prefect_server, region, tmp_path, monkeypatch):
    calls = _flaky(monkeypatch, OSError(5, "Input/output error (NFS hiccup)"), failures=1)
    summary = nightly.ingest_flow(region / "extract", region / "reference", tmp_path / "w.duckdb")
    assert calls["slots"] == 2 and summary.run_id


def test_bad_input_is_not_retried(prefect_server, region, tmp_path, monkeypatch):
    calls = _flaky(monkeypatch, InputError("missing required column", file="slots.csv",
                                           line=1, column="slot_id"), failures=99)
    with pytest.raises(InputError, match="slot_id"):
        nightly.ingest_flow(region / "extract", region / "reference", tmp_path / "w.duckdb")
    assert calls["slots"] == 1


def test_persistent_os_error_gives_up_after_retries(prefect_server, region, tmp_path, monkeypatch):
    calls = _flaky(monkeypatch, OSError(5, "Input/output error"), failures=99)
    with pytest.raises(OSError):
        nightly.ingest_flow(region / "extract", region / "reference", tmp_path / "w.duckdb")
    assert calls["slots"] == 3  # first try + 2 retries
