"""Duplicate ids are found from the ids' hashes (reader._repeated_hashes): only rows whose hash
repeats are compared as text, so the result must be exactly that of comparing every id."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.extract import reader
from flows.extract.contract import PATIENTS


def _reference(keys: pl.DataFrame) -> pl.DataFrame:
    """What the reader quarantined before: every id compared as text, first line stays."""
    keys = keys.sort("line_no")
    first = keys["patient_id"].is_first_distinct()
    origin = keys.filter(first).select(pl.col("patient_id").alias("record_id"),
                                       pl.col("line_no").alias("first_line"))
    later = keys.filter(~first).select("line_no", pl.col("patient_id").alias("record_id"))
    return later.join(origin, on="record_id", how="left", maintain_order="left").select(
        "line_no", reason=pl.lit(reader.DUPLICATE),
        detail=pl.format("patient_id already on line {}", pl.col("first_line")),
        record_id="record_id")


def _keys(ids: list[str], shuffle: int | None = None) -> pl.DataFrame:
    keys = pl.DataFrame({"line_no": np.arange(2, len(ids) + 2, dtype=np.int64),
                         "patient_id": ids}, schema={"line_no": pl.Int64, "patient_id": pl.String})
    return keys.sample(fraction=1.0, shuffle=True, seed=shuffle) if shuffle is not None else keys


def _same(ids: list[str], shuffle: int | None = None) -> None:
    keys = _keys(ids, shuffle)
    got = reader._duplicates(keys, PATIENTS)
    assert got.rows() == _reference(keys).rows()
    assert got.schema == {k: reader.QUARANTINE_SCHEMA[k]
                          for k in ("line_no", "reason", "detail", "record_id")}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["1", "2", "10", "", "й", "1 ", "01", "x" * 20]), max_size=40),
       st.none() | st.integers(0, 1000))
def test_duplicates_are_those_of_comparing_every_id(ids, shuffle):
    _same(ids, shuffle)


def test_many_ids_few_repeated():
    ids = [str(10_000_000 + i) for i in range(200_000)]
    ids[150_000] = ids[3]
    ids[199_999] = ids[3]
    ids[7] = ids[100_000]
    _same(ids)
    got = reader._duplicates(_keys(ids), PATIENTS)
    assert got["line_no"].to_list() == [100_002, 150_002, 200_001]


def test_no_repeated_id_no_row():
    assert reader._duplicates(_keys([str(i) for i in range(1000)]), PATIENTS).height == 0
    assert reader._duplicates(_keys([]), PATIENTS).height == 0


@pytest.mark.parametrize("ids", [["a", "b", "a", "c", "bb", "b"], ["ab", "ba", "cd"],
                                 ["x", "yy", "zz", "x", "zz", "yy", "q"]])
def test_colliding_hashes_of_different_ids_are_not_duplicates(ids, monkeypatch):
    # every id of the same length hashes alike: distinct ids among the candidates must stay
    monkeypatch.setattr(pl.Series, "hash",
                        lambda self, *a, **k: self.str.len_bytes().cast(pl.UInt64))
    assert reader._repeated_hashes(pl.Series(ids)) is not None
    _same(ids)
