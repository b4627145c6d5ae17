"""Fixtures for the extract reader tests."""
from __future__ import annotations

import pytest

from flows.extract import dialect


@pytest.fixture
def small_blocks(monkeypatch):
    """Shrink the block and line limits so block boundaries and overlong lines are exercised
    on tiny files."""
    monkeypatch.setattr(dialect, "BLOCK_BYTES", 7)
    monkeypatch.setattr(dialect, "MAX_LINE_CHARS", 80)
    monkeypatch.setattr(dialect, "MAX_LINE_BYTES", 320)
    monkeypatch.setattr(dialect, "RAW_LINE_CAP", 20)
    monkeypatch.setattr(dialect, "_HEAD_BYTES", 80)
