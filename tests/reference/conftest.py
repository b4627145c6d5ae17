"""Fixtures for the NSI loader tests: the real classifiers and a writer for synthetic files."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NSI = REPO / ".." / "shared" / "reference" / "nsi"


@pytest.fixture(scope="session")
def nsi_dir() -> Path:
    """The real FFOMS classifiers, or a skip when this checkout has no ../shared beside it."""
    if not (NSI / "F002.xml").is_file():
        pytest.skip(f"real FFOMS classifiers not found at {NSI.resolve()} "
                    "(../shared/reference/nsi relative to the repository root)")
    return NSI


@pytest.fixture
def write(tmp_path: Path):
    """write(name, text, encoding='cp1251') -> Path; bytes are written as given."""
    def _write(name: str, content: str | bytes, encoding: str = "cp1251") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path
    return _write
