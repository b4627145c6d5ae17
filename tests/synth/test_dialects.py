"""Each extract file is written in the dialect the input contract allows and the generator promises."""
from __future__ import annotations

import csv
import json
import re

import pytest

from flows.extract.contract import BY_NAME
from tests.synth.conftest import AS_OF, read_truth

DATE_DMY = re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}")
DATE_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TS = {"space": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2})?"),
      "T": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?"),
      "dmy": re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}(:[0-9]{2})?")}


def rows(path, encoding, delimiter):
    """Header and the data rows that parse with the right field count (csv module, strict)."""
    text = path.read_bytes().decode(encoding, errors="replace")
    lines = text.split("\n")[:-1]
    header = next(csv.reader([lines[0]], delimiter=delimiter, strict=True))
    good, bad = [], []
    for no, line in enumerate(lines[1:], start=2):
        try:
            fields = next(csv.reader([line], delimiter=delimiter, strict=True))
        except csv.Error:
            bad.append(no)
            continue
        if len(fields) == len(header):
            good.append(fields)
        else:
            bad.append(no)
    return header, [dict(zip(header, f)) for f in good], bad


def test_patients_cp1251_semicolon_dmy(clean_region):
    data = (clean_region.extract / "patients.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    header, recs, bad = rows(clean_region.extract / "patients.csv", "cp1251", ";")
    assert tuple(header) == BY_NAME["patients"].columns and not bad
    assert all(DATE_DMY.fullmatch(r["birth_date"]) for r in recs)
    assert any(re.search("[А-Яа-я]", r["last_name"]) for r in recs)


def test_policies_utf8_bom_comma_iso(clean_region):
    data = (clean_region.extract / "policies.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header, recs, bad = rows(clean_region.extract / "policies.csv", "utf-8-sig", ",")
    assert tuple(header) == BY_NAME["policies"].columns and not bad
    assert all(DATE_ISO.fullmatch(r["date_begin"]) for r in recs)
    assert {r["policy_type"] for r in recs} == {"1", "2", "3"}


def test_attachments_shuffled_extra_column_mixed_dates(clean_region):
    data = (clean_region.extract / "attachments.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    data.decode("utf-8")
    header, recs, bad = rows(clean_region.extract / "attachments.csv", "utf-8", ";")
    required = BY_NAME["attachments"].columns
    assert set(required) < set(header) and tuple(c for c in header if c in required) != required
    assert set(header) - set(required) == {"area_name"} and not bad
    dates = [r["attach_date"] for r in recs]
    assert any(DATE_ISO.fullmatch(d) for d in dates) and any(DATE_DMY.fullmatch(d) for d in dates)


def test_slots_quoted_delimiters_three_timestamp_layouts(clean_region):
    path = clean_region.extract / "slots.csv"
    first_data_line = path.read_text(encoding="utf-8").split("\n")[1]
    assert first_data_line.startswith('"') and '","' in first_data_line  # every field quoted
    header, recs, bad = rows(path, "utf-8", ",")
    assert set(header) - set(BY_NAME["slots"].columns) == {"doctor_name"} and not bad
    assert all("," in r["doctor_name"] for r in recs)  # a delimiter inside a quoted field
    for field in ("slot_start", "updated_at"):
        values = [r[field] for r in recs]
        assert all(any(p.fullmatch(v) for p in TS.values()) for v in values)
        assert all(any(p.fullmatch(v) for v in values) for p in TS.values()), field


def test_manifest(region):
    manifest = json.loads((region.extract / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == {"region_code": "50", "extracted_at": AS_OF.strftime("%Y-%m-%d %H:%M"),
                        "source": "talon synthetic generator seed=3"}


@pytest.mark.parametrize("name, encoding, delimiter", [("patients", "cp1251", ";"), ("policies", "utf-8-sig", ","),
                                                       ("attachments", "utf-8", ";"), ("slots", "utf-8", ",")])
def test_only_the_malformed_lines_fail_to_parse(region, name, encoding, delimiter):
    """Lines that the csv module cannot read as records are exactly the ROW.MALFORMED ones of truth."""
    path = region.extract / f"{name}.csv"
    raw = path.read_bytes()
    _, _, bad = rows(path, encoding, delimiter)
    undecodable = [no for no, line in enumerate(raw.split(b"\n")[:-1], start=1) if _undecodable(line, encoding)]
    expected = {int(r.split(":")[1]) for code, r, *_ in read_truth(region.truth)
                if code == "ROW.MALFORMED" and r.startswith(f"{name}.csv:")}
    assert expected and set(bad) | set(undecodable) == expected


def _undecodable(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
        return False
    except UnicodeDecodeError:
        return True
