"""SNILS and ENP validation: the worked examples of the catalogue, properties, and agreement with
a plain Python reference (the reference lives only here)."""
from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.identifiers import (
    enp_check_digit,
    enp_form_ok,
    enp_luhn_ok,
    enp_valid,
    snils_checksum_ok,
    snils_digits,
    snils_form_ok,
    snils_valid,
)

# --- plain Python reference --------------------------------------------------------------------


def ref_snils_digits(text: str | None) -> str | None:
    if text is None:
        return None
    if re.fullmatch(r"[0-9]{11}|[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2}", text, flags=re.ASCII):
        return text.replace("-", "").replace(" ", "")
    return None


def ref_snils_check(first_nine: str) -> int:
    s = sum(int(ch) * (10 - i) for i, ch in enumerate(first_nine, start=1))
    if s < 100:
        return s
    if s in (100, 101):
        return 0
    r = s % 101
    return 0 if r == 100 else r


def ref_snils_valid(text: str | None) -> bool:
    digits = ref_snils_digits(text)
    if digits is None:
        return False
    return int(digits[:9]) > 1001998 and int(digits[9:]) == ref_snils_check(digits[:9])


def ref_luhn_ok(text: str | None) -> bool:
    if text is None or not re.fullmatch(r"[0-9]{16}", text, flags=re.ASCII):
        return False
    total = 0
    for pos, ch in enumerate(reversed(text)):  # pos 0 = check digit
        d = int(ch)
        if pos % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def ref_enp_check_digit(body: str) -> int:
    return next(c for c in range(10) if ref_luhn_ok(body + str(c)))


# --- helpers ----------------------------------------------------------------------------------


def _eval(fn, values: list[str | None]) -> list:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Utf8})
    return frame.select(fn(pl.col("v"))).to_series().to_list()


def _snils_fmt(digits: str, sep: str = " ") -> str:
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:9]}{sep}{digits[9:]}"


# --- worked examples of the catalogue ------------------------------------------------------------


def test_enp_worked_examples():
    assert _eval(enp_check_digit, ["123456789012345"]) == [2]
    values = ["1234567890123452", "7788899730000765", "1234567890123456"]
    assert _eval(enp_valid, values) == [True, True, False]
    assert _eval(enp_luhn_ok, values) == [True, True, False]


@pytest.mark.parametrize("snils, weighted_sum", [
    ("112-233-445 95", 95),
    ("123-456-789 64", 64 + 101),  # 165 -> 165 mod 101 = 64
    ("402-102-488 00", 100),
    ("141-141-702 00", 101),
    ("642-185-924 00", 201),  # 201 mod 101 = 100 -> 00
])
def test_snils_worked_examples_valid(snils, weighted_sum):
    digits = snils.replace("-", "").replace(" ", "")
    assert sum(int(c) * (10 - i) for i, c in enumerate(digits[:9], 1)) == weighted_sum
    assert _eval(snils_valid, [snils, digits, snils.replace(" ", "-")]) == [True] * 3
    assert _eval(snils_checksum_ok, [snils]) == [True]


def test_snils_001001998_invalid_for_every_check_number():
    values = [f"001-001-998 {xx:02d}" for xx in range(100)]
    values += [f"001001998{xx:02d}" for xx in range(100)]
    assert _eval(snils_form_ok, values) == [True] * 200
    assert _eval(snils_valid, values) == [False] * 200
    assert _eval(snils_checksum_ok, values) == [False] * 200
    # the first number above the threshold is checked normally
    assert _eval(snils_valid, [_snils_fmt("001001999" + f"{ref_snils_check('001001999'):02d}")]) \
        == [True]


# --- forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["11223344595", "112-233-445 95", "112-233-445-95"])
def test_snils_accepted_forms(text):
    assert _eval(snils_form_ok, [text]) == [True]
    assert _eval(snils_digits, [text]) == ["11223344595"]


