"""Strict date/timestamp parsing (reading 3): polars expressions agree with the Python parser."""
from __future__ import annotations

import re
from datetime import date, datetime

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.parsing import parse_date, parse_timestamp, sql_date
from flows.asof import parse_timestamp as py_parse_timestamp


def _dates(values: list[str | None]) -> list[date | None]:
    return pl.DataFrame({"s": values}, schema={"s": pl.Utf8}).select(
        parse_date(pl.col("s"))).to_series().to_list()


def _sql_dates(values: list[str | None]) -> list[date | None]:
    """sql_date in DuckDB, in the values' order."""
    rows = duckdb.sql(f"SELECT {sql_date('v')} FROM unnest($1) WITH ORDINALITY AS t(v, i) "
                      "ORDER BY i", params=[values]).fetchall()
    return [r[0] for r in rows]


def _timestamps(values: list[str | None]) -> list[datetime | None]:
    out = pl.DataFrame({"s": values}, schema={"s": pl.Utf8}).select(
        parse_timestamp(pl.col("s")))
    assert out.schema["s"] == pl.Datetime("us")
    return out.to_series().to_list()


@pytest.mark.parametrize("text, expected", [
    ("2024-02-29", date(2024, 2, 29)),
    ("29.02.2024", date(2024, 2, 29)),
    ("0001-01-01", date(1, 1, 1)),
    ("9999-12-31", date(9999, 12, 31)),
    ("01.02.2024", date(2024, 2, 1)),
])
def test_parse_date_accepts_contract_formats(text, expected):
    assert _dates([text]) == [expected]
    assert _sql_dates([text]) == [expected]


@pytest.mark.parametrize("text", [
    "31.02.2024", "2024-02-31", "2023-02-29", "2025-13-01", "00.01.2024", "2024-01-00",
    "1.2.2024", "01.2.2024", "2024-1-02", "24-01-02", " 2024-01-01", "2024-01-01 ",
    "2024-01-01\n", "2024/01/01", "2024-01-01 00:00", "2024-01-01T00:00:00Z", "0000-01-01",
    "01.01.0000", "２０２４-01-01", "2024-01-0١", "", "20240101",
])
def test_parse_date_rejects(text):
    assert _dates([text]) == [None]
    assert _sql_dates([text]) == [None]  # DuckDB's try_strptime alone reads several of these


def test_parse_date_null_stays_null():
    assert _dates([None, "2024-01-01"]) == [None, date(2024, 1, 1)]


@pytest.mark.parametrize("text, expected", [
    ("2024-01-31 23:59", datetime(2024, 1, 31, 23, 59)),
    ("2024-01-31 23:59:59", datetime(2024, 1, 31, 23, 59, 59)),
    ("2024-01-31T00:00", datetime(2024, 1, 31, 0, 0)),
    ("2024-01-31T08:15:07", datetime(2024, 1, 31, 8, 15, 7)),
    ("31.01.2024 10:00", datetime(2024, 1, 31, 10, 0)),
    ("31.01.2024 10:00:05", datetime(2024, 1, 31, 10, 0, 5)),
])
def test_parse_timestamp_accepts_contract_formats(text, expected):
    assert _timestamps([text]) == [expected]


@pytest.mark.parametrize("text", [
    "2024-01-01 24:00", "2024-01-01 24:00:00", "2024-01-01 23:60", "2024-01-01 23:59:60",
    "2024-01-01 10:00+03:00", "2024-01-01T10:00Z", "2024-01-01 10:00:00 MSK",
    "2024-01-01 10:00:00.5", "31.02.2024 10:00", "2025-13-01 10:00", "1.2.2024 10:00",
    "01.02.2024T10:00", "2024-01-01t10:00", "2024-01-01  10:00", " 2024-01-01 10:00",
    "2024-01-01 10:00 ", "2024-01-01 1:00", "2024-01-01 10:0", "2024-01-01", "01.02.2024",
    "0000-01-01 10:00", "2024-01-01 ١٠:00", "",
])
def test_parse_timestamp_rejects(text):
    assert _timestamps([text]) == [None]
    assert py_parse_timestamp(text) is None  # the Python parser agrees


# --- agreement with flows.asof.parse_timestamp on generated strings ---------------------------

# Generated strings: a real moment in a contract layout or a near miss (one field set to an
# edge value such as 24, 60, 31 or 0000, a wrong separator or layout, a space or a zone around).
_EDGES = {
    "Y": ("0000", "0001", "9999", "999", "20240"),
    "m": ("00", "01", "02", "12", "13", "1"),
    "d": ("00", "01", "28", "29", "30", "31", "32", "1"),
    "H": ("00", "23", "24", "25", "7"),
    "M": ("00", "59", "60", "5"),
    "S": ("00", "59", "60", "61", "5"),
}
_GOOD_TS = ("{Y}-{m}-{d} {H}:{M}", "{Y}-{m}-{d} {H}:{M}:{S}", "{Y}-{m}-{d}T{H}:{M}",
            "{Y}-{m}-{d}T{H}:{M}:{S}", "{d}.{m}.{Y} {H}:{M}", "{d}.{m}.{Y} {H}:{M}:{S}")
