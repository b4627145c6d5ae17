"""Parquet extracts: every contract column becomes text; unusable files stop the run."""
from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.errors import InputError
from flows.extract.contract import PATIENTS, SLOTS
from tests.extract.helpers import quarantine, read, rows


def _patients(**overrides) -> dict:
    n = 3
    cols = {
        "patient_id": pa.array([1, 2, 3], pa.int64()),
        "last_name": pa.array(["Иванов", None, ""]),
        "first_name": pa.array(["Иван", "Пётр", "Анна"]).dictionary_encode(),
        "middle_name": pa.array([None] * n, pa.null()),
        "birth_date": pa.array([dt.date(1980, 2, 1), None, dt.date(2001, 12, 31)]),
        "sex": pa.array([1, 2, None], pa.int8()),
        "snils": pa.array(["112-233-445 95", "", None], pa.large_string()),
    }
    cols.update(overrides)
    return cols


def _write(path, cols: dict):
    pq.write_table(pa.table(cols), path)
    return path


def test_values_become_contract_text(tmp_path):
    r = read(_write(tmp_path / "patients.parquet", _patients()))
    assert (r.format, r.encoding, r.delimiter, r.blank_lines) == ("parquet", None, None, 0)
    assert rows(r) == [
        (1, "1", "Иванов", "Иван", "", "1980-02-01", "1", "112-233-445 95"),
        (2, "2", "", "Пётр", "", "", "2", ""),
        (3, "3", "", "Анна", "", "2001-12-31", "", ""),
    ]
    assert r.rows_read == 3 and r.quarantined.height == 0
    assert r.loaded.null_count().sum_horizontal()[0] == 0


def test_timestamps_floats_and_booleans(tmp_path):
    header = {c: pa.array(["x"]) for c in SLOTS.columns}
    header.update({
        "slot_id": pa.array([1.5]),
        "slot_start": pa.array([dt.datetime(2025, 1, 2, 9, 30)], pa.timestamp("us")),
        "slot_end": pa.array([dt.datetime(2025, 1, 2, 9, 45, 0, 250000)], pa.timestamp("ms")),
        "updated_at": pa.array([dt.datetime(2025, 1, 2, 6, 0)], pa.timestamp("s", tz="UTC")),
        "status": pa.array([True]),
        "doctor_id": pa.array([dt.time(9, 30)]),
    })
    r = read(_write(tmp_path / "slots.parquet", header), SLOTS)
    row = dict(zip(r.loaded.columns, rows(r)[0]))
    assert row["slot_id"] == "1.5"
    assert row["slot_start"] == "2025-01-02 09:30:00"
    assert row["slot_end"] == "2025-01-02 09:45:00.250"
    assert row["updated_at"] == "2025-01-02 06:00:00+00:00"  # a time zone: unparseable later
    assert row["status"] == "true"
    assert row["doctor_id"] == "09:30:00"


@pytest.mark.parametrize("column, array", [
    ("snils", pa.array([[1], [2], [3]])),
    ("snils", pa.array([{"a": 1}, {"a": 2}, {"a": 3}])),
    ("last_name", pa.array([b"\xff", b"a", b"b"], pa.binary())),
])
def test_types_without_a_text_form_stop_the_run(tmp_path, column, array):
    path = _write(tmp_path / "patients.parquet", _patients(**{column: array}))
    with pytest.raises(InputError) as info:
        read(path)
    assert (info.value.file, info.value.column) == ("patients.parquet", column)
    assert "cannot be read as text" in info.value.message


def test_truncated_parquet(tmp_path):
    path = _write(tmp_path / "patients.parquet", _patients())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as info:
        read(path)
    assert info.value.file == "patients.parquet" and "unreadable Parquet" in info.value.message


def test_corrupt_pages_are_an_input_error(tmp_path):
    path = _write(tmp_path / "patients.parquet", _patients())
    data = bytearray(path.read_bytes())
    for i in range(8, len(data) // 2):  # keep the footer, break the data pages
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError):
        read(path)


@pytest.mark.parametrize("content", [b"", b"not parquet at all", b"PAR1"])
def test_not_parquet(tmp_path, content):
    (tmp_path / "patients.parquet").write_bytes(content)
    with pytest.raises(InputError) as info:
        read(tmp_path / "patients.parquet")
    assert info.value.file == "patients.parquet"


def test_missing_column(tmp_path):
    cols = _patients()
    del cols["snils"]
    with pytest.raises(InputError) as info:
        read(_write(tmp_path / "patients.parquet", cols))
    assert info.value.column == "snils" and info.value.line is None


def test_names_are_normalised_and_extras_ignored(tmp_path):
    cols = {(" " + k.upper() if k == "patient_id" else k): v for k, v in _patients().items()}
    cols["comment"] = pa.array(["a", "b", "c"])
    r = read(_write(tmp_path / "patients.parquet", cols))
    assert r.loaded["patient_id"].to_list() == ["1", "2", "3"]
    assert r.ignored_columns == ["comment"]
    assert r.warnings == ['patients.parquet: extra column ignored: "comment"']


def test_duplicate_ids_are_quarantined(tmp_path):
    path = _write(tmp_path / "patients.parquet",
                  _patients(patient_id=pa.array(["7", "8", "7"])))
    r = read(path)
    assert quarantine(r) == [(3, "ROW.DUPLICATE_ID", "patient_id already on line 1", "7")]
    assert [row[:2] for row in rows(r)] == [(1, "7"), (2, "8")]
    assert json.loads(r.quarantined["raw_line"][0])["first_name"] == "Анна"
    assert r.rows_read == r.loaded.height + r.quarantined.height


def test_empty_table(tmp_path):
    cols = {c: pa.array([], pa.string()) for c in PATIENTS.columns}
    r = read(_write(tmp_path / "patients.parquet", cols))
    assert (r.rows_read, r.loaded.height) == (0, 0)