@pytest.mark.parametrize("text", [
    "", " 112-233-445 95", "112-233-445 95 ", "112 233 445 95", "112-233-445  95",
    "112-233-44O 95", "112.233.445 95", "112-233-445_95", "1122334459", "112233445950",
    "112-233-445 9", "112233-445 95", "١١٢-٢٣٣-٤٤٥ ٩٥", "１１２２３３４４５９５", "112-233-445\t95",
    "112-233-445 95\n",
])
def test_snils_rejected_forms(text):
    assert _eval(snils_form_ok, [text]) == [False]
    assert _eval(snils_digits, [text]) == [None]
    assert _eval(snils_checksum_ok, [text]) == [None]  # a form defect is no checksum defect
    assert _eval(snils_valid, [text]) == [False]


def test_null_inputs():
    assert _eval(snils_form_ok, [None]) == [False]
    assert _eval(snils_valid, [None]) == [False]
    assert _eval(snils_checksum_ok, [None]) == [None]
    assert _eval(enp_form_ok, [None]) == [False]
    assert _eval(enp_valid, [None]) == [False]
    assert _eval(enp_luhn_ok, [None]) == [None]
    assert _eval(enp_check_digit, [None]) == [None]


@pytest.mark.parametrize("text", [
    "", "123456789012345", "12345678901234520", "1234 567890123452", " 1234567890123452",
    "1234567890123452 ", "I234567890123452", "1234-5678-9012-3452", "１２３４５６７８９０１２３４５２",
    "+234567890123452", "-234567890123452",
])
def test_enp_rejected_forms(text):
    assert _eval(enp_form_ok, [text]) == [False]
    assert _eval(enp_luhn_ok, [text]) == [None]
    assert _eval(enp_valid, [text]) == [False]


@pytest.mark.parametrize("body", ["12345678901234", "1234567890123456", "12345678901234a", ""])
def test_enp_check_digit_needs_15_digits(body):
    assert _eval(enp_check_digit, [body]) == [None]


# --- properties ------------------------------------------------------------------------------

_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=1)
_FIRST_NINE = st.integers(1_001_999, 999_999_999).map(lambda v: f"{v:09d}")
_BODY15 = st.text(alphabet="0123456789", min_size=15, max_size=15)


def _valid_snils(first_nine: str) -> str:
    return first_nine + f"{ref_snils_check(first_nine):02d}"


@settings(max_examples=60, deadline=None)
@given(st.lists(_FIRST_NINE, min_size=1, max_size=10))
def test_snils_one_digit_changed_is_invalid(first_nines):
    """Every single-digit change of a valid SNILS is invalid, except the one collision the
    rule itself makes: sums 100 and 101 (or 201 and 202, ...) share check number 00, so the
    ninth digit moved by one can keep 00 valid (402-102-488 00 and 402-102-489 00)."""
    originals, variants, allowed = [], [], []
    for first_nine in first_nines:
        valid = _valid_snils(first_nine)
        originals.append(valid)
        for pos in range(11):
            for d in "0123456789":
                if d == valid[pos]:
                    continue
                changed = valid[:pos] + d + valid[pos + 1:]
                variants.append(changed)
                allowed.append(pos == 8 and abs(int(d) - int(valid[pos])) == 1
                               and valid[9:] == "00")
    assert _eval(snils_valid, originals) == [True] * len(originals)
    got = _eval(snils_valid, variants)
    for variant, ok, may in zip(variants, got, allowed):
        assert ok == (may and ref_snils_valid(variant)), variant


def test_snils_collision_of_sums_100_and_101_exists():
    assert _eval(snils_valid, ["402-102-488 00", "402-102-489 00"]) == [True, True]


@settings(max_examples=60, deadline=None)
@given(st.lists(_BODY15, min_size=1, max_size=10))
def test_enp_one_digit_changed_is_invalid(bodies):
    originals = [b + str(ref_enp_check_digit(b)) for b in bodies]
    variants = [v[:pos] + d + v[pos + 1:] for v in originals for pos in range(16)
                for d in "0123456789" if d != v[pos]]
    assert _eval(enp_valid, originals) == [True] * len(originals)
    assert _eval(enp_valid, variants) == [False] * len(variants)


