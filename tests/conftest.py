"""Shared fixtures: the real NSI folder (skipped when absent) and one Prefect test server
per pytest worker (it costs 11-15 s to start, so it is session-scoped and used only by the
tests that run flows)."""
from __future__ import annotations

from pathlib import Path

import pytest

import flows  # noqa: F401  (offline defaults for Prefect and GX)

ROOT = Path(__file__).resolve().parents[1]
NSI = ROOT.parent / "shared" / "reference" / "nsi"


@pytest.fixture(scope="session")
def nsi_dir() -> Path:
    if not (NSI / "F002.xml").is_file():
        pytest.skip(f"real FFOMS classifiers not found at {NSI} (they live in ../shared beside "
                    "the repository; a stranger's clone has none)")
    return NSI


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
