"""Row-level rules of one extract as pandera (polars backend) schemas, one per entity.

Each rule is a vectorised pandera Check named by its catalogue code, attached to the column it
is about; it sees the staged frame (every row; the columns the entity's rules read,
RULE_COLUMNS, which is all staging hands over) and returns True where the row passes. Schemas are
validated lazily so every failure case comes back; the failure index (row position) is mapped
back to the record, and field/value are computed for the failing rows only.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from time import perf_counter

import duckdb
import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaErrors

from checks.identifiers import enp_form_ok
from checks.staging import ENTITIES, is_empty, stage_entity_chunks
from flows.extract.contract import ATTACHMENTS, PATIENTS, POLICIES, SLOT_STATUSES, SLOTS

NAME_PATTERN = r"^[А-Яа-яЁё]+([ '-][А-Яа-яЁё]+)*$"
BIRTH_MIN = date(1900, 1, 1)
FINDING_COLUMNS = ("check_code", "record_id", "field", "value", "patient_id", "route_mo")


@dataclass(frozen=True)
class Context:
    """What a rule may depend on besides the row."""

    as_of: datetime
    f008_codes: frozenset[str]

    @property
    def d(self) -> date:
        return self.as_of.date()


@dataclass(frozen=True)
class RowRule:
    code: str
    entity: str  # patients | policies | attachments | slots (the staged frame)
    column: str  # the column the pandera Check is attached to
    violated: Callable[[Context], pl.Expr]  # True where the row violates the rule; never null
    field: pl.Expr  # offending field name (Utf8), evaluated on failing rows only
    value: pl.Expr  # its full current value


def _col(name: str) -> pl.Expr:
    return pl.col(name)


def _eq(column: str, text: str) -> pl.Expr:
    return (pl.col(column) == text).fill_null(False)


def _in(column: str, texts) -> pl.Expr:
    return pl.col(column).is_in(list(texts)).fill_null(False)


def _simple(code: str, entity: str, column: str, violated: Callable[[Context], pl.Expr]) -> RowRule:
    return RowRule(code, entity, column, violated, pl.lit(column), pl.col(column))


def _first_of(cases: list[tuple[pl.Expr, str]]) -> tuple[pl.Expr, pl.Expr]:
    """(field, value) of the first condition that holds."""
    field = pl.when(cases[0][0]).then(pl.lit(cases[0][1]))
    value = pl.when(cases[0][0]).then(pl.col(cases[0][1]))
    for cond, column in cases[1:]:
        field = field.when(cond).then(pl.lit(column))
        value = value.when(cond).then(pl.col(column))
    return field, value


# --- patients --------------------------------------------------------------------------------

def _name_bad(column: str) -> pl.Expr:
    matches = pl.col(column).str.contains(NAME_PATTERN).fill_null(False)
    if column == "middle_name":  # optional: only a non-empty value must match
        return ~is_empty(column) & ~matches
    return ~matches  # an empty value never matches, so required names fail when empty


_NAMES = ("last_name", "first_name", "middle_name")
_NAME_FIELD = pl.concat_list(
    [pl.when(_name_bad(c)).then(pl.lit(c)) for c in _NAMES]).list.drop_nulls().list.join(",")
_NAME_VALUE = pl.concat_list(
    [pl.when(_name_bad(c)).then(pl.col(c).fill_null("")) for c in _NAMES]
).list.drop_nulls().list.join(" | ")

_PATIENT_RULES = [
    _simple("PAT.SNILS.MISSING", "patients", "snils", lambda c: is_empty("snils")),
    # snils_digits (staged: identifiers.snils_digits) is non-null exactly on an accepted form
    # (identifiers.snils_form_ok): the form is read off it, not matched again (2 x 0.05 CPU s
    # per 1M patients)
    _simple("PAT.SNILS.FORMAT", "patients", "snils",
            lambda c: ~is_empty("snils") & _col("snils_digits").is_null()),
    _simple("PAT.SNILS.CHECKSUM", "patients", "snils",
            lambda c: _col("snils_digits").is_not_null() & ~_col("snils_valid").fill_null(False)),
    RowRule("PAT.NAME.INVALID", "patients", "last_name",
            lambda c: _name_bad("last_name") | _name_bad("first_name") | _name_bad("middle_name"),
            _NAME_FIELD, _NAME_VALUE),
    _simple("PAT.BIRTHDATE.INVALID", "patients", "birth_date",
            lambda c: (_col("birth_date_d").is_null() | (_col("birth_date_d") > c.d)
                       | (_col("birth_date_d") < BIRTH_MIN)).fill_null(True)),
    _simple("PAT.SEX.INVALID", "patients", "sex", lambda c: ~_in("sex", ("1", "2"))),
]

# --- policies --------------------------------------------------------------------------------

_NUMBER9 = _col("policy_number").str.contains(r"^[0-9]{9}$").fill_null(False)
_T1, _T2 = _eq("policy_type", "1"), _eq("policy_type", "2")
_NUMBER_CASES = [
    (_T2 & ~_NUMBER9, "policy_number"),
    (_T1 & is_empty("policy_series"), "policy_series"),
    (_T1 & is_empty("policy_number"), "policy_number"),
    (_in("policy_type", ("2", "3")) & ~is_empty("policy_series"), "policy_series"),
]
_BEGIN_BAD = _col("date_begin_d").is_null()
_END_BAD = ~is_empty("date_end") & _col("date_end_d").is_null()
_END_BEFORE = (_col("date_end_d") < _col("date_begin_d")).fill_null(False)
_DATES_CASES = [(_BEGIN_BAD, "date_begin"), (_END_BAD | _END_BEFORE, "date_end")]


def _any(cases: list[tuple[pl.Expr, str]]) -> pl.Expr:
    out = cases[0][0]
    for cond, _ in cases[1:]:
        out = out | cond
    return out


_POLICY_RULES = [
    _simple("POL.TYPE.UNKNOWN", "policies", "policy_type",
            lambda c: ~_in("policy_type", sorted(c.f008_codes))),
    _simple("POL.ENP.MISSING", "policies", "enp",
            lambda c: _eq("policy_type", "3") & is_empty("enp")),
    _simple("POL.ENP.FORMAT", "policies", "enp",
            lambda c: ~is_empty("enp") & ~enp_form_ok(_col("enp"))),
    _simple("POL.ENP.CHECKSUM", "policies", "enp",
            lambda c: enp_form_ok(_col("enp")) & ~_col("enp_valid").fill_null(False)),
    RowRule("POL.NUMBER.FORMAT", "policies", "policy_number", lambda c: _any(_NUMBER_CASES),
            *_first_of(_NUMBER_CASES)),
    RowRule("POL.DATES.INVALID", "policies", "date_begin", lambda c: _any(_DATES_CASES),
            *_first_of(_DATES_CASES)),
]

# --- attachments -----------------------------------------------------------------------------

_ACTIVE = _col("is_active").fill_null(False)
_ATTACHMENT_RULES = [
    _simple("ATT.METHOD.INVALID", "attachments", "attach_method",
            lambda c: _ACTIVE & ~_in("attach_method", ("1", "2", "3"))),
    _simple("ATT.DOCTOR.SNILS", "attachments", "doctor_snils",
            lambda c: _ACTIVE & ~_col("doctor_snils_valid").fill_null(False)),
]

# --- slots -----------------------------------------------------------------------------------

_FREE = _eq("status", "free")
_SLOT_CASES = [
    (_col("start_ts").is_null(), "slot_start"),
    (_col("end_ts").is_null(), "slot_end"),
    ((_col("end_ts") <= _col("start_ts")).fill_null(False), "slot_end"),
    (~_in("status", SLOT_STATUSES), "status"),
    (_eq("status", "booked") & is_empty("patient_id"), "patient_id"),
    (_FREE & ~is_empty("patient_id"), "patient_id"),
]


def _as_of(c: Context) -> pl.Expr:
    return pl.lit(c.as_of, dtype=pl.Datetime("us"))


_SLOT_RULES = [
    RowRule("SCH.SLOT.INVALID", "slots", "slot_start", lambda c: _any(_SLOT_CASES),
            *_first_of(_SLOT_CASES)),
    _simple("SCH.PAST.FREE", "slots", "status",
            lambda c: _FREE & (_col("start_ts") < _as_of(c)).fill_null(False)),
    _simple("SCH.DOCTOR.INACTIVE", "slots", "doctor_status",
            lambda c: _col("is_future").fill_null(False) & _FREE & ~_eq("doctor_status", "active")),
]

ROW_RULES: tuple[RowRule, ...] = tuple(_PATIENT_RULES + _POLICY_RULES + _ATTACHMENT_RULES
                                       + _SLOT_RULES)
CODES: tuple[str, ...] = tuple(r.code for r in ROW_RULES)

# --- schemas ---------------------------------------------------------------------------------

_TYPED = {
    "patients": {"birth_date_d": pl.Date, "snils_digits": pl.Utf8, "snils_valid": pl.Boolean},
    "policies": {"date_begin_d": pl.Date, "date_end_d": pl.Date, "is_active": pl.Boolean,
                 "enp_valid": pl.Boolean},
    "attachments": {"attach_date_d": pl.Date, "detach_date_d": pl.Date, "is_active": pl.Boolean,
                    "doctor_snils_valid": pl.Boolean},
    "slots": {"start_ts": pl.Datetime("us"), "end_ts": pl.Datetime("us"),
              "updated_ts": pl.Datetime("us"), "time_valid": pl.Boolean,
              "is_future": pl.Boolean, "doctor_snils_valid": pl.Boolean},
}
_SPECS = {"patients": PATIENTS, "policies": POLICIES, "attachments": ATTACHMENTS, "slots": SLOTS}


def _pandera_check(rule: RowRule, ctx: Context) -> pa.Check:
    passes = ~rule.violated(ctx).fill_null(False)
    return pa.Check(lambda data: data.lazyframe.select(passes.alias(rule.code)),
                    name=rule.code, ignore_na=False)


def _read_by(exprs) -> set[str]:
    return {name for expr in exprs for name in expr.meta.root_names()}


def _rule_columns(entity: str) -> tuple[str, ...]:
    """Every column the rules of `entity` read: conditions, field, value and the finding keys
    (the names an expression reads do not depend on the run's context)."""
    ctx = Context(datetime(2000, 1, 1), frozenset())
    rules = [r for r in ROW_RULES if r.entity == entity]
    names = _read_by([r.violated(ctx) for r in rules] + [r.field for r in rules]
                     + [r.value for r in rules] + list(_KEYS[entity]))
    order = _SPECS[entity].columns + tuple(_TYPED[entity])
    unknown = names - set(order)
    if unknown:
        raise RuntimeError(f"row rules of {entity} read undeclared columns {sorted(unknown)}")
    return tuple(c for c in order if c in names)


def build_schema(entity: str, ctx: Context) -> pa.DataFrameSchema:
    """The pandera schema of one staged entity frame; each check is named by its code. It
    declares the columns the entity's rules read (RULE_COLUMNS): a frame may hold others."""
    spec = _SPECS[entity]
    checks: dict[str, list[pa.Check]] = {}
    for rule in ROW_RULES:
        if rule.entity == entity:
            checks.setdefault(rule.column, []).append(_pandera_check(rule, ctx))
    types = {c: pl.Utf8 for c in spec.columns} | _TYPED[entity]
    columns = {c: pa.Column(types[c], nullable=True, checks=checks.get(c, []))
               for c in RULE_COLUMNS[entity]}
    return pa.DataFrameSchema(columns, name=entity, strict=False)


def build_schemas(as_of: datetime, f008_codes) -> dict[str, pa.DataFrameSchema]:
    ctx = Context(as_of, frozenset(f008_codes))
    return {entity: build_schema(entity, ctx) for entity in _SPECS}


def failing_positions(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """(check, index) of every failing row, from a lazy pandera validation. Any failure that
    is not one of the row rules (a missing column, a wrong dtype, a check that raised) is a
    defect of the pipeline, not of the data, and raises."""
    with config_context(validation_enabled=True,
                        validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            cases = exc.failure_cases
        else:
            return pl.DataFrame(schema={"check": pl.Utf8, "index": pl.Int64})
    foreign = cases.filter(~pl.col("check").is_in(list(CODES)) | pl.col("index").is_null())
    if foreign.height:
        raise RuntimeError(f"pandera schema {schema.name!r} failed outside the row rules: "
                           f"{foreign.head(5).to_dicts()}")
    return cases.select(pl.col("check"), pl.col("index").cast(pl.Int64))


_KEYS = {
    "patients": (pl.col("patient_id"), pl.col("patient_id"), pl.lit(None, pl.Utf8)),
    "policies": (pl.col("policy_id"), pl.col("patient_id"), pl.lit(None, pl.Utf8)),
    "attachments": (pl.col("attachment_id"), pl.col("patient_id"), pl.col("mo_code")),
    "slots": (pl.col("slot_id"),
              pl.when(~is_empty("patient_id")).then(pl.col("patient_id")), pl.col("mo_code")),
}


#: What the row rules of each entity read (every column a condition, field, value or finding
#: key names): the columns staging hands over (staging reads no other column of the spool).
RULE_COLUMNS: dict[str, tuple[str, ...]] = {e: _rule_columns(e) for e in _SPECS}


def _empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.Utf8 for c in FINDING_COLUMNS})


def run_entity_rules(entity: str, frame: pl.DataFrame, as_of: datetime,
                     f008_codes) -> pl.DataFrame:
    """The row-level findings of one staged entity frame, in the raw-finding shape (one row
    per code and record). Needs nothing but that frame, so a run checks one entity at a time."""
    schema = build_schema(entity, Context(as_of, frozenset(f008_codes)))
    positions = failing_positions(schema, frame)
    record_id, patient_id, route_mo = _KEYS[entity]
    out = [_empty_findings()]
    for rule in ROW_RULES:
        if rule.entity != entity:
            continue
        index = positions.filter(pl.col("check") == rule.code)["index"].sort()
        if index.is_empty():
            continue
        out.append(frame[index].select(
            check_code=pl.lit(rule.code, pl.Utf8),
            record_id=record_id,
            field=rule.field.cast(pl.Utf8),
            value=rule.value.cast(pl.Utf8),
            patient_id=patient_id.cast(pl.Utf8),
            route_mo=route_mo.cast(pl.Utf8),
        ))
    return pl.concat(out, how="vertical")


def stage_and_check(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime, f008_codes,
                    seconds: dict[str, float] | None = None,
                    chunk_rows: int | None = None, register: bool = False,
                    spools: dict | None = None) -> pl.DataFrame:
    """Stage each entity (TEMP stg_*) chunk by chunk (staging.CHUNK_ROWS rows, or
    `chunk_rows`) and run the row rules on each chunk before typing the next, so only one
    chunk's typed frame is alive at a time; returns the run's row-level findings. The cur_*
    tables come first (build_current_reference gives `f008_codes`). `seconds`, if given,
    accumulates the time spent under 'staging' and 'row_rules' (for the benchmark). With
    `register` the staging tables also keep what register linking reads (staging.py). `spools`
    (entity -> staging.TypedSpool): the rows the reader typed, for the entities it holds."""
    seconds = {} if seconds is None else seconds
    out = [_empty_findings()]
    for entity in ENTITIES:
        started = perf_counter()
        for frame in stage_entity_chunks(con, run_id, entity, as_of, chunk_rows, register,
                                         (spools or {}).get(entity),
                                         read=RULE_COLUMNS[entity]):
            staged = perf_counter()
            out.append(run_entity_rules(entity, frame, as_of, f008_codes))
            del frame
            checked = perf_counter()
            seconds["staging"] = seconds.get("staging", 0.0) + staged - started
            seconds["row_rules"] = seconds.get("row_rules", 0.0) + checked - staged
            started = checked
    return pl.concat(out, how="vertical")
