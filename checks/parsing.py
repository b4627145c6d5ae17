"""Strict date and timestamp parsing as polars expressions (reading 3 of the check catalogue).

polars' strptime is lenient (it accepts `1.2.2024`, `2024-1-02`, leading spaces, `23:59:60`
and year 0000), so every format is guarded by a regex of ASCII digits first; strptime with
strict=False then rejects impossible calendar dates (31.02, 2025-13-01) as null. The result
agrees with flows.asof.parse_timestamp (the Python parser of --as-of), which the tests verify.
"""
from __future__ import annotations

import polars as pl

# Any four digits but 0000 (year 0 is no calendar year; Python's strptime rejects it too).
_Y = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_ISO = _Y + r"-[0-9]{2}-[0-9]{2}"
_RU = r"[0-9]{2}\.[0-9]{2}\." + _Y
# strptime accepts 24:00 and second 60 (a leap second, rolled into the next minute): exclude.
_HM = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_HMS = _HM + r":[0-5][0-9]"

_DATE_FORMATS: tuple[tuple[str, str], ...] = (
    (rf"^{_ISO}$", "%Y-%m-%d"),
    (rf"^{_RU}$", "%d.%m.%Y"),
)
_TS_FORMATS: tuple[tuple[str, str], ...] = (
    (rf"^{_ISO} {_HMS}$", "%Y-%m-%d %H:%M:%S"),
    (rf"^{_ISO} {_HM}$", "%Y-%m-%d %H:%M"),
    (rf"^{_ISO}T{_HMS}$", "%Y-%m-%dT%H:%M:%S"),
    (rf"^{_ISO}T{_HM}$", "%Y-%m-%dT%H:%M"),
    (rf"^{_RU} {_HMS}$", "%d.%m.%Y %H:%M:%S"),
    (rf"^{_RU} {_HM}$", "%d.%m.%Y %H:%M"),
)


def _parse(expr: pl.Expr, formats: tuple[tuple[str, str], ...], dtype: pl.DataType) -> pl.Expr:
    # strptime only sees the values its guard accepts (others become null before parsing).
    branches = [
        pl.when(expr.str.contains(pattern)).then(expr)
        .str.strptime(dtype, fmt, strict=False, exact=True)
        for pattern, fmt in formats
    ]
    return pl.coalesce(branches)


def parse_date(expr: pl.Expr) -> pl.Expr:
    """Date from `YYYY-MM-DD` or `DD.MM.YYYY`; null for anything else (including null)."""
    return _parse(expr, _DATE_FORMATS, pl.Date())


def sql_date(column: str) -> str:
    """parse_date as a DuckDB SQL expression on `column` (a VARCHAR column or expression):
    the same regex guards, then try_strptime (NULL for impossible calendar dates), so SQL that
    must agree with the typing (reports/identity.py) reads dates exactly as the checks do.
    DuckDB's try_strptime alone is lenient: it reads `2020-1-5`, ` 2020-01-05` and
    `20-01-05` (year 20)."""
    cases = " ".join(f"WHEN regexp_matches({column}, '{pattern}') "
                     f"THEN try_strptime({column}, '{fmt}')" for pattern, fmt in _DATE_FORMATS)
    return f"CAST(CASE {cases} END AS DATE)"


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """Datetime('us') from `YYYY-MM-DD[ T]HH:MM[:SS]` or `DD.MM.YYYY HH:MM[:SS]`; null otherwise."""
    return _parse(expr, _TS_FORMATS, pl.Datetime("us"))
