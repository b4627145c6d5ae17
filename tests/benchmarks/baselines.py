"""The baselines a team would otherwise write, on the very rows Talon checks.

(a) Great Expectations 1.24 expectations on pandas DataFrames (pandas data source, one
    dataframe asset and suite per extract file): the row-level rules as far as GX's built-in
    expectations express them on the text columns (GX_RULES says, per rule, what is left out),
    and the set rules of checks/sql the same way (GX_SET_RULES; a second suite per file: the
    other frames' ids and the current reference codes are computed in pandas as value sets,
    in the timed setup).
(b) pandera (pandas backend) with vectorised checks: every row-level rule in full, dates parsed
    with pandas, SNILS/ENP checksums in numpy integer arithmetic (no row loop).
(c) The floor as issue 15 defines it: polars reading the extract files into memory, every
    column as text (files transcoded to UTF-8 beforehand, untimed; quotes not interpreted; one
    row per line). Kept beside it, cheaper still: one DuckDB query that reads every column of
    every raw table of the run (the floor of earlier sessions).

(a) and (b) read the run's raw tables from Talon's warehouse into pandas (`load_pandas`): by
definition they materialise whole tables in pandas, so the bench runs each in a process of its
own. The regexes are the ones Talon uses (checks.parsing, checks.identifiers, row_rules).
"""
from __future__ import annotations

import os
import warnings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from checks.identifiers import ENP_FORM, SNILS_FORM, SNILS_MIN_EXCLUSIVE  # noqa: E402
from checks.parsing import _DATE_FORMATS, _TS_FORMATS  # noqa: E402
from checks.row_rules import BIRTH_MIN, NAME_PATTERN  # noqa: E402
from flows.extract.contract import ALL_FILES, FILES, SLOT_STATUSES  # noqa: E402

ID_COLUMNS = {f.name: f.id_column for f in FILES}


@dataclass(frozen=True)
class Ctx:
    as_of: datetime
    f008_codes: tuple[str, ...]
    #: value sets of (a)'s set rules (gx_value_sets: other frames' ids, current reference
    #: codes), computed in pandas in (a)'s timed setup; empty until then
    sets: Mapping[str, list] = field(default_factory=dict)

    @property
    def d(self) -> pd.Timestamp:
        return pd.Timestamp(self.as_of.date())


# --- data ------------------------------------------------------------------------------------

def load_pandas(db_path: Path, run_id: str) -> dict[str, pd.DataFrame]:
    """The run's loaded raw rows, every contract column as text, one DataFrame per file."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        return {f.name: con.sql(f"SELECT {', '.join(f.columns)} FROM {f.raw_table} "
                                "WHERE run_id = ?", params=[run_id]).df() for f in FILES}


#: The reference tables (a)'s set rules read, as Talon reads them (the run's rows of the
#: warehouse's ref_* tables; checks.staging builds cur_mo / cur_smo from them, the V021 rule
#: reads ref_v021 directly).
REFERENCE_TABLES = {"f003": ("ref_f003", ("mcod", "d_begin", "d_end")),
                    "f002": ("ref_f002", ("smocod", "d_begin", "d_end")),
                    "v021": ("ref_v021", ("idspec", "date_begin", "date_end"))}


def load_reference(db_path: Path, run_id: str) -> dict[str, pd.DataFrame]:
    """The run's F003, F002 and V021 rows (dates as dates), one DataFrame each."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        return {name: con.sql(f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ?",
                              params=[run_id]).df()
                for name, (table, cols) in REFERENCE_TABLES.items()}