@settings(max_examples=60, deadline=None)
@given(st.lists(_BODY15, min_size=1, max_size=10))
def test_enp_adjacent_transposition_is_invalid_except_09(bodies):
    originals = [b + str(ref_enp_check_digit(b)) for b in bodies]
    variants, expect = [], []
    for v in originals:
        for pos in range(15):
            a, b = v[pos], v[pos + 1]
            if a == b:
                continue
            variants.append(v[:pos] + b + a + v[pos + 2:])
            expect.append({a, b} == {"0", "9"})  # Luhn's known blind spot: 09 <-> 90
    got = _eval(enp_valid, variants)
    assert got == expect
    assert got == [ref_luhn_ok(v) for v in variants]


@settings(max_examples=60, deadline=None)
@given(st.lists(_BODY15, min_size=1, max_size=20))
def test_enp_check_digit_matches_reference(bodies):
    digits = _eval(enp_check_digit, bodies)
    assert digits == [ref_enp_check_digit(b) for b in bodies]
    assert _eval(enp_valid, [b + str(d) for b, d in zip(bodies, digits)]) == [True] * len(bodies)


@st.composite
def _snils_like(draw) -> str:
    digits = draw(st.one_of(
        st.text(alphabet="0123456789", min_size=11, max_size=11),
        _FIRST_NINE.map(_valid_snils),
        st.integers(0, 1_001_998).map(lambda v: f"{v:09d}").map(_valid_snils),
    ))
    text = draw(st.sampled_from([digits, _snils_fmt(digits), _snils_fmt(digits, "-"),
                                 _snils_fmt(digits, "_"), " " + digits, digits[:10]]))
    if draw(st.booleans()):  # one character replaced (look-alikes, separators, digits)
        pos = draw(st.integers(0, len(text) - 1))
        text = text[:pos] + draw(st.sampled_from(list("0123456789O -٣"))) + text[pos + 1:]
    return text


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(_snils_like(), st.text(max_size=16)), min_size=1, max_size=30))
def test_snils_agrees_with_reference(values):
    assert _eval(snils_digits, values) == [ref_snils_digits(v) for v in values]
    assert _eval(snils_valid, values) == [ref_snils_valid(v) for v in values]
    assert _eval(snils_form_ok, values) == [ref_snils_digits(v) is not None for v in values]
    checksum = _eval(snils_checksum_ok, values)
    assert checksum == [ref_snils_valid(v) if ref_snils_digits(v) else None for v in values]


@st.composite
def _enp_like(draw) -> str:
    body = draw(_BODY15)
    text = draw(st.sampled_from([body + str(ref_enp_check_digit(body)), body + draw(_DIGITS),
                                 body, body + "00", body[:4] + " " + body[4:] + "0"]))
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(text) - 1))
        text = text[:pos] + draw(st.sampled_from(list("0123456789O -٣"))) + text[pos + 1:]
    return text


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(_enp_like(), st.text(max_size=18)), min_size=1, max_size=30))
def test_enp_agrees_with_reference(values):
    assert _eval(enp_valid, values) == [ref_luhn_ok(v) for v in values]
    assert _eval(enp_form_ok, values) == [
        bool(re.fullmatch(r"[0-9]{16}", v, flags=re.ASCII)) for v in values]


def test_large_column_is_vectorised_and_exact():
    """All 1,000 first-nine numbers above the threshold with their right and a wrong check."""
    first = [f"{v:09d}" for v in range(1_001_999, 1_002_999)]
    good = [_valid_snils(f) for f in first]
    bad = [f + f"{(ref_snils_check(f) + 1) % 100:02d}" for f in first]
    assert _eval(snils_valid, good + bad) == [True] * 1000 + [False] * 1000
