"""Routing's duplicate-key check without a hash table over the keys (issue 15: at 500k
findings it took ~170 MB of the dense 1M run's peak): it finds what the plain check found."""
from __future__ import annotations

import polars as pl

from checks import findings as findings_mod


def _keys(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["check_code", "entity", "record_id"], orient="row")


def test_duplicate_keys_found_as_the_plain_check_finds_them():
    assert findings_mod._duplicate_keys(_keys([])) is None
    assert findings_mod._duplicate_keys(_keys([("A", "patient", "1")])) is None
    unique = _keys([("A", "patient", "1"), ("A", "policy", "1"), ("B", "patient", "1"),
                    ("A", None, "1"), ("A", "patient", "2")])
    assert findings_mod._duplicate_keys(unique) is None
    dup = findings_mod._duplicate_keys(_keys([("A", "patient", "1"), ("B", "slot", "9"),
                                              ("A", "patient", "1"), (None, None, "x"),
                                              (None, None, "x"), ("A", "patient", "1")]))
    assert sorted(dup.rows(), key=str) == sorted(
        [("A", "patient", "1", 3), (None, None, "x", 2)], key=str)


def test_duplicate_keys_among_many():
    n = 50_000
    frame = _keys([("C", "patient", str(i)) for i in range(n)])
    assert findings_mod._duplicate_keys(frame) is None
    frame = pl.concat([frame, frame.slice(n // 2, 1)])
    assert findings_mod._duplicate_keys(frame).rows() == [("C", "patient", str(n // 2), 2)]
