"""Masks for auditors' outputs: formats as specified, and nothing of a full identifier survives."""
from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.masking import (
    BIRTH_DATE_MASK, mask_birth_date, mask_enp, mask_name, mask_name_text, mask_policy_number,
    mask_snils, mask_value, mask_values,
)


def run(expr: pl.Expr, values: list[str | None]) -> list[str | None]:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr.alias("m"))["m"].to_list()


# ------------------------------------------------------------------ formats


def test_snils_accepted_forms_keep_two_body_digits_and_the_check_number():
    assert run(mask_snils("v"), ["123-456-789 01", "12345678901", "123-456-789-01"]) == [
        "***-***-*89 01", "***-***-*89 01", "***-***-*89 01",
    ]


def test_malformed_snils_shows_at_most_its_last_two_characters():
    values = [" 123-456-789 01", "123-456-78O 01", "123 456 789 01", "12", "1"]
    assert run(mask_snils("v"), values) == [
        "*********01", "*********01", "*********01", "*********", "*********",
    ]
    assert run(mask_snils("v"), ["abc"]) == ["*********c"]


def test_enp_shows_its_last_four_digits():
    assert run(mask_enp("v"), ["7788899730000765", "7788 8997 3000 0765", "12345", "1234"]) == [
        "************0765", "************0765", "************5", "************",
    ]


def test_policy_number_shows_its_last_four_characters():
    assert run(mask_policy_number("v"), ["123456789", "АБ 1234567", "ХЕ", "12345678"]) == [
        "*****6789", "*****4567", "*****", "*****5678",
    ]


def test_birth_date_is_hidden_whatever_its_form():
    assert run(mask_birth_date("v"), ["1984-03-05", "05.03.1984", "garbage"]) == [BIRTH_DATE_MASK] * 3


def test_name_becomes_surname_initial_plus_initials():
    df = pl.DataFrame(
        {
            "last": ["Иванов", "петров-водкин", " Сидорова", "", None],
            "first": ["Иван", "кузьма", "Анна", "Пётр", None],
            "middle": ["Иванович", "", None, "Ильич", None],
        }
    )
    out = df.select(mask_name("last", "first", "middle").alias("m"))["m"].to_list()
    assert out == ["И.И.И.", "П.К.", "С.А.", "П.И.", None]
    assert df.select(mask_name("last", "first").alias("m"))["m"].to_list()[:2] == ["И.И.", "П.К."]


def test_name_text_takes_the_initial_of_each_word():
    values = ["Иванов Иван Иванович", "Иванов, Иван, ", "  иванов", "Ivanov"]
    assert run(mask_name_text("v"), values) == [
        "И.И.И.", "И.И.", "И.", "I.",
    ]


def test_empty_stays_empty_and_null_stays_null():
    for mask in (mask_snils, mask_enp, mask_policy_number, mask_birth_date, mask_name_text):
        assert run(mask("v"), ["", None]) == ["", None], mask.__name__


# ------------------------------------------------------------------ dispatch by field


def test_mask_value_dispatches_by_finding_field():
    rows = [
        ("snils", "123-456-789 01", "***-***-*89 01"),
        ("doctor_snils", "12345678901", "***-***-*89 01"),
        ("enp", "7788899730000765", "************0765"),
        ("policy_number", "123456789", "*****6789"),
        ("policy_series", "АБ123456", "*****3456"),
        ("policy_series, policy_number", "АБ 1234567", "*****4567"),
        ("last_name", "Иванов", "И."),
        ("first_name", "Иван", "И."),
        ("middle_name", "Иванович", "И."),
        ("last_name, first_name, middle_name", "Иванов Иван Иванович", "И.И.И."),
        ("birth_date", "1984-03-05", BIRTH_DATE_MASK),
        ("line", "p1;Иванов;Иван;;1984-03-05;1;123-456-789 01", "***"),
        # not personal: passes through unchanged
        ("mo_code", "010101", "010101"),
        ("policy_type", "03", "03"),
        ("date_begin, date_end", "2024-01-01", "2024-01-01"),
        ("slot_start, slot_end, status, patient_id", "free", "free"),
        ("patient_id", "P-123", "P-123"),
        ("updated_at", "2025-01-01 10:00", "2025-01-01 10:00"),
        ("*", "A1", "A1"),
        ("snils_note", "123-456-789 01", "123-456-789 01"),  # only exact field names mask
        (None, "x", "x"),
        ("snils", None, None),
    ]
    df = pl.DataFrame(
        {"field": [r[0] for r in rows], "value": [r[1] for r in rows]},
        schema={"field": pl.String, "value": pl.String},
    )
    got = df.select(mask_value("field", "value").alias("m"))["m"].to_list()
    assert got == [r[2] for r in rows]
    # the frame-level form (routing uses it) masks alike, each row by its own field
    assert mask_values(df["field"], df["value"]).to_list() == [r[2] for r in rows]
    shuffled = df.reverse()
    assert mask_values(shuffled["field"], shuffled["value"]).to_list() == [r[2] for r in rows][::-1]


