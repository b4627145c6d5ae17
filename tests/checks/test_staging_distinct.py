"""staging.per_distinct: typing once per distinct value gives what typing every row gives."""
from __future__ import annotations

import polars as pl
import pytest

from checks.identifiers import snils_valid
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