_BAD_TS = ("{d}.{m}.{Y}T{H}:{M}", "{Y}-{m}-{d}t{H}:{M}", "{Y}-{m}-{d}  {H}:{M}",
           "{Y}-{m}-{d} {H}:{M}:{S}.0", "{Y}/{m}/{d} {H}:{M}", "{Y}-{m}-{d}{H}:{M}", "{Y}-{m}-{d}")
_GOOD_DATE = ("{Y}-{m}-{d}", "{d}.{m}.{Y}")
_BAD_DATE = ("{Y}.{m}.{d}", "{d}-{m}-{Y}", "{Y}{m}{d}", "{Y}-{m}-{d} {H}:{M}")
_MOMENTS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


def _rarely(common: str, *rare: str) -> st.SearchStrategy[str]:
    return st.sampled_from((common,) * (3 * len(rare)) + rare)


@st.composite
def _near_miss(draw, good: tuple[str, ...], bad: tuple[str, ...]) -> str:
    m = draw(_MOMENTS)
    fields = {"Y": f"{m.year:04d}", "m": f"{m.month:02d}", "d": f"{m.day:02d}",
              "H": f"{m.hour:02d}", "M": f"{m.minute:02d}", "S": f"{m.second:02d}"}
    edge = draw(st.sampled_from((None,) * 3 + tuple(_EDGES)))
    if edge is not None:
        fields[edge] = draw(st.sampled_from(_EDGES[edge]))
    text = draw(st.sampled_from(good * 2 + bad)).format(**fields)
    text = draw(_rarely("", " ", "\n", "+")) + text + draw(_rarely("", " ", "Z", "+03:00", "\n"))
    if draw(_rarely("keep", "swap")) == "swap":  # one character swapped for a look-alike
        pos = draw(st.integers(0, len(text) - 1))
        text = text[:pos] + draw(st.sampled_from(["٣", "２", "O", "-", ".", ":"])) + text[pos + 1:]
    return text


_STRINGS = st.one_of(_near_miss(_GOOD_TS, _BAD_TS), st.text(max_size=22))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_STRINGS, min_size=10, max_size=40))
def test_parse_timestamp_agrees_with_asof_parser(values):
    assert _timestamps(values) == [py_parse_timestamp(v) for v in values]


_PY_DATE_FORMATS = ((re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "%Y-%m-%d"),
                    (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}"), "%d.%m.%Y"))


def _py_date(text: str) -> date | None:
    """Reference: the date branch of the --as-of parser (bare dates)."""
    for pattern, fmt in _PY_DATE_FORMATS:
        if pattern.fullmatch(text):
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                return None
    return None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_near_miss(_GOOD_DATE, _BAD_DATE), st.text(max_size=12)),
                min_size=10, max_size=40))
def test_parse_date_agrees_with_reference(values):
    assert _dates(values) == [_py_date(v) for v in values]
    assert _sql_dates(values) == _dates(values)  # the SQL form (sql_date) reads the same
    # and with the --as-of parser wherever that one reads a bare date
    for v, d in zip(values, _dates(values)):
        if d is not None:
            assert py_parse_timestamp(v, allow_date=True) == datetime(d.year, d.month, d.day)


def _sweep(layouts: tuple[str, ...]) -> list[str]:
    """Every edge value of every field (one at a time) in every layout, with and without a
    space around, plus a calendar sweep of day x month x year."""
    base = {"Y": "2024", "m": "02", "d": "29", "H": "23", "M": "59", "S": "59"}
    out = []
    for layout in layouts:
        for field, edges in _EDGES.items():
            for edge in edges:
                text = layout.format(**{**base, field: edge})
                out += [text, " " + text, text + " ", text + "Z"]
        for y in ("0000", "0001", "1900", "2000", "2023", "2024"):
            for m in range(14):
                for d in range(33):
                    out.append(layout.format(**{**base, "Y": y, "m": f"{m:02d}", "d": f"{d:02d}"}))
    return out


def test_parse_timestamp_sweep_agrees_with_asof_parser():
    values = _sweep(_GOOD_TS + _BAD_TS)
    expected = [py_parse_timestamp(v) for v in values]
    assert sum(e is not None for e in expected) > 10_000  # the sweep is mostly valid moments
    assert _timestamps(values) == expected


def test_parse_date_sweep_agrees_with_reference():
    values = _sweep(_GOOD_DATE + _BAD_DATE)
    expected = [_py_date(v) for v in values]
    assert sum(e is not None for e in expected) > 2_000
    assert _dates(values) == expected
    assert _sql_dates(values) == expected
