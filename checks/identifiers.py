"""SNILS and ENP validation as vectorised polars expressions (integer arithmetic, no row loop).

The form is decided by an ASCII-digit regex first; only accepted forms are turned into an
Int64 (11 or 16 digits fit) whose digits are taken with // and %. Checksum expressions are
null where the form is not accepted, so a form defect is never also a checksum defect.

The checksums run as one `map_batches` over the whole column: the integer is materialised once
and its 9-16 digits are read from it, instead of an expression tree that repeats the regex and
the parse per digit (polars' eager mode does not eliminate common subexpressions: 10x slower).
"""
from __future__ import annotations

import polars as pl

SNILS_FORM = r"^(?:[0-9]{11}|[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2})$"
ENP_FORM = r"^[0-9]{16}$"
#: The first nine SNILS digits must form a number greater than this (001-001-998).
SNILS_MIN_EXCLUSIVE = 1_001_998


def _digit(number: pl.Expr, power: int) -> pl.Expr:
    """The decimal digit of `number` at 10**power."""
    return (number // (10 ** power)) % 10


# --- SNILS -----------------------------------------------------------------------------------

def snils_form_ok(expr: pl.Expr) -> pl.Expr:
    """Accepted form: 11 digits, or XXX-XXX-XXX YY / XXX-XXX-XXX-YY. Null input → False."""
    return expr.str.contains(SNILS_FORM).fill_null(False)


def snils_digits(expr: pl.Expr) -> pl.Expr:
    """The 11 digits of an accepted form (so both forms compare equal); null otherwise."""
    return pl.when(snils_form_ok(expr)).then(expr.str.replace_all("[ -]", ""))


def snils_check_number(first_nine: pl.Expr) -> pl.Expr:
    """Check number of the first nine digits (as an integer): sum of digit_i * (10 - i),
    then s < 100 → s; 100, 101 → 0; > 101 → s mod 101 with 100 → 0."""
    s = sum(_digit(first_nine, 9 - i) * (10 - i) for i in range(1, 10))
    c = s % 101  # equals s below 100 and 0 at 101
    return pl.when(c == 100).then(0).otherwise(c)


def _snils_checksum_series(values: pl.Series) -> pl.Series:
    return _snils_digits_checksum_series(
        values.rename("s").to_frame().select(snils_digits(pl.col("s"))).to_series())


def _snils_digits_checksum_series(digits: pl.Series) -> pl.Series:
    frame = digits.rename("d").to_frame().select(n=pl.col("d").str.to_integer(strict=False))
    frame = frame.with_columns(first_nine=pl.col("n") // 100, check=pl.col("n") % 100)
    return frame.select(
        (pl.col("first_nine") > SNILS_MIN_EXCLUSIVE)
        & (pl.col("check") == snils_check_number(pl.col("first_nine")))
    ).to_series()


def snils_checksum_ok(expr: pl.Expr) -> pl.Expr:
    """On an accepted form: first nine > 001001998 and the last two digits are the check
    number. Null when the form is not accepted."""
    return expr.map_batches(_snils_checksum_series, return_dtype=pl.Boolean, is_elementwise=True)


def snils_valid(expr: pl.Expr) -> pl.Expr:
    """Accepted form and right checksum; never null."""
    return snils_checksum_ok(expr).fill_null(False)


def snils_valid_digits(digits: pl.Expr) -> pl.Expr:
    """snils_valid of the values whose snils_digits are `digits`, without reading their form
    again (a staged table has both)."""
    return digits.map_batches(_snils_digits_checksum_series, return_dtype=pl.Boolean,
                              is_elementwise=True).fill_null(False)


# --- ENP -------------------------------------------------------------------------------------

def enp_form_ok(expr: pl.Expr) -> pl.Expr:
    """Exactly 16 ASCII digits. Null input → False."""
    return expr.str.contains(ENP_FORM).fill_null(False)


def _luhn_doubled(d: pl.Expr) -> pl.Expr:
    return pl.when(d >= 5).then(2 * d - 9).otherwise(2 * d)


def _luhn_sum(number: pl.Expr, n_digits: int, doubled_parity: int) -> pl.Expr:
    """Sum of Luhn terms over n_digits digits; digit k from the left is doubled when
    k % 2 == doubled_parity."""
    terms = []
    for k in range(n_digits):
        d = _digit(number, n_digits - 1 - k)
        terms.append(_luhn_doubled(d) if k % 2 == doubled_parity else d)
    return sum(terms)


def _digits_number(values: pl.Series, pattern: str) -> pl.DataFrame:
    """One column `n`: the value as Int64 where it matches pattern (ASCII digits), else null."""
    s = pl.col("s")
    return values.rename("s").to_frame().select(
        n=pl.when(s.str.contains(pattern).fill_null(False)).then(s).str.to_integer(strict=False))


#: The Luhn terms of every group of four digits (0000-9999, its first and third doubled), by
#: the group's value: a 16-digit number's Luhn sum is that of its four groups, four lookups
#: instead of sixteen digits taken one by one (3x less CPU).
_LUHN_GROUPS = pl.select(_luhn_sum(pl.int_range(10_000, dtype=pl.Int64), 4, 0)).to_series()


def _enp_luhn_series(values: pl.Series) -> pl.Series:
    n = pl.col("n")
    luhn_sum = sum(pl.lit(_LUHN_GROUPS).gather(n // 10 ** (12 - 4 * j) % 10_000)
                   for j in range(4))
    return _digits_number(values, ENP_FORM).select(luhn_sum % 10 == 0).to_series()


def enp_luhn_ok(expr: pl.Expr) -> pl.Expr:
    """Luhn mod 10 over all 16 digits (every second digit from the right doubled, starting
    with the one left of the check digit). Null when the form is not accepted."""
    return expr.map_batches(_enp_luhn_series, return_dtype=pl.Boolean, is_elementwise=True)


def enp_valid(expr: pl.Expr) -> pl.Expr:
    """16 digits passing Luhn; never null."""
    return enp_luhn_ok(expr).fill_null(False)


def enp_check_digit(body15_expr: pl.Expr) -> pl.Expr:
    """The Luhn check digit (Int64 0-9) that completes a 15-digit body to a valid ENP;
    null unless the body is exactly 15 ASCII digits."""
    return body15_expr.map_batches(_enp_check_digit_series, return_dtype=pl.Int64,
                                   is_elementwise=True)


def _enp_check_digit_series(values: pl.Series) -> pl.Series:
    frame = _digits_number(values, r"^[0-9]{15}$")
    return frame.select((10 - _luhn_sum(pl.col("n"), 15, 0) % 10) % 10).to_series()
