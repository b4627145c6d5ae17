"""Unit tests of the fixes the corpus led to: as_of in the future, the manifest as a hostile
file, and UTF-8 reference XML labelled windows-1251 that holds byte 0x98."""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta

import pytest

from flows.asof import (FUTURE_LIMIT, FUTURE_TOLERANCE, MAX_MANIFEST_BYTES, read_manifest,
                        resolve_as_of)
from flows.errors import InputError
from flows.extract import dialect
from flows.extract.contract import PATIENTS
from flows.extract.reader import read_extract_file
from flows.reference.xmlsafe import decode

NOW = datetime(2026, 11, 27, 1, 0)


def _manifest(at: str) -> dict:
    return {"region_code": "50", "extracted_at": at}


def test_as_of_up_to_a_day_ahead_is_silent(caplog):
    at = NOW + FUTURE_TOLERANCE
    with caplog.at_level(logging.WARNING, logger="talon"):
        assert resolve_as_of(f"{at:%Y-%m-%d %H:%M}", {}, now=NOW) == (at, "cli")
        assert resolve_as_of(None, _manifest(f"{NOW:%Y-%m-%d %H:%M}"), now=NOW)[1] == "manifest"
    assert caplog.records == []


def test_as_of_days_ahead_is_accepted_with_a_warning(caplog):
    at = NOW + timedelta(days=3)
    with caplog.at_level(logging.WARNING, logger="talon"):
        assert resolve_as_of(None, _manifest(f"{at:%Y-%m-%d %H:%M}"), now=NOW) == (at, "manifest")
    [record] = caplog.records
    assert record.getMessage() == (
        "as_of 2026-11-30 01:00:00 (extracted_at) is in the future: 3 days after this machine's "
        "clock (2026-11-27 01:00:00); the checks judge the data as of that moment")


def test_as_of_hours_ahead_says_hours(caplog):
    at = NOW + FUTURE_TOLERANCE + timedelta(hours=2)
    with caplog.at_level(logging.WARNING, logger="talon"):
        resolve_as_of(f"{at:%Y-%m-%d %H:%M}", {}, now=NOW)
    assert "in the future: 26 hours after" in caplog.records[0].getMessage()


@pytest.mark.parametrize("source", ["cli", "manifest"])
def test_as_of_more_than_a_year_ahead_is_refused(source):
    at = NOW + FUTURE_LIMIT + timedelta(minutes=1)
    text = f"{at:%Y-%m-%d %H:%M}"
    with pytest.raises(InputError) as info:
        if source == "cli":
            resolve_as_of(text, {}, now=NOW)
        else:
            resolve_as_of(None, _manifest(text), now=NOW, manifest_path="x/manifest.json")
    err = info.value
    assert "366 days after this machine's clock" in err.message and "\n" not in str(err)
    if source == "manifest":
        assert (err.file, err.column) == ("x/manifest.json", "extracted_at")
    else:
        assert err.message.startswith("--as-of ") and err.file is None


def test_the_limit_itself_is_still_accepted(caplog):
    at = NOW + FUTURE_LIMIT
    with caplog.at_level(logging.WARNING, logger="talon"):
        assert resolve_as_of(f"{at:%Y-%m-%d %H:%M}", {}, now=NOW)[0] == at


def test_past_and_now_are_never_judged(caplog):
    with caplog.at_level(logging.WARNING, logger="talon"):
        assert resolve_as_of("1900-01-01", {}, now=NOW)[0] == datetime(1900, 1, 1)
        assert resolve_as_of(None, {}, now=NOW) == (NOW, "now")
    assert caplog.records == []


def test_a_huge_extracted_at_is_shown_short():
    with pytest.raises(InputError) as info:
        resolve_as_of(None, _manifest("x" * 10_000))
    assert len(str(info.value)) < 200


# --------------------------------------------------------------------------- manifest


def test_manifest_symlink_is_not_followed(tmp_path):
    real = tmp_path / "elsewhere.json"
    real.write_text(json.dumps(_manifest("2026-11-25 23:00")))
    (tmp_path / "batch").mkdir()
    os.symlink(real, tmp_path / "batch" / "manifest.json")
    with pytest.raises(InputError, match="symbolic link"):
        read_manifest(tmp_path / "batch")