def run_context(db_path: Path, run_id: str) -> Ctx:
    """as_of of the run and the F008 codes valid on its date (what cur_f008 holds)."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        as_of = con.execute("SELECT as_of FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
        codes = con.execute(
            "SELECT DISTINCT iddoc FROM ref_f008 WHERE run_id = ? AND date_begin <= ? "
            "AND (date_end IS NULL OR date_end >= ?)", [run_id, as_of.date(), as_of.date()]
        ).fetchall()
    return Ctx(as_of, tuple(sorted(r[0] for r in codes)))


# --- (c) floor -------------------------------------------------------------------------------

def floor_sql() -> str:
    """One statement that reads every column of every raw table of the run (the register's too) `$run_id`:
    row count and total text length per table."""
    parts = []
    for f in ALL_FILES:
        chars = " + ".join(f"coalesce(sum(length({c})), 0)" for c in f.columns)
        parts.append(f"(SELECT count(*) AS rows, sum(line_no) AS lines, {chars} AS chars "
                     f"FROM {f.raw_table} WHERE run_id = $run_id) AS {f.name}")
    cols = ", ".join(f"{f.name}.rows, {f.name}.lines, {f.name}.chars" for f in ALL_FILES)
    return f"SELECT {cols} FROM " + ", ".join(parts)


def run_floor(db_path: Path, run_id: str) -> dict[str, dict[str, int]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        row = con.execute(floor_sql(), {"run_id": run_id}).fetchall()[0]
    return {f.name: {"rows": int(row[3 * i]), "chars": int(row[3 * i + 2])}
            for i, f in enumerate(ALL_FILES)
            if not (f.optional and int(row[3 * i]) == 0)}  # a batch without its register


# --- (c) the floor as issue 15 defines it: polars reading the files -------------------------

UTF8_MARKER = "floor-utf8.json"


def transcode_extract(extract: Path, out: Path) -> dict[str, dict]:
    """Untimed preparation of the file floor: each extract file Talon reads, decoded as Talon
    decides (flows.extract.dialect.detect_encoding; undecodable bytes replaced), written as
    UTF-8 without BOM, every line end as \\n. Per file: its path in `out` and its delimiter
    (dialect.detect_delimiter of the header line). Cached in `out` (a region's own folder)."""
    import codecs
    import json

    from flows.extract.dialect import detect_delimiter, detect_encoding

    marker = out / UTF8_MARKER
    if marker.is_file():
        return json.loads(marker.read_text())
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for f in ALL_FILES:
        src = extract / f"{f.name}.csv"
        if not src.is_file():
            continue
        decoder = codecs.getincrementaldecoder(detect_encoding(src).encoding)("replace")
        dst = out / src.name
        header = None
        with open(src, "rb") as fin, open(dst, "w", encoding="utf-8", newline="") as fout:
            pending_cr = False
            while True:
                chunk = fin.read(64 * 1024 * 1024)
                text = decoder.decode(chunk, final=not chunk)
                if pending_cr:
                    text = "\r" + text
                pending_cr = text.endswith("\r") and bool(chunk)
                if pending_cr:
                    text = text[:-1]
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                if header is None and text:
                    header = text.split("\n", 1)[0]
                fout.write(text)
                if not chunk:
                    break
        files[f.name] = {"path": str(dst), "separator": detect_delimiter(header or "")}
    marker.write_text(json.dumps(files, indent=1))
    return files


def read_file_floor(files: dict[str, dict]) -> tuple[dict, dict[str, dict]]:
    """Every transcoded file read into memory with polars: every column as text, quotes not
    interpreted (one row per line), rows with more fields than the header cut. The frames
    (all alive at the end: the files in memory) and per file: rows and bytes."""
    import polars as pl

    frames = {name: pl.read_csv(info["path"], separator=info["separator"], quote_char=None,
                                infer_schema=False, truncate_ragged_lines=True)
              for name, info in files.items()}
    out = {name: {"rows": frame.height, "columns": frame.width,
                  "bytes": Path(files[name]["path"]).stat().st_size}
           for name, frame in frames.items()}
    return frames, out


def type_file_floor(frames: dict, as_of) -> dict[str, dict]:
    """Not the floor, beside it: the floor's frames typed by Talon's own typing
    (checks.staging.typer, what the reader applies to each block), for the owner's decision on
    whether the floor should count typing. Approximate: the frames were split without reading
    quotes, so in a fully quoted file the quotes are cut off each field first (one more pass)
    and a quoted value holding the delimiter shifts that row's fields (its dates then do not
    parse). Per file: rows and typed columns."""
    import polars as pl

    from checks import staging

    register = "registry" in frames
    out = {}
    for name, frame in frames.items():
        if frame.columns and frame.columns[0].startswith('"'):
            frame = frame.rename({c: c.strip('"') for c in frame.columns}).with_columns(
                pl.all().str.strip_prefix('"').str.strip_suffix('"'))
        typed = staging.typer(name, as_of, register=register)(frame)
        out[name] = {"rows": typed.height, "typed_columns": typed.width - frame.width}
        frames[name] = typed  # kept in memory, as the floor keeps its frames
    return out


# --- (b) pandera on pandas: every rule, vectorised ------------------------------------------

def _empty(s: pd.Series) -> pd.Series:
    return s.isna() | (s.str.len() == 0)


def _matches(s: pd.Series, pattern: str) -> pd.Series:
    with warnings.catch_warnings():  # "has match groups": NAME_PATTERN's group is only grouping
        warnings.simplefilter("ignore", UserWarning)
        return s.str.contains(pattern, regex=True, na=False).astype(bool)


def _parse(s: pd.Series, formats) -> pd.Series:
    """Strict parse: a value is tried only with the format whose ASCII-digit regex it matches."""
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    for pattern, fmt in formats:
        hit = _matches(s, pattern)
        if hit.any():
            out[hit] = pd.to_datetime(s[hit], format=fmt, errors="coerce").astype("datetime64[us]")
    return out


def parse_date(s: pd.Series) -> pd.Series:
    return _parse(s, _DATE_FORMATS)


def parse_ts(s: pd.Series) -> pd.Series:
    return _parse(s, _TS_FORMATS)


def _digits(n: np.ndarray, power: int) -> np.ndarray:
    return (n // (10 ** power)) % 10


def snils_valid(s: pd.Series) -> pd.Series:
    """Accepted form, first nine > 001001998 and the right check number; never NA."""
    form = _matches(s, SNILS_FORM)
    out = pd.Series(False, index=s.index)
    if form.any():
        n = s[form].str.replace(r"[ -]", "", regex=True).astype("int64").to_numpy()
        first9, check = n // 100, n % 100
        total = sum(_digits(first9, 9 - i) * (10 - i) for i in range(1, 10))
        c = total % 101
        c = np.where(c == 100, 0, c)
        out[form] = (first9 > SNILS_MIN_EXCLUSIVE) & (check == c)
    return out


def enp_valid(s: pd.Series) -> pd.Series:
    """16 ASCII digits passing Luhn; never NA."""
    form = _matches(s, ENP_FORM)
    out = pd.Series(False, index=s.index)
    if form.any():
        n = s[form].astype("int64").to_numpy()
        total = np.zeros(len(n), dtype=np.int64)
        for k in range(16):
            d = _digits(n, 15 - k)
            total += np.where(d >= 5, 2 * d - 9, 2 * d) if k % 2 == 0 else d
        out[form] = total % 10 == 0
    return out


def _name_bad(s: pd.Series, optional: bool) -> pd.Series:
    bad = ~_matches(s, NAME_PATTERN)
    return bad & ~_empty(s) if optional else bad


def _pat_birth(df: pd.DataFrame, c: Ctx) -> pd.Series:
    b = parse_date(df["birth_date"])
    return b.isna() | (b > c.d) | (b < pd.Timestamp(BIRTH_MIN))


def _pol_number(df: pd.DataFrame, c: Ctx) -> pd.Series:
    t = df["policy_type"]
    t1, t2 = t == "1", t == "2"
    return ((t2 & ~_matches(df["policy_number"], r"^[0-9]{9}$"))
            | (t1 & _empty(df["policy_series"])) | (t1 & _empty(df["policy_number"]))
            | (t.isin(["2", "3"]) & ~_empty(df["policy_series"])))


def _pol_dates(df: pd.DataFrame, c: Ctx) -> pd.Series:
    begin, end = parse_date(df["date_begin"]), parse_date(df["date_end"])
    return begin.isna() | (~_empty(df["date_end"]) & end.isna()) | (end < begin)


def _att_active(df: pd.DataFrame, c: Ctx) -> pd.Series:
    attach, detach = parse_date(df["attach_date"]), parse_date(df["detach_date"])
    return (attach <= c.d) & (_empty(df["detach_date"]) | (detach > c.d))


def _sch_invalid(df: pd.DataFrame, c: Ctx) -> pd.Series:
    start, end = parse_ts(df["slot_start"]), parse_ts(df["slot_end"])
    status, patient = df["status"], df["patient_id"]
    return (start.isna() | end.isna() | (end <= start) | ~status.isin(list(SLOT_STATUSES))
            | ((status == "booked") & _empty(patient)) | ((status == "free") & ~_empty(patient)))


def _as_of(c: Ctx) -> pd.Timestamp:
    return pd.Timestamp(c.as_of)


@dataclass(frozen=True)
class PandasRule:
    code: str
    entity: str
    column: str | None  # a column check (gets the Series) or None: a frame check (gets the frame)
    violated: Callable  # (Series | DataFrame, Ctx) -> bool Series, True where the rule is broken


PANDAS_RULES: tuple[PandasRule, ...] = (
    PandasRule("PAT.SNILS.MISSING", "patients", "snils", lambda s, c: _empty(s)),
    PandasRule("PAT.SNILS.FORMAT", "patients", "snils",
               lambda s, c: ~_empty(s) & ~_matches(s, SNILS_FORM)),
    PandasRule("PAT.SNILS.CHECKSUM", "patients", "snils",
               lambda s, c: _matches(s, SNILS_FORM) & ~snils_valid(s)),
    PandasRule("PAT.NAME.INVALID", "patients", None,
               lambda df, c: (_name_bad(df["last_name"], False) | _name_bad(df["first_name"], False)
                              | _name_bad(df["middle_name"], True))),
    PandasRule("PAT.BIRTHDATE.INVALID", "patients", None, _pat_birth),
    PandasRule("PAT.SEX.INVALID", "patients", "sex", lambda s, c: ~s.isin(["1", "2"])),
    PandasRule("POL.TYPE.UNKNOWN", "policies", "policy_type",
               lambda s, c: ~s.isin(list(c.f008_codes))),
    PandasRule("POL.ENP.MISSING", "policies", None,
               lambda df, c: (df["policy_type"] == "3") & _empty(df["enp"])),
    PandasRule("POL.ENP.FORMAT", "policies", "enp",
               lambda s, c: ~_empty(s) & ~_matches(s, ENP_FORM)),
    PandasRule("POL.ENP.CHECKSUM", "policies", "enp",
               lambda s, c: _matches(s, ENP_FORM) & ~enp_valid(s)),
    PandasRule("POL.NUMBER.FORMAT", "policies", None, _pol_number),
    PandasRule("POL.DATES.INVALID", "policies", None, _pol_dates),
    PandasRule("ATT.METHOD.INVALID", "attachments", None,
               lambda df, c: _att_active(df, c) & ~df["attach_method"].isin(["1", "2", "3"])),
    PandasRule("ATT.DOCTOR.SNILS", "attachments", None,
               lambda df, c: _att_active(df, c) & ~snils_valid(df["doctor_snils"])),
    PandasRule("SCH.SLOT.INVALID", "slots", None, _sch_invalid),
    PandasRule("SCH.PAST.FREE", "slots", None,
               lambda df, c: (df["status"] == "free") & (parse_ts(df["slot_start"]) < _as_of(c))),
    PandasRule("SCH.DOCTOR.INACTIVE", "slots", None,
               lambda df, c: ((parse_ts(df["slot_start"]) >= _as_of(c)) & (df["status"] == "free")
                              & (df["doctor_status"] != "active"))),
)


def pandera_schemas(ctx: Ctx) -> dict:
    """One pandera.pandas DataFrameSchema per file; each check named by its rule code."""
    import pandera.pandas as pa

    schemas = {}
    for f in FILES:
        col_checks: dict[str, list] = {}
        frame_checks = []
        for rule in (r for r in PANDAS_RULES if r.entity == f.name):
            check = pa.Check(lambda x, v=rule.violated: ~v(x, ctx), name=rule.code,
                             ignore_na=False)
            (col_checks.setdefault(rule.column, []) if rule.column else frame_checks).append(check)
        columns = {c: pa.Column(str, nullable=True, checks=col_checks.get(c, []))
                   for c in f.columns}
        schemas[f.name] = pa.DataFrameSchema(columns, checks=frame_checks, name=f.name)
    return schemas


def run_pandera(frames: dict[str, pd.DataFrame], ctx: Ctx, schemas: dict) -> pd.DataFrame:
    """(check_code, record_id) of every failing row, from lazy validation (like Talon's)."""
    from pandera.errors import SchemaErrors

    codes = {r.code for r in PANDAS_RULES}
    out = [pd.DataFrame({"check_code": pd.Series([], dtype=str),
                         "record_id": pd.Series([], dtype=str)})]
    for name, schema in schemas.items():
        frame = frames[name]
        try:
            schema.validate(frame, lazy=True)
            continue
        except SchemaErrors as exc:
            cases = exc.failure_cases
        foreign = cases[~cases["check"].isin(codes) | cases["index"].isna()]
        if len(foreign):
            raise RuntimeError(f"pandera-pandas {name}: failure outside the rules: "
                               f"{foreign.head(5).to_dict('records')}")
        cases = cases[["check", "index"]].drop_duplicates()
        ids = frame[ID_COLUMNS[name]].to_numpy()[cases["index"].astype("int64").to_numpy()]
        out.append(pd.DataFrame({"check_code": cases["check"].to_numpy(), "record_id": ids}))
    return pd.concat(out, ignore_index=True)


# --- (a) Great Expectations on pandas: what its expectations express ------------------------

FULL, PARTIAL, NONE = "full", "partial", "not expressible"
_DATE_RES = [p for p, _ in _DATE_FORMATS]
_TS_RES = [p for p, _ in _TS_FORMATS]


@dataclass(frozen=True)
class GxRule:
    code: str
    entity: str
    coverage: str  # full | partial | not expressible
    expectations: Callable[[Ctx], list[Spec]]  # built-in expectations (none: not expressible)
    missing: str = ""  # what the expectations do not check


@dataclass(frozen=True)
class Spec:
    """One built-in GX expectation: class name, arguments, optional row condition
    ("==", column, value), ("!=", column, value) or ("in", column, values), or a tuple of
    such conditions, all of which must hold (GX's AndCondition). Built into GX objects by
    gx_setup only, so describing the suite needs no GX import."""

    expectation: str
    kwargs: dict
    where: tuple | None = None
    #: for the peers: the value set is this file's column's distinct values ((file, column)),
    #: which Soda reads as reference data instead of a list of every id
    ref: tuple | None = None

    def build(self):
        import great_expectations.expectations as gxe
        from great_expectations.expectations.row_conditions import Column

        def condition(op: str, column: str, value):
            if op == "==":
                return Column(column) == value
            if op == "!=":
                return Column(column) != value
            return Column(column).is_in(list(value))

        kwargs = dict(self.kwargs)
        if self.where is not None:
            parts = self.conditions
            row_condition = condition(*parts[0])
            for part in parts[1:]:
                row_condition = row_condition & condition(*part)
            kwargs["row_condition"] = row_condition
        return getattr(gxe, self.expectation)(**kwargs)

    @property
    def conditions(self) -> tuple:
        """The row condition as a tuple of (op, column, value), all of which must hold (empty:
        none); how each engine writes them is its own (GX here, the peers' filters)."""
        if self.where is None:
            return ()
        return self.where if isinstance(self.where[0], tuple) else (self.where,)


def _nonempty(column: str, where: tuple | None = None) -> Spec:
    return Spec("ExpectColumnValueLengthsToBeBetween", {"column": column, "min_value": 1}, where)


def _empty_where(column: str, where: tuple) -> Spec:
    return Spec("ExpectColumnValueLengthsToEqual", {"column": column, "value": 0}, where)


def _regex(column: str, regex: str, where: tuple | None = None) -> Spec:
    return Spec("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex}, where)


def _regex_any(column: str, regexes: list[str]) -> Spec:
    return Spec("ExpectColumnValuesToMatchRegexList",
                {"column": column, "regex_list": regexes, "match_on": "any"})


def _in_set(column: str, values, where: tuple | None = None, ref: tuple | None = None) -> Spec:
    return Spec("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)},
                where, ref)


def _optional(regex: str) -> str:
    """Empty, or the anchored pattern."""
    return f"^$|{regex}"


_T1, _T2, _T23 = ("==", "policy_type", "1"), ("==", "policy_type", "2"), \
    ("in", "policy_type", ("2", "3"))
_BOOKED, _FREE = ("==", "status", "booked"), ("==", "status", "free")


def _pol_number_gx(c: Ctx) -> list[Spec]:
    return [_regex("policy_number", r"^[0-9]{9}$", _T2), _nonempty("policy_series", _T1),
            _nonempty("policy_number", _T1), _empty_where("policy_series", _T23)]


def _slot_gx(c: Ctx) -> list[Spec]:
    return [_regex_any("slot_start", _TS_RES), _regex_any("slot_end", _TS_RES),
            _in_set("status", SLOT_STATUSES), _nonempty("patient_id", _BOOKED),
            _empty_where("patient_id", _FREE)]


_NOT_DATES = ("calendar validity (31.02) needs strptime per format, and GX's "
              "ExpectColumnValuesToMatchStrftimeFormat takes one format while the contract "
              "allows two; ranges/order need a parsed column")

GX_RULES: tuple[GxRule, ...] = (
    GxRule("PAT.SNILS.MISSING", "patients", FULL, lambda c: [_nonempty("snils")]),
    GxRule("PAT.SNILS.FORMAT", "patients", FULL,
           lambda c: [_regex("snils", _optional(SNILS_FORM))]),
    GxRule("PAT.SNILS.CHECKSUM", "patients", NONE, lambda c: [],
           "mod-101 check number: no built-in expectation (form is PAT.SNILS.FORMAT's regex)"),
    GxRule("PAT.NAME.INVALID", "patients", FULL,
           lambda c: [_regex("last_name", NAME_PATTERN), _regex("first_name", NAME_PATTERN),
                      _regex("middle_name", _optional(NAME_PATTERN))]),
    GxRule("PAT.BIRTHDATE.INVALID", "patients", PARTIAL,
           lambda c: [_regex_any("birth_date", _DATE_RES)],
           "form only (regex list); " + _NOT_DATES + " (1900-01-01 <= birth <= D)"),
    GxRule("PAT.SEX.INVALID", "patients", FULL, lambda c: [_in_set("sex", ("1", "2"))]),
    GxRule("POL.TYPE.UNKNOWN", "policies", FULL,
           lambda c: [_in_set("policy_type", c.f008_codes)]),
    GxRule("POL.ENP.MISSING", "policies", FULL,
           lambda c: [_nonempty("enp", ("==", "policy_type", "3"))]),
    GxRule("POL.ENP.FORMAT", "policies", FULL, lambda c: [_regex("enp", _optional(ENP_FORM))]),
    GxRule("POL.ENP.CHECKSUM", "policies", NONE, lambda c: [],
           "Luhn: no built-in expectation"),
    GxRule("POL.NUMBER.FORMAT", "policies", FULL, _pol_number_gx),
    GxRule("POL.DATES.INVALID", "policies", PARTIAL,
           lambda c: [_regex_any("date_begin", _DATE_RES),
                      _regex_any("date_end", ["^$", *_DATE_RES])],
           "form only; " + _NOT_DATES + " (date_end >= date_begin across two formats)"),
    GxRule("ATT.METHOD.INVALID", "attachments", PARTIAL,
           lambda c: [_in_set("attach_method", ("1", "2", "3"))],
           "checked on every row: 'active on D' is a date comparison on text, not a row_condition"),
    GxRule("ATT.DOCTOR.SNILS", "attachments", PARTIAL,
           lambda c: [_regex("doctor_snils", SNILS_FORM)],
           "form only, every row: no checksum, no 'active on D' condition"),
    GxRule("SCH.SLOT.INVALID", "slots", PARTIAL, _slot_gx,
           "timestamps: form only (six formats, regex list); calendar validity and "
           "slot_end > slot_start need parsed columns"),
    GxRule("SCH.PAST.FREE", "slots", NONE, lambda c: [],
           "slot_start < as_of: a comparison of text in three formats"),
    GxRule("SCH.DOCTOR.INACTIVE", "slots", PARTIAL,
           lambda c: [_in_set("doctor_status", ("active",), _FREE)],
           "every free slot: 'in the future' (slot_start >= as_of) is not expressible"),
)


# --- (a) GX: the set rules (checks/sql) as far as built-in expectations express them -------

def _current_codes(ref: pd.DataFrame, code: str, d: pd.Timestamp) -> tuple[list, list]:
    """(every code, the codes not excluded on D) of F003 / F002 as checks.staging's cur_mo /
    cur_smo: a code is excluded when every inclusion period of it (a row with a begin or an
    end date) ended before D, or when it has no period at all."""
    period = ref["d_begin"].notna() | ref["d_end"].notna()
    ended = ref["d_end"].notna() & (ref["d_end"] < d)
    return (ref[code].dropna().unique().tolist(),
            ref.loc[period & ~ended, code].dropna().unique().tolist())


#: The set rules' value sets of ids: (value set, the file whose distinct patient_ids it holds).
ID_SETS = (("patient_ids", "patients"), ("policy_patient_ids", "policies"),
           ("attachment_patient_ids", "attachments"))


def gx_value_sets(frames: dict[str, pd.DataFrame], refs: dict[str, pd.DataFrame],
                  ctx: Ctx) -> dict[str, list]:
    """What a team computes in pandas to feed GX's set expectations (part of (a)'s timed
    setup): the other frames' distinct ids and the reference codes current on D."""
    return {**{key: frames[name]["patient_id"].unique().tolist() for key, name in ID_SETS},
            **reference_value_sets(refs, ctx)}


def reference_value_sets(refs: dict[str, pd.DataFrame], ctx: Ctx) -> dict[str, list]:
    """The reference codes current on D (F003, F002 as checks.staging's cur_mo / cur_smo;
    V021 valid on D)."""
    d = ctx.d
    mo, mo_live = _current_codes(refs["f003"], "mcod", d)
    _, smo_live = _current_codes(refs["f002"], "smocod", d)
    v = refs["v021"]
    v021 = v.loc[(v["date_begin"] <= d) & (v["date_end"].isna() | (v["date_end"] >= d)),
                 "idspec"].dropna().unique().tolist()
    return {"mo": mo, "mo_live": mo_live, "mo_excluded": sorted(set(mo) - set(mo_live)),
            "smo_live": smo_live, "v021_on_d": v021}


def _set(c: Ctx, name: str) -> list:
    return list(c.sets.get(name, ()))


def _not_in_set(column: str, values, where: tuple | None = None) -> Spec:
    return Spec("ExpectColumnValuesToNotBeInSet", {"column": column, "value_set": list(values)},
                where)


def _unique(column: str, where: tuple | None = None) -> Spec:
    return Spec("ExpectColumnValuesToBeUnique", {"column": column}, where)


_ACTIVE = ("'active on D' is a comparison of dates held as text in two formats, not a "
           "row_condition: checked on every {0}, not only active ones")
_FUTURE = ("'future' (slot_start >= as_of) is a comparison of text in six timestamp formats, "
           "not a row_condition: checked on every {0}slot")

def _patient_orphan(code: str, entity: str) -> GxRule:
    """A file's rows whose patient_id is not a patient's (the orphan rules: fully expressed)."""
    return GxRule(code, entity, FULL,
                  lambda c: [_in_set("patient_id", _set(c, "patient_ids"),
                                     ref=("patients", "patient_id"))],
                  "value set: the patients' distinct patient_ids")


GX_SET_RULES: tuple[GxRule, ...] = (
    GxRule("PAT.SNILS.DUPLICATE", "patients", PARTIAL,
           lambda c: [_unique("snils", ("!=", "snils", ""))],
           "every non-empty SNILS as written: not its 11 digits (a formatted and a bare form of "
           "one number do not collide), not only valid ones (checksum), and one patient_id "
           "listed twice with the same SNILS is flagged"),
    GxRule("PAT.POLICY.NONE", "patients", PARTIAL,
           lambda c: [_in_set("patient_id", _set(c, "policy_patient_ids"),
                              ref=("policies", "patient_id"))],
           "value set: the patient_ids of every policy; " + _ACTIVE.format("policy")),
    GxRule("PAT.ATTACHMENT.NONE", "patients", PARTIAL,
           lambda c: [_in_set("patient_id", _set(c, "attachment_patient_ids"),
                              ref=("attachments", "patient_id"))],
           "value set: the patient_ids of every attachment (" + _ACTIVE.format("attachment")
           + "); the condition 'has an active policy' is on another table: patients without "
           "one are flagged too"),
    GxRule("POL.SMO.UNKNOWN", "policies", PARTIAL,
           lambda c: [_in_set("smo_code", _set(c, "smo_live"))],
           "value set: the F002 codes not excluded on D; " + _ACTIVE.format("policy")),
    GxRule("POL.ACTIVE.MULTIPLE", "policies", PARTIAL, lambda c: [_unique("patient_id")],
           _ACTIVE.format("policy")),
    _patient_orphan("POL.PATIENT.ORPHAN", "policies"),
    GxRule("ATT.MO.UNKNOWN", "attachments", PARTIAL,
           lambda c: [_in_set("mo_code", _set(c, "mo"))],
           "value set: the F003 codes; " + _ACTIVE.format("attachment")),
    GxRule("ATT.MO.EXCLUDED", "attachments", PARTIAL,
           lambda c: [_not_in_set("mo_code", _set(c, "mo_excluded"))],
           "value set: the F003 codes excluded on D; " + _ACTIVE.format("attachment")),
    GxRule("ATT.POLICY.REGION", "attachments", NONE, lambda c: [],
           "the MO code's first two characters against the KOD_TF (F010) of the okato of the "
           "patient's one active policy: a join over two tables and a classifier, no built-in "
           "expectation"),
    GxRule("ATT.ACTIVE.MULTIPLE", "attachments", PARTIAL, lambda c: [_unique("patient_id")],
           _ACTIVE.format("attachment")),
    GxRule("ATT.DATES.INVALID", "attachments", PARTIAL,
           lambda c: [_regex_any("attach_date", _DATE_RES),
                      _regex_any("detach_date", ["^$", *_DATE_RES])],
           "form only; " + _NOT_DATES + " (attach_date <= D, >= the birth date of the patient "
           "in another table, detach_date >= attach_date)"),
    _patient_orphan("ATT.PATIENT.ORPHAN", "attachments"),
    GxRule("SCH.MO.UNKNOWN", "slots", PARTIAL,
           lambda c: [_in_set("mo_code", _set(c, "mo_live"))],
           "value set: the F003 codes not excluded on D; " + _FUTURE.format("")),
    GxRule("SCH.SPECIALTY.UNKNOWN", "slots", PARTIAL,
           lambda c: [_in_set("specialty_code", _set(c, "v021_on_d"))],
           "value set: the V021 codes valid on D, not on each slot's own date; "
           + _FUTURE.format("")),
    GxRule("SCH.OVERLAP", "slots", NONE, lambda c: [],
           "overlapping [start, end) intervals of a doctor's slots: parsed timestamps compared "
           "across rows, no built-in expectation"),
    GxRule("SCH.DOUBLE_BOOKING", "slots", PARTIAL,
           lambda c: [Spec("ExpectCompoundColumnsToBeUnique",
                           {"column_list": ["doctor_id", "slot_start"]}, _BOOKED)],
           "only booked slots of a doctor starting at the same text (overlapping intervals need "
           "parsed timestamps across rows); two slots of the same patient are flagged too; "
           + _FUTURE.format("booked ")),
    GxRule("SCH.BOOKED.ORPHAN", "slots", PARTIAL,
           lambda c: [_in_set("patient_id", _set(c, "patient_ids"),
                              (_BOOKED, ("!=", "patient_id", "")), ("patients", "patient_id"))],
           "value set: the patients' distinct patient_ids; " + _FUTURE.format("booked ")),
    GxRule("SCH.STALE", "slots", NONE, lambda c: [],
           "per doctor, the latest parseable updated_at of its future slots against as_of - "
           "24 h: an aggregate of parsed timestamps, no built-in expectation"),
    GxRule("SCH.DOCTOR.SNILS", "slots", PARTIAL,
           lambda c: [_regex("doctor_snils", SNILS_FORM)],
           "form only, per slot (Talon: one finding per doctor): no checksum; "
           + _FUTURE.format("")),
    GxRule("SCH.HORIZON.EMPTY", "slots", NONE, lambda c: [],
           "per (MO, specialty) pair, whether a free slot starts within the horizon: a grouped "
           "aggregate over a time window, no built-in expectation"),
)


def gx_context():
    """Ephemeral context and its pandas data source."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig)

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                               analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False))
    context = gx.get_context(project_config=config, mode="ephemeral")
    return context, context.data_sources.add_pandas("talon_bench")


def gx_setup(ctx: Ctx, rules: tuple[GxRule, ...] = GX_RULES, gx_context_source=None,
             part: str = "rows"):
    """One dataframe asset + suite + validation definition per file with expectations among
    `rules` (in the given context and source, or a new ephemeral one). Returns
    {file: ValidationDefinition}."""
    import great_expectations as gx

    context, source = gx_context_source or gx_context()
    definitions = {}
    for f in FILES:
        mine = [r for r in rules if r.entity == f.name and r.coverage != NONE]
        if not mine:
            continue
        batch = (source.add_dataframe_asset(name=f"{f.name}.{part}")
                 .add_batch_definition_whole_dataframe("all"))
        suite = context.suites.add(gx.ExpectationSuite(name=f"bench.{part}.{f.name}"))
        for rule in mine:
            for spec in rule.expectations(ctx):
                expectation = spec.build()
                expectation.meta = {"check_code": rule.code}
                suite.add_expectation(expectation)
        definitions[f.name] = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"bench.{part}.{f.name}", data=batch, suite=suite))
    return definitions


def gx_setup_set_rules(ctx: Ctx, frames: dict[str, pd.DataFrame],
                       refs: dict[str, pd.DataFrame], gx_context_source=None):
    """The set rules' suites: their value sets computed in pandas, then as gx_setup."""
    return gx_setup(replace(ctx, sets=gx_value_sets(frames, refs, ctx)), GX_SET_RULES,
                    gx_context_source, "sets")


def run_gx(frames: dict[str, pd.DataFrame], definitions: dict,
           result_format: str = "SUMMARY") -> dict:
    """Validate every file; per check code: number of expectations, unexpected rows (summed
    over its expectations), and whether all succeeded; raises when an expectation raised."""
    out: dict[str, dict] = {}
    for name, definition in definitions.items():
        result = definition.run(batch_parameters={"dataframe": frames[name]},
                                result_format=result_format)
        for r in result.results:
            code = r.expectation_config.meta["check_code"]
            info = r.exception_info or {}
            if info.get("raised_exception"):
                raise RuntimeError(f"GX expectation of {code} raised: {info.get('exception_message')}")
            row = out.setdefault(code, {"expectations": 0, "unexpected": 0, "success": True})
            row["expectations"] += 1
            row["unexpected"] += int((r.result or {}).get("unexpected_count") or 0)
            row["success"] &= bool(r.success)
    return out


def gx_coverage(rules: tuple[GxRule, ...] = GX_RULES) -> list[dict]:
    """Per rule: how much of it GX expresses (for the results tables); GX_SET_RULES for the
    set rules."""
    ctx = Ctx(datetime(2000, 1, 1), ("1",))
    return [{"code": r.code, "entity": r.entity, "coverage": r.coverage,
             "expectations": [e.expectation for e in r.expectations(ctx)],
             "missing": r.missing} for r in rules]


__all__ = ["Ctx", "load_pandas", "run_context", "floor_sql", "run_floor", "transcode_extract",
           "read_file_floor", "type_file_floor", "PANDAS_RULES",
           "pandera_schemas", "run_pandera", "GX_RULES", "GX_SET_RULES", "gx_context",
           "gx_setup", "gx_setup_set_rules", "gx_value_sets", "load_reference", "run_gx",
           "gx_coverage"]