def test_mask_value_accepts_expressions():
    df = pl.DataFrame({"f": ["enp"], "v": ["7788899730000765"]})
    assert df.select(mask_value(pl.col("f"), pl.col("v")).alias("m"))["m"].to_list() == [
        "************0765"
    ]


# ------------------------------------------------------------------ nothing of the full value survives

DIGITS = "0123456789"
# Anything a hostile extract might hold, except the mask character itself.
TEXT = st.text(
    alphabet=st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), max_size=30
)
SNILS = st.one_of(
    st.from_regex(r"\A[0-9]{11}\Z"),
    st.from_regex(r"\A[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2}\Z"),
    TEXT,
)
ENP = st.one_of(st.from_regex(r"\A[0-9]{16}\Z"), TEXT)
POLICY = st.one_of(st.from_regex(r"\A[0-9]{9}\Z"), TEXT)
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
CYR_WORD = st.text(alphabet=CYRILLIC, min_size=2, max_size=15)
PERSONAL_FIELDS = ["snils", "doctor_snils", "enp", "policy_number", "birth_date", "line"]


def visible(masked: str) -> str:
    """The characters of a mask that may come from the value (everything but mask punctuation)."""
    return re.sub(r"[*]", "", masked)


@settings(max_examples=60, deadline=None)
@given(st.lists(SNILS, min_size=1, max_size=40))
def test_no_full_snils_survives(values):
    for value, masked in zip(values, run(mask_snils("v"), values)):
        if value:
            assert value not in masked
            assert sum(ch in DIGITS for ch in masked) <= 4
            assert len(visible(masked).replace("-", "").replace(" ", "")) <= 4


@settings(max_examples=60, deadline=None)
@given(st.lists(ENP, min_size=1, max_size=40))
def test_no_full_enp_survives(values):
    for value, masked in zip(values, run(mask_enp("v"), values)):
        if value:
            assert value not in masked
            assert len(visible(masked)) <= min(4, len(value) // 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(POLICY, min_size=1, max_size=40))
def test_no_full_policy_number_survives(values):
    for value, masked in zip(values, run(mask_policy_number("v"), values)):
        if value:
            assert value not in masked
            assert len(visible(masked)) <= min(4, len(value) // 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(CYR_WORD, CYR_WORD, st.one_of(st.just(""), CYR_WORD)), min_size=1, max_size=40
    )
)
def test_no_full_name_survives(names):
    df = pl.DataFrame(
        {"l": [n[0] for n in names], "f": [n[1] for n in names], "m": [n[2] for n in names]}
    )
    joined = [" ".join(p for p in n if p) for n in names]
    by_parts = df.select(mask_name("l", "f", "m").alias("m"))["m"].to_list()
    by_text = run(mask_name_text("v"), joined)
    fields = ["last_name, first_name, middle_name"] * len(joined)
    by_field = (
        pl.DataFrame({"field": fields, "value": joined})
        .select(mask_value("field", "value").alias("m"))["m"]
        .to_list()
    )
    for n, a, b, c in zip(names, by_parts, by_text, by_field):
        assert a == b == c
        assert re.fullmatch(r"(?:[А-ЯЁ]\.){2,3}", a)
        for part in n:
            if part:
                assert part not in a and part.upper() not in a


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=40))
def test_no_birth_date_survives(values):
    for value, masked in zip(values, run(mask_birth_date("v"), values)):
        assert masked == (BIRTH_DATE_MASK if value else "")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PERSONAL_FIELDS), TEXT), min_size=1, max_size=40))
def test_mask_value_never_passes_a_personal_value_through(rows):
    df = pl.DataFrame(
        {"field": [r[0] for r in rows], "value": [r[1] for r in rows]},
        schema={"field": pl.String, "value": pl.String},
    )
    masked_values = df.select(mask_value("field", "value").alias("m"))["m"].to_list()
    for (field, value), masked in zip(rows, masked_values):
        if len(value) >= 2:
            assert value not in masked, (field, value, masked)


@pytest.mark.parametrize(
    "mask", [mask_snils, mask_enp, mask_policy_number, mask_birth_date, mask_name_text]
)
def test_masks_are_polars_expressions(mask):
    assert isinstance(mask("v"), pl.Expr)


#: field names of every kind, joined ones (the first kind named wins), and non-personal ones
ANY_FIELD = st.one_of(st.none(), st.sampled_from(
    PERSONAL_FIELDS + ["policy_series", "last_name", "first_name, middle_name", "enp, snils",
                       "snils, enp", "birth_date, line", "mo_code", "snils_note", "*", ""]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(ANY_FIELD, st.one_of(st.none(), TEXT, SNILS)), max_size=60))
def test_mask_values_equals_mask_value_row_by_row(rows):
    df = pl.DataFrame(
        {"field": [r[0] for r in rows], "value": [r[1] for r in rows]},
        schema={"field": pl.String, "value": pl.String},
    )
    expected = df.select(mask_value("field", "value").alias("m"))["m"].to_list()
    assert mask_values(df["field"], df["value"]).to_list() == expected
