"""Vectorised rendering of dates and timestamps in the contract's formats.

Dates are epoch days, timestamps epoch seconds (local time of the region, no time zone).
"""
from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl

EPOCH = date(1970, 1, 1)

DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")
# The three contract timestamp layouts, with and without seconds.
TS_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M",
              "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M:%S")


def epoch_day(d: date) -> int:
    return (d - EPOCH).days


def epoch_second(ts: datetime) -> int:
    return int((ts - datetime(1970, 1, 1)).total_seconds())


def _styled(values: pl.Series, style, formats: tuple[str, ...]) -> pl.Series:
    style = np.broadcast_to(np.asarray(style, dtype=np.int64), (len(values),))
    df = pl.DataFrame({"v": values, "s": style})
    expr = pl.col("v").dt.strftime(formats[0])
    for k in range(1, len(formats)):
        if (style == k).any():
            expr = pl.when(pl.col("s") == k).then(pl.col("v").dt.strftime(formats[k])).otherwise(expr)
    return df.select(expr.alias("text")).to_series()


def date_text(days, style=0) -> pl.Series:
    """Dates from epoch days; style 0 = YYYY-MM-DD, 1 = DD.MM.YYYY (scalar or per row)."""
    v = pl.Series(np.asarray(days, dtype=np.int64)).cast(pl.Int32).cast(pl.Date)
    return _styled(v, style, DATE_FORMATS)


def ts_text(seconds, style=0) -> pl.Series:
    """Timestamps from epoch seconds in TS_FORMATS[style] (scalar or per row)."""
    v = pl.Series(np.asarray(seconds, dtype=np.int64) * 1_000_000).cast(pl.Datetime("us"))
    return _styled(v, style, TS_FORMATS)
