"""Valid SNILS and ENP for synthetic people, generated vectorised and unique by construction.

Uniqueness without a lookup table: value_i = lo + (a * i + b) mod span with gcd(a, span) = 1 is a
permutation of [lo, lo + span), so distinct indices give distinct values. Patients and doctors
draw from disjoint index ranges of one pool.
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl

SNILS_LO = 1_001_999  # the first nine digits must form a number > 001001998
SNILS_SPAN = 999_999_999 - SNILS_LO + 1
ENP_SPAN = 10 ** 13  # the 13 digits after a 2-digit region prefix, before the check digit


def snils_check(body: np.ndarray) -> np.ndarray:
    """Check number of 9-digit SNILS bodies: weights 9..1; <100 as is; 100, 101 -> 0; else mod 101."""
    body = np.asarray(body, dtype=np.int64)
    s = np.zeros_like(body)
    for i in range(1, 10):
        s += ((body // 10 ** (9 - i)) % 10) * (10 - i)
    c = np.where(s < 100, s, np.where(s <= 101, 0, s % 101))
    return np.where(c == 100, 0, c)


def luhn_check_digit(body15: np.ndarray) -> np.ndarray:
    """Check digit that makes body15 * 10 + digit pass Luhn (the official ENP rule)."""
    body15 = np.asarray(body15, dtype=np.int64)
    total = np.zeros_like(body15)
    for k in range(15):  # k = position from the right within the body, 0-based: doubled when even
        d = (body15 // 10 ** k) % 10
        if k % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return (10 - total % 10) % 10


class Pool:
    """Distinct integers lo + (a*i + b) mod span, handed out in increasing i; reserved values skipped."""

    def __init__(self, rng: np.random.Generator, lo: int, span: int, a_max: int, start: int = 0,
                 reserved: tuple[int, ...] = ()):
        while True:
            a = int(rng.integers(a_max // 3, a_max))
            if math.gcd(a, span) == 1:
                break
        self.lo, self.span, self.a, self.b = lo, span, a, int(rng.integers(0, span))
        self.next = start
        self.reserved = np.asarray(reserved, dtype=np.int64)

    def fork(self, start: int) -> "Pool":
        """The same permutation from another index: values disjoint from this pool's range."""
        other = Pool.__new__(Pool)
        other.__dict__.update(self.__dict__)
        other.next = start
        return other

    def take(self, count: int) -> np.ndarray:
        i = np.arange(self.next, self.next + count + len(self.reserved), dtype=np.int64)
        values = self.lo + (self.a * i + self.b) % self.span
        keep = ~np.isin(values, self.reserved)
        taken = np.flatnonzero(keep)[:count]
        self.next = int(i[taken[-1]]) + 1 if count else self.next
        return values[taken]


def snils_pool(rng: np.random.Generator, start: int = 0, reserved: tuple[int, ...] = ()) -> Pool:
    return Pool(rng, SNILS_LO, SNILS_SPAN, a_max=400_000_000, start=start, reserved=reserved)


def enp_pool(rng: np.random.Generator) -> Pool:
    return Pool(rng, 0, ENP_SPAN, a_max=20_000_000_000)


def snils_text(body: np.ndarray, style: np.ndarray | int = 0, check: np.ndarray | None = None) -> pl.Series:
    """SNILS text, valid unless `check` overrides the check number.
    style 0: 'XXX-XXX-XXX YY', 1: 11 bare digits, 2: 'XXX-XXX-XXX-YY'."""
    body = np.asarray(body, dtype=np.int64)
    check = snils_check(body) if check is None else np.asarray(check, dtype=np.int64)
    style = np.broadcast_to(np.asarray(style), body.shape)
    df = pl.DataFrame({"b": body, "c": check, "s": style})
    b = pl.col("b").cast(pl.String).str.zfill(9)
    c = pl.col("c").cast(pl.String).str.zfill(2)
    grouped = pl.concat_str([b.str.slice(0, 3), pl.lit("-"), b.str.slice(3, 3), pl.lit("-"), b.str.slice(6, 3)])
    out = (pl.when(pl.col("s") == 1).then(pl.concat_str([b, c]))
           .when(pl.col("s") == 2).then(pl.concat_str([grouped, pl.lit("-"), c]))
           .otherwise(pl.concat_str([grouped, pl.lit(" "), c])))
    return df.select(out.alias("snils")).to_series()


def enp_text(prefix: str, body13: np.ndarray) -> pl.Series:
    """Valid 16-digit ENP: a 2-digit region prefix, 13 digits, the Luhn check digit."""
    body15 = int(prefix) * ENP_SPAN + np.asarray(body13, dtype=np.int64)
    digit = luhn_check_digit(body15)
    return pl.Series("enp", body15 * 10 + digit).cast(pl.String).str.zfill(16)


def luhn_valid(enp: np.ndarray) -> np.ndarray:
    """Whether 16-digit numbers pass Luhn (vectorised)."""
    enp = np.asarray(enp, dtype=np.int64)
    return luhn_check_digit(enp // 10) == enp % 10
