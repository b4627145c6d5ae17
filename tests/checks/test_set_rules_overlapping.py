"""The first step SCH.OVERLAP and SCH.DOUBLE_BOOKING share (set_rules.OVERLAPPING): the slots
that overlap the next one in start order (`ahead`), plus those starting within an `ahead`
slot of their h. Checked on its own against the pairwise definition (every candidate that
overlaps another candidate of its h, each once per row), on schedules built to defeat the
plausible mistakes: a long slot covering later slots that do not overlap their neighbours,
slots touching an end, equal starts, equal intervals, a NULL h.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import duckdb
import pytest

from checks.set_rules import OVERLAPPING

T0 = datetime(2025, 3, 11, 8, 0)


def _near(rows: list[tuple]) -> list[tuple]:
    con = duckdb.connect()
    try:
        con.execute("CREATE TEMP TABLE c (h UBIGINT, start_ts TIMESTAMP, end_ts TIMESTAMP)")
        if rows:
            con.executemany("INSERT INTO c VALUES (?, ?, ?)", rows)
        return sorted(con.execute(
            f"WITH overlap_candidates AS (SELECT * FROM c), near AS ({OVERLAPPING}) "
            "SELECT h, start_ts, end_ts FROM near").fetchall(), key=repr)
    finally:
        con.close()


def _pairwise(rows: list[tuple]) -> list[tuple]:
    """Each row that overlaps another row of the same h (NULL h: a partition of its own)."""
    out = []
    for i, (h, s, e) in enumerate(rows):
        if any(j != i and g == h and s < f and t < e for j, (g, t, f) in enumerate(rows)):
            out.append((h, s, e))
    return sorted(out, key=repr)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_overlapping_keeps_partners_that_are_not_neighbours():
    rows = [
        # a long slot covering two later ones that do not overlap each other or their next
        (1, _at(0), _at(120)), (1, _at(30), _at(40)), (1, _at(60), _at(70)),
        (1, _at(120), _at(150)),                      # touches the long one's end: no partner
        (1, _at(200), _at(210)), (1, _at(210), _at(220)),   # back to back: none
        # equal starts (shorter and longer), equal intervals
        (2, _at(0), _at(5)), (2, _at(0), _at(60)), (2, _at(30), _at(35)),
        (3, _at(0), _at(30)), (3, _at(0), _at(30)),
        # another h with the same times: no partner across h
        (4, _at(30), _at(40)),
        # NULL h: partners among themselves only
        (None, _at(0), _at(30)), (None, _at(10), _at(20)), (None, _at(40), _at(50)),
    ]
    expected = _pairwise(rows)
    assert _near(rows) == expected
    assert (1, _at(60), _at(70)) in expected and (1, _at(120), _at(150)) not in expected


@pytest.mark.parametrize("seed", range(8))
def test_overlapping_matches_the_pairwise_definition(seed):
    rnd = random.Random(seed)
    rows = []
    for _ in range(rnd.choice((5, 40, 200))):
        start = 5 * rnd.randrange(0, 100)
        rows.append((rnd.choice((1, 2, 3, None)), _at(start),
                     _at(start + rnd.choice((5, 10, 30, 30, 30, 120, 300)))))
    assert _near(rows) == _pairwise(rows)


def test_overlapping_of_nothing_is_nothing():
    assert _near([]) == []