def test_dangling_manifest_symlink_is_not_an_absent_manifest(tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "manifest.json")
    with pytest.raises(InputError, match="symbolic link"):
        read_manifest(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_manifest_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "manifest.json")
    with pytest.raises(InputError, match="FIFO"):
        read_manifest(tmp_path)


def test_manifest_size_is_capped(tmp_path):
    (tmp_path / "manifest.json").write_bytes(b"{" + b" " * MAX_MANIFEST_BYTES + b"}")
    with pytest.raises(InputError, match="larger than"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_bytes(b"{" + b" " * (MAX_MANIFEST_BYTES - 2) + b"}")
    assert read_manifest(tmp_path) == {}


def test_regular_manifest_still_reads(tmp_path):
    (tmp_path / "manifest.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(
        _manifest("2026-11-25 23:00"), ensure_ascii=False).encode())
    assert read_manifest(tmp_path)["extracted_at"] == "2026-11-25 23:00"
    assert read_manifest(tmp_path / "absent") == {}


# --------------------------------------------------------------------------- reference XML


def test_utf8_with_byte_0x98_labelled_windows_1251_says_utf8(tmp_path):
    # "И" is D0 98 in UTF-8: decoding as cp1251 fails on 0x98 before any other test
    text = '<?xml version="1.0" encoding="windows-1251"?>\n<packet><a>ИВАН</a></packet>'
    with pytest.raises(InputError) as info:
        decode(tmp_path / "F003.xml", text.encode("utf-8"))
    assert "declares windows-1251 but its bytes are UTF-8" in info.value.message
    assert (info.value.line, info.value.column) == (2, 12)


def test_genuine_cp1251_with_byte_0x98_is_still_named_as_such(tmp_path):
    data = ('<?xml version="1.0" encoding="windows-1251"?>\n<packet><a>ИВАН'.encode("cp1251")
            + b"\x98</a></packet>")
    with pytest.raises(InputError) as info:
        decode(tmp_path / "F003.xml", data)
    assert "byte 0x98 is not valid windows-1251" in info.value.message
    assert (info.value.line, info.value.column) == (2, 16)


# --------------------------------------------------------------------------- Parquet values


def test_parquet_values_a_csv_line_could_not_hold_are_quarantined(tmp_path):
    import polars as pl

    good = {"last_name": "Иванов", "first_name": "Иван", "middle_name": "Иванович",
            "birth_date": "1980-02-01", "sex": "1", "snils": "112-233-445 95"}
    rows = [("1", {}), ("2", {"last_name": "Ива\x00нов"}), ("3", {"snils": "\ufeff1"}),
            ("4", {"first_name": "a\r"}), ("5", {"sex": "\x07"}),
            ("6", {"middle_name": "x" * (dialect.MAX_LINE_CHARS + 1)}),
            ("2", {}), ("1", {}), ("7", {"last_name": "a\tb"})]
    frame = pl.DataFrame([{"patient_id": i, **good, **over} for i, over in rows])
    frame.write_parquet(tmp_path / "patients.parquet")
    r = read_extract_file(tmp_path / "patients.parquet", PATIENTS)
    assert r.quarantined.select("line_no", "reason", "detail", "record_id").rows() == [
        (2, "ROW.MALFORMED", "NUL byte in a value", None),
        (3, "ROW.MALFORMED", "byte order mark in a value", None),
        (4, "ROW.MALFORMED", "line break in a value", None),
        (5, "ROW.MALFORMED", "control character other than TAB in a value", None),
        (6, "ROW.MALFORMED", f"value longer than {dialect.MAX_LINE_CHARS} characters", None),
        (8, "ROW.DUPLICATE_ID", "patient_id already on line 1", "1")]
    # id 2 was only malformed before: its later row is loaded, not a duplicate
    assert r.loaded.select("line_no", "patient_id").rows() == [(1, "1"), (7, "2"), (9, "7")]
    assert r.rows_read == 9 == r.loaded.height + r.quarantined.height
    raw = r.quarantined["raw_line"].to_list()
    assert raw[0].startswith('{"patient_id":"2","last_name":"Ива\\u0000нов"')
    assert len(raw[4]) < dialect.RAW_LINE_CAP + 100
