"""Masking of personal data for auditors' outputs, as vectorised polars expressions.

Clinics get full values of their own records; auditors' pages, logs and `value_masked` get these
masks instead (issue 4). The policy, per finding field:

- snils, doctor_snils: an accepted SNILS form (11 digits, or XXX-XXX-XXX YY with "-" or " " before
  the check number) becomes `***-***-*89 01`: the last two digits of the body and the two check
  digits stay visible. Anything else (a malformed SNILS) shows at most its last 2 characters
  after `*********`.
- enp: `************` plus at most the last 4 characters (`************0765`).
- policy_number, policy_series: `*****` plus at most the last 4 characters.
- last_name, first_name, middle_name (alone or comma-joined, e.g. "last_name, first_name,
  middle_name"): the initial letter of each word, upper-cased, each followed by "." (`И.И.И.`).
- birth_date: `**.**.****`.
- line (the raw text of a ROW.MALFORMED line, which may hold any of the above): `***`.
- anything else (codes, ids, statuses, dates of policies, attachments and slots) is not personal
  and passes through unchanged.

Never the full value: a tail is shown only while at least as many characters stay hidden as are
shown, so short values show fewer characters (a 4-character ENP shows none). The prefixes have a
fixed width so that masks do not reveal a value's length. Empty values stay empty (an auditor
must see that a value is missing) and NULL stays NULL.
"""
from __future__ import annotations

import polars as pl

_SNILS_ACCEPTED = r"^(?:[0-9]{11}|[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2})$"
_SEP = r"[\s,]"  # separators between the words of a name value

SNILS_FIELDS = ("snils", "doctor_snils")
ENP_FIELDS = ("enp",)
POLICY_FIELDS = ("policy_number", "policy_series")
NAME_FIELDS = ("last_name", "first_name", "middle_name")
BIRTH_DATE_FIELDS = ("birth_date",)
LINE_FIELDS = ("line",)

BIRTH_DATE_MASK = "**.**.****"
LINE_MASK = "***"


def _expr(value: pl.Expr | str) -> pl.Expr:
    return pl.col(value) if isinstance(value, str) else value


def _tail(value: pl.Expr, n: int) -> pl.Expr:
    """The last n characters, fewer when that would leave fewer than n hidden."""
    shown = (value.str.len_chars().cast(pl.Int64) - n).clip(0, n)
    return value.str.tail(shown)


def _keep_empty(value: pl.Expr, masked: pl.Expr) -> pl.Expr:
    """Empty stays empty, NULL stays NULL, everything else is masked."""
    return pl.when(value.is_null()).then(pl.lit(None, pl.String)).when(value == "").then(
        pl.lit("")
    ).otherwise(masked)


def mask_snils(value: pl.Expr | str) -> pl.Expr:
    """`***-***-*89 01` for an accepted SNILS form, `*********` + last 2 characters otherwise."""
    v = _expr(value)
    digits = v.str.replace_all(r"[- ]", "")
    accepted = pl.concat_str(
        pl.lit("***-***-*"), digits.str.slice(7, 2), pl.lit(" "), digits.str.slice(9, 2)
    )
    malformed = pl.concat_str(pl.lit("*********"), _tail(v, 2))
    return _keep_empty(v, pl.when(v.str.contains(_SNILS_ACCEPTED)).then(accepted).otherwise(malformed))


def mask_enp(value: pl.Expr | str) -> pl.Expr:
    """`************0765`: at most the last 4 characters visible."""
    v = _expr(value)
    return _keep_empty(v, pl.concat_str(pl.lit("*" * 12), _tail(v, 4)))


def mask_policy_number(value: pl.Expr | str) -> pl.Expr:
    """`*****` + at most the last 4 characters (series or number of a policy)."""
    v = _expr(value)
    return _keep_empty(v, pl.concat_str(pl.lit("*" * 5), _tail(v, 4)))


def mask_birth_date(value: pl.Expr | str) -> pl.Expr:
    """`**.**.****`: nothing of a birth date is shown."""
    v = _expr(value)
    return _keep_empty(v, pl.lit(BIRTH_DATE_MASK))


def mask_name_text(value: pl.Expr | str) -> pl.Expr:
    """Initials of the words of one text ("Иванов Иван Иванович" -> "И.И.И.")."""
    v = _expr(value)
    initials = (
        v.str.replace(rf"^{_SEP}+", "")
        .str.replace_all(r"([^\s,])[^\s,]*[\s,]*", "$1.")
        .str.to_uppercase()
    )
    return _keep_empty(v, initials)


def mask_name(
    last: pl.Expr | str, first: pl.Expr | str, middle: pl.Expr | str | None = None
) -> pl.Expr:
    """Surname initial plus initials: `И.И.И.` (`И.И.` without a patronymic)."""
    parts = [_expr(p) for p in (last, first, middle) if p is not None]

    def initial(p: pl.Expr) -> pl.Expr:
        letter = p.str.extract(r"([^\s,])", 1).str.to_uppercase()
        return pl.when(letter.is_null()).then(pl.lit("")).otherwise(letter + ".")

    joined = pl.concat_str([initial(p) for p in parts])
    all_null = pl.all_horizontal([p.is_null() for p in parts])
    return pl.when(all_null).then(pl.lit(None, pl.String)).otherwise(joined)


def _names(field: pl.Expr, names: tuple[str, ...]) -> pl.Expr:
    """True when the (possibly comma-joined) field names one of `names`."""
    alternatives = "|".join(names)
    return field.str.contains(rf"(?:^|,)\s*(?:{alternatives})\s*(?:,|$)").fill_null(False)


def _mask_line(value: pl.Expr) -> pl.Expr:
    return _keep_empty(value, pl.lit(LINE_MASK))


#: The personal kinds of field and their masks, in order: the first kind a field names wins.
_KINDS = ((SNILS_FIELDS, mask_snils), (ENP_FIELDS, mask_enp), (POLICY_FIELDS, mask_policy_number),
          (NAME_FIELDS, mask_name_text), (BIRTH_DATE_FIELDS, mask_birth_date),
          (LINE_FIELDS, _mask_line))


def mask_value(field: pl.Expr | str, value: pl.Expr | str) -> pl.Expr:
    """Mask a finding's value according to its field name (see the module docstring)."""
    f, v = _expr(field), _expr(value)
    (names, mask), *rest = _KINDS
    chain = pl.when(_names(f, names)).then(mask(v))
    for names, mask in rest:
        chain = chain.when(_names(f, names)).then(mask(v))
    return chain.otherwise(v)


def mask_values(fields: pl.Series, values: pl.Series) -> pl.Series:
    """mask_value over two columns, each mask computed only on the rows whose field names its
    kind: mask_value evaluates every branch on every row (regexes on all 500k values of a dense
    night's findings, twice), this computes a field's kind once per distinct field name."""
    distinct = fields.unique().drop_nulls()
    f = pl.col("f")
    chain = pl.when(_names(f, _KINDS[0][0])).then(0)
    for i, (names, _) in enumerate(_KINDS[1:], 1):
        chain = chain.when(_names(f, names)).then(i)
    kinds = distinct.to_frame("f").select(chain.otherwise(None).alias("k"))["k"]
    kind = fields.replace_strict(distinct, kinds, default=None, return_dtype=pl.Int32)
    out = values.cast(pl.String).rename(values.name)
    for i, (_, mask) in enumerate(_KINDS):
        rows = (kind == i).fill_null(False)
        if not rows.any():
            continue
        at = rows.arg_true()
        masked = out.gather(at).to_frame("v").select(mask(pl.col("v")).alias("v")).to_series()
        out = out.scatter(at, masked)
    return out
