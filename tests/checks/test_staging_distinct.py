"""Staging's typing shortcuts give what the plain expressions give: typing once per distinct
value (per_distinct), SNILS validity from the digits already taken (snils_valid_digits)."""
from __future__ import annotations

import polars as pl
import pytest

from checks.identifiers import snils_digits, snils_valid, snils_valid_digits
from checks.parsing import parse_timestamp
from checks.register import norm_name
from checks.staging import per_distinct


@pytest.mark.parametrize("typing, values", [
    (snils_valid, ["112-233-445 95", "", None, "112-233-445 95", "11223344595", "x", None]),
    (parse_timestamp, ["2024-01-02 10:20", "31.01.2024 10:20", "", "2024-01-02 10:20", None,
                       "2024-02-30 10:20", "31.01.2024 10:20"]),
    (norm_name, ["Ёлкин - Петров", "ЁЛКИН-ПЕТРОВ", "  a  b ", None, "Ёлкин - Петров", ""]),
    (parse_timestamp, ["2024-01-02 10:20", "2024-01-03 10:20"]),  # all distinct
    (parse_timestamp, []),
    (snils_valid, []),
])
def test_per_distinct_types_as_the_expression_does(typing, values):
    raw = pl.DataFrame({"v": pl.Series(values, dtype=pl.String)})
    expected = raw.select(typing(pl.col("v"))).to_series()
    got = per_distinct(raw, "v", typing)
    assert got.dtype == expected.dtype
    assert got.to_list() == expected.to_list()


def test_snils_valid_from_the_digits_is_snils_valid():
    values = ["112-233-445 95", "112-233-445-95", "11223344595", "112-233-445 96", "001-001-998 00",
              "001-001-999 65", "1122334459", "112 233 445 95", "", None, "１１２-233-445 95"]
    frame = pl.DataFrame({"s": pl.Series(values, dtype=pl.String)})
    got = frame.with_columns(d=snils_digits(pl.col("s"))).select(snils_valid_digits(pl.col("d")))
    assert got.to_series().to_list() == frame.select(snils_valid(pl.col("s"))).to_series().to_list()
