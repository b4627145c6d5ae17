"""Pure rules on the classifier frames: validity on a date and exclusion from a registry.

- A reference code is valid on a date when ANY of its rows is: begin <= date and
  (end is null or end >= date).
- A registry member (F003 MO, F002 insurer) is excluded on a date when it is present and EVERY
  one of its inclusion periods has a non-null end < date. A member without periods (its only row
  has null begin and end) is excluded vacuously. A period that starts after the date does not
  exclude: only ended periods do.
"""
from __future__ import annotations

from datetime import date

import polars as pl


def valid_on_expr(on: date, begin_col: str = "date_begin", end_col: str = "date_end") -> pl.Expr:
    """True where the row is valid on `on` (null begin: never valid)."""
    begin, end = pl.col(begin_col), pl.col(end_col)
    return (begin.is_not_null() & (begin <= on) & (end.is_null() | (end >= on))).fill_null(False)


def valid_on(df: pl.DataFrame, on: date, begin_col: str = "date_begin",
             end_col: str = "date_end") -> pl.DataFrame:
    """The rows of df valid on `on`."""
    return df.filter(valid_on_expr(on, begin_col, end_col))


def valid_codes(df: pl.DataFrame, code_col: str, on: date, begin_col: str = "date_begin",
                end_col: str = "date_end") -> set[str]:
    """Codes with at least one row valid on `on`."""
    return set(valid_on(df, on, begin_col, end_col).get_column(code_col).to_list())


def registry_status(df: pl.DataFrame, code_col: str, on: date, begin_col: str = "d_begin",
                    end_col: str = "d_end") -> pl.DataFrame:
    """One row per distinct code: (code_col, excluded) on `on`, sorted by code."""
    begin, end = pl.col(begin_col), pl.col(end_col)
    no_period = begin.is_null() & end.is_null()
    ended = end.is_not_null() & (end < on)
    return (df.group_by(code_col)
            .agg((no_period | ended).fill_null(False).all().alias("excluded"))
            .sort(code_col))


def excluded_codes(df: pl.DataFrame, code_col: str, on: date, begin_col: str = "d_begin",
                   end_col: str = "d_end") -> set[str]:
    """Codes present in df and excluded on `on` (see module docstring)."""
    status = registry_status(df, code_col, on, begin_col, end_col)
    return set(status.filter(pl.col("excluded")).get_column(code_col).to_list())
