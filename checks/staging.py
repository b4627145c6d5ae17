"""Typed staging tables of one run, so both rule engines share one parsing implementation.

The raw_* rows of the run are read once (DuckDB → Arrow → polars), typed with the polars
expressions of checks.parsing and checks.identifiers, written back as stg_* tables for the SQL
rules and returned for the pandera rules. The cur_* tables resolve the reference classifiers
of the run on D = as_of.date().
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import polars as pl

from checks.identifiers import snils_digits, snils_valid
from checks.parsing import parse_date, parse_timestamp
from flows.extract.contract import ATTACHMENTS, PATIENTS, POLICIES, SLOTS, ExtractFile


@dataclass(frozen=True, eq=False)
class Staged:
    """The typed frames of one run (the content of stg_*), and the F008 codes valid on D."""

    run_id: str
    as_of: datetime
    patients: pl.DataFrame
    policies: pl.DataFrame
    attachments: pl.DataFrame
    slots: pl.DataFrame
    f008_codes: frozenset[str]

    @property
    def d(self) -> date:
        return self.as_of.date()


def is_empty(column: str) -> pl.Expr:
    """Zero-length text (nothing trimmed); a NULL counts as empty. Never null."""
    return pl.col(column).is_null() | (pl.col(column).str.len_bytes() == 0)


def stage_patients(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    return raw.with_columns(
        birth_date_d=parse_date(pl.col("birth_date")),
        snils_digits=snils_digits(pl.col("snils")),
        snils_valid=snils_valid(pl.col("snils")),
    )


def stage_policies(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    d = pl.lit(as_of.date())
    typed = raw.with_columns(
        date_begin_d=parse_date(pl.col("date_begin")),
        date_end_d=parse_date(pl.col("date_end")),
    )
    # Reading 1: an empty/unparseable begin, or a non-empty unparseable end, is not active.
    active = (pl.col("date_begin_d") <= d) & (
        is_empty("date_end") | (pl.col("date_end_d") >= d))
    return typed.with_columns(is_active=active.fill_null(False))


def stage_attachments(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    d = pl.lit(as_of.date())
    typed = raw.with_columns(
        attach_date_d=parse_date(pl.col("attach_date")),
        detach_date_d=parse_date(pl.col("detach_date")),
        doctor_snils_valid=snils_valid(pl.col("doctor_snils")),
    )
    active = (pl.col("attach_date_d") <= d) & (
        is_empty("detach_date") | (pl.col("detach_date_d") > d))
    return typed.with_columns(is_active=active.fill_null(False))


def stage_slots(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    typed = raw.with_columns(
        start_ts=parse_timestamp(pl.col("slot_start")),
        end_ts=parse_timestamp(pl.col("slot_end")),
        updated_ts=parse_timestamp(pl.col("updated_at")),
        doctor_snils_valid=snils_valid(pl.col("doctor_snils")),
    )
    return typed.with_columns(
        time_valid=(pl.col("end_ts") > pl.col("start_ts")).fill_null(False),
        is_future=(pl.col("start_ts") >= pl.lit(as_of, dtype=pl.Datetime("us"))).fill_null(False),
    )


_STAGERS = (
    (PATIENTS, stage_patients),
    (POLICIES, stage_policies),
    (ATTACHMENTS, stage_attachments),
    (SLOTS, stage_slots),
)


def read_raw(con: duckdb.DuckDBPyConnection, spec: ExtractFile, run_id: str) -> pl.DataFrame:
    """The loaded rows of one raw table for a run, every contract column as text (row order is
    irrelevant: findings map row positions of this very frame)."""
    cols = ", ".join(("run_id", "line_no") + spec.columns)
    rel = con.sql(f"SELECT {cols} FROM {spec.raw_table} WHERE run_id = $run_id",
                  params={"run_id": run_id})
    return rel.pl()  # Arrow under the hood


def write_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """CREATE OR REPLACE TABLE name from a polars frame (via a registered Arrow view)."""
    view = f"_talon_{name}_src"
    con.register(view, frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


# Excluded: every inclusion period (F003 medInclude / F002 insInclude) ended before D. The
# loader writes a member without periods as one row with neither date: no period, so vacuous.
_EXCLUDED = """COALESCE(
        BOOL_AND(d_end IS NOT NULL AND d_end < $d)
            FILTER (WHERE d_begin IS NOT NULL OR d_end IS NOT NULL),
        TRUE)"""

_CURRENT_SQL = (
    f"""CREATE OR REPLACE TABLE cur_mo AS
    SELECT mcod,
           FIRST(name ORDER BY d_begin DESC NULLS LAST, d_end DESC NULLS FIRST, name) AS name,
           FIRST(e_mail ORDER BY d_begin DESC NULLS LAST, d_end DESC NULLS FIRST, name) AS e_mail,
           {_EXCLUDED} AS excluded
    FROM ref_f003 WHERE run_id = $run_id GROUP BY mcod""",
    f"""CREATE OR REPLACE TABLE cur_smo AS
    SELECT smocod, {_EXCLUDED} AS excluded
    FROM ref_f002 WHERE run_id = $run_id GROUP BY smocod""",
    """CREATE OR REPLACE TABLE cur_f008 AS
    SELECT DISTINCT iddoc FROM ref_f008
    WHERE run_id = $run_id AND date_begin <= $d AND (date_end IS NULL OR date_end >= $d)""",
    """CREATE OR REPLACE TABLE cur_f010 AS
    SELECT DISTINCT kod_okato, kod_tf FROM ref_f010
    WHERE run_id = $run_id AND date_begin <= $d AND (date_end IS NULL OR date_end >= $d)""",
)


def build_current_reference(con: duckdb.DuckDBPyConnection, run_id: str, d: date) -> None:
    """cur_mo, cur_smo, cur_f008, cur_f010: the run's classifiers as they stand on D."""
    for sql in _CURRENT_SQL:
        params = {"run_id": run_id, "d": d} if "$d" in sql else {"run_id": run_id}
        con.execute(sql, params)


def build_staging(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime) -> Staged:
    """Build stg_* and cur_* for one run (replacing the previous run's) and return the frames."""
    frames = {}
    for spec, stage in _STAGERS:
        frame = stage(read_raw(con, spec, run_id), as_of)
        write_table(con, f"stg_{spec.name}", frame)
        frames[spec.name] = frame
    build_current_reference(con, run_id, as_of.date())
    codes = frozenset(r[0] for r in con.execute("SELECT iddoc FROM cur_f008").fetchall())
    return Staged(run_id=run_id, as_of=as_of, f008_codes=codes, **frames)
