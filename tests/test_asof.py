from datetime import datetime

import pytest

from flows.asof import parse_timestamp, read_manifest, resolve_as_of
from flows.errors import InputError


@pytest.mark.parametrize("text,expected", [
    ("2026-11-25 23:00", datetime(2026, 11, 25, 23, 0)),
    ("2026-11-25 23:00:59", datetime(2026, 11, 25, 23, 0, 59)),
    ("2026-11-25T23:00", datetime(2026, 11, 25, 23, 0)),
    ("25.11.2026 23:00:01", datetime(2026, 11, 25, 23, 0, 1)),
])
def test_timestamp_formats(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["2026-11-25 24:00", "31.02.2025 10:00", "2025-13-01 10:00",
                                  "1.2.2024 10:00", "2026-11-25 23:00Z", " 2026-11-25 23:00",
                                  "2026-11-25", "٢٠٢٦-11-25 23:00"])
def test_timestamp_rejects(text):
    assert parse_timestamp(text) is None


def test_bare_date_only_where_allowed():
    assert parse_timestamp("2026-11-25", allow_date=True) == datetime(2026, 11, 25)
    assert parse_timestamp("25.11.2026", allow_date=True) == datetime(2026, 11, 25)


def test_as_of_precedence(tmp_path):
    (tmp_path / "manifest.json").write_text('{"region_code": "50", "extracted_at": "2026-11-25 23:00"}')
    manifest = read_manifest(tmp_path)
    assert resolve_as_of("2026-01-02", manifest) == (datetime(2026, 1, 2), "cli")
    assert resolve_as_of(None, manifest) == (datetime(2026, 11, 25, 23), "manifest")
    now = datetime(2030, 1, 1, 1, 2, 3)
    assert resolve_as_of(None, {}, now=now) == (now, "now")


def test_missing_manifest_is_empty(tmp_path):
    assert read_manifest(tmp_path) == {}


def test_malformed_manifest_names_line_and_column(tmp_path):
    (tmp_path / "manifest.json").write_text('{"region_code": "50",\n "extracted_at": }')
    with pytest.raises(InputError) as exc:
        read_manifest(tmp_path)
    assert "manifest.json" in str(exc.value) and "line 2" in str(exc.value)


def test_bad_as_of_values(tmp_path):
    with pytest.raises(InputError, match="--as-of"):
        resolve_as_of("yesterday", {})
    with pytest.raises(InputError, match="extracted_at"):
        resolve_as_of(None, {"extracted_at": "25/11/2026"})
