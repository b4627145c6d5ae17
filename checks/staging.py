"""Typed staging tables of one run, so both rule engines share one parsing implementation.

A run types its rows while the files are read: the reader applies `typer(entity, as_of)` to
each block (the frames are in memory then) and spools the text and typed columns together as
Parquet (`TypedSpool`). Staging then builds each TEMP stg_* table for the SQL rules (the
columns they read: STAGED_COLUMNS) straight from that spool in DuckDB, and hands the typed
frames chunk by chunk to the pandera rules, read by polars with only the columns those rules
read (row_rules.RULE_COLUMNS): no text goes back and forth through DuckDB before the checks.
A run already in the warehouse (re-checked, or loaded by a test) is typed from its
raw_* rows instead (DuckDB → Arrow → polars), with the very same expressions. The cur_* tables resolve the reference classifiers of the run
on D = as_of.date().

stg_* and cur_* are TEMP tables of the run's connection: they never reach the warehouse file
(writing them there cost more than the typing) and vanish with the connection. Only that
connection sees them; DuckDB cursors (`con.cursor()`) are separate connections and do not.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from checks.identifiers import enp_valid, snils_digits, snils_valid, snils_valid_digits
from checks.parsing import parse_date, parse_timestamp
from flows.extract.contract import ATTACHMENTS, PATIENTS, POLICIES, REGISTRY, SLOTS, ExtractFile
from flows.warehouse import sql_text


def is_empty(column: str) -> pl.Expr:
    """Zero-length text (nothing trimmed); a NULL counts as empty. Never null."""
    return pl.col(column).is_null() | (pl.col(column).str.len_bytes() == 0)


def per_distinct(raw: pl.DataFrame, column: str, typing: Callable[[pl.Expr], pl.Expr]
                 ) -> pl.Series:
    """typing(column) (elementwise) computed once per distinct value of the column and mapped
    back to the rows: the same values, for a fraction of the CPU where values repeat (names, a
    doctor's SNILS, slot times on a schedule grid: a block of 250k rows holds about 1k of
    each). Not for mostly distinct values (ids, update times): there mapping back costs more."""
    values = raw[column]
    distinct = values.unique(maintain_order=True)
    typed = distinct.to_frame().select(typing(pl.col(column))).to_series()
    if distinct.len() == values.len():  # all distinct, in order (also: no row)
        return typed
    return values.replace_strict(distinct, typed, return_dtype=typed.dtype)


def with_name_norms(frame: pl.DataFrame) -> pl.DataFrame:
    """The register's name norms (checks/register.py NAME_NORMS: norm_name of each name), each
    spelling normalised once per block (per_distinct)."""
    from checks.register import NAME_NORMS, norm_name

    return frame.with_columns(**{n: per_distinct(frame, c, norm_name)
                                 for n, c in NAME_NORMS.items()})


def stage_patients(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    return raw.with_columns(
        birth_date_d=parse_date(pl.col("birth_date")),
        snils_digits=snils_digits(pl.col("snils")),
    ).with_columns(snils_valid=snils_valid_digits(pl.col("snils_digits")))


def stage_policies(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    d = pl.lit(as_of.date())
    typed = raw.with_columns(
        date_begin_d=parse_date(pl.col("date_begin")),
        date_end_d=parse_date(pl.col("date_end")),
        enp_valid=enp_valid(pl.col("enp")).fill_null(False),
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
        doctor_snils_valid=per_distinct(raw, "doctor_snils", snils_valid),
    )
    active = (pl.col("attach_date_d") <= d) & (
        is_empty("detach_date") | (pl.col("detach_date_d") > d))
    return typed.with_columns(is_active=active.fill_null(False))


def stage_slots(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    typed = raw.with_columns(
        start_ts=per_distinct(raw, "slot_start", parse_timestamp),
        end_ts=per_distinct(raw, "slot_end", parse_timestamp),
        updated_ts=parse_timestamp(pl.col("updated_at")),
        doctor_snils_valid=per_distinct(raw, "doctor_snils", snils_valid),
    )
    return typed.with_columns(
        time_valid=(pl.col("end_ts") > pl.col("start_ts")).fill_null(False),
        is_future=(pl.col("start_ts") >= pl.lit(as_of, dtype=pl.Datetime("us"))).fill_null(False),
    )


def stage_registry(raw: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The insured-persons register (catalogue v1.2): dates, ENP and SNILS validity, and the
    normalised names (checks/register.py norm_name, the same expression as for patients)."""
    return with_name_norms(raw).with_columns(
        enp_valid=enp_valid(pl.col("enp")).fill_null(False),
        birth_date_d=parse_date(pl.col("birth_date")),
        policy_end_d=parse_date(pl.col("policy_end")),
        death_date_d=parse_date(pl.col("death_date")),
        snils_digits=snils_digits(pl.col("snils")),
    ).with_columns(snils_valid=snils_valid_digits(pl.col("snils_digits")))


_STAGERS = {
    PATIENTS.name: (PATIENTS, stage_patients),
    POLICIES.name: (POLICIES, stage_policies),
    ATTACHMENTS.name: (ATTACHMENTS, stage_attachments),
    SLOTS.name: (SLOTS, stage_slots),
    REGISTRY.name: (REGISTRY, stage_registry),
}

#: The staged entities of every run, in the order a run stages them (the row rules check
#: each). The register (optional) is staged by checks/register.py when the run has one.
ENTITIES: tuple[str, ...] = (PATIENTS.name, POLICIES.name, ATTACHMENTS.name, SLOTS.name)

#: What each TEMP stg_* table keeps: the columns the SQL side reads (the set rules in
#: checks/sql, the GX suite running the same SQL, routing and duplicate-id findings in
#: checks/findings.py). The row rules get every column of the typed frame; the tables don't,
#: because DuckDB holds TEMP tables uncompressed: all columns took about 10 GB at 10M
#: patients and spilled under a 4 GB memory cap. tests/checks/test_set_rules.py builds its
#: tables with exactly these columns, so a rule reading anything else fails there.
STAGED_COLUMNS: dict[str, tuple[str, ...]] = {
    PATIENTS.name: ("patient_id", "snils", "snils_digits", "snils_valid", "birth_date_d"),
    POLICIES.name: ("policy_id", "patient_id", "policy_type", "enp", "enp_valid", "smo_code",
                    "okato", "date_begin_d", "date_end", "is_active"),
    ATTACHMENTS.name: ("attachment_id", "patient_id", "mo_code", "attach_date", "detach_date",
                       "attach_date_d", "detach_date_d", "is_active"),
    SLOTS.name: ("slot_id", "mo_code", "doctor_id", "doctor_snils", "doctor_status",
                 "specialty_code", "slot_start", "slot_end", "status", "patient_id",
                 "updated_at", "start_ts", "end_ts", "updated_ts", "doctor_snils_valid",
                 "time_valid", "is_future"),
    REGISTRY.name: ("enp", "enp_valid", "last_name", "first_name", "middle_name", "nl", "nf",
                    "nm", "birth_date_d", "sex", "snils_digits", "snils_valid", "smo_code",
                    "policy_end_d", "death_date_d", "attach_mo_code"),
}
#: What stg_patients keeps besides, when the run has a register: what linking and the REG
#: rules read (names as written and normalised, sex, the texts a finding shows).
REGISTER_COLUMNS: dict[str, tuple[str, ...]] = {
    PATIENTS.name: ("last_name", "first_name", "middle_name", "nl", "nf", "nm", "birth_date",
                    "sex"),
}
STAGING_TABLES: tuple[str, ...] = tuple(f"stg_{e}" for e in _STAGERS)


def typer(entity: str, as_of: datetime, register: bool = False
          ) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The typing of one entity's loaded rows on D = as_of.date(), for the reader to apply to
    each block as it is read: text columns in, the same plus every typed column out. With
    `register` (the batch has an insured-persons register) patients also get their normalised
    names. Row by row, so block by block it types exactly what it types on a whole table.
    Each row also gets its filled flags (checks.feed.FILLED_MASK), which feed health counts
    instead of reading every text column of the file again."""
    from checks.feed import filled_mask

    spec, stage = _STAGERS[entity]
    if register and entity == PATIENTS.name:
        stage = _then(stage, with_name_norms)
    mask = filled_mask(spec.columns)
    return lambda rows: stage(rows, as_of).with_columns(mask)


@dataclass(frozen=True)
class TypedSpool:
    """Where a read file's typed rows wait (the reader's spool: text and typed columns, one
    Parquet file), minus `excluded` (line numbers of later duplicates, quarantined)."""

    entity: str
    path: Path
    excluded: tuple[int, ...] = field(default=())


def _from_spool(con: duckdb.DuckDBPyConnection, table: str, spool: TypedSpool,
                columns: tuple[str, ...]) -> None:
    """CREATE OR REPLACE TEMP TABLE `table` with `columns` of the spool's rows (DuckDB reads
    the Parquet file itself, in parallel)."""
    cols = ", ".join(f"s.{c}" for c in columns)
    source = f"read_parquet({sql_text(str(spool.path))}) AS s"
    if not spool.excluded:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {cols} FROM {source}")
        return
    view = f"_talon_{table}_excluded"
    con.register(view, pa.table({"line_no": pa.array(spool.excluded, pa.int64())}))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {cols} FROM {source} "
                    f"ANTI JOIN {view} AS x ON x.line_no = s.line_no")
    finally:
        con.unregister(view)


def _spool_chunks(spool: TypedSpool, chunk_rows: int, columns: tuple[str, ...] | None = None):
    """The spool's typed rows, `chunk_rows` spool rows at a time, as polars frames (duplicates
    left out): every column, or only `columns`; one empty frame with those columns when the
    spool holds no row. polars reads the Parquet file itself, only the row groups of each
    slice and only the columns asked for (through pyarrow, every column of 1M patients cost
    ~1.5 CPU s, the projected polars read ~0.1 s)."""
    import pyarrow.parquet as pq

    rows = pq.read_metadata(spool.path).num_rows
    scan = pl.scan_parquet(spool.path)
    if columns is not None:
        scan = scan.select(_with_line_no(columns))
    if rows == 0:
        yield scan.collect()
        return
    excluded = pl.Series("line_no", spool.excluded, pl.Int64).implode()
    for offset in range(0, rows, chunk_rows):
        chunk = scan.slice(offset, chunk_rows)
        if spool.excluded:
            chunk = chunk.filter(~pl.col("line_no").is_in(excluded))
        yield chunk.collect()


CURRENT_TABLES = ("cur_mo", "cur_smo", "cur_f008", "cur_f010")


def read_raw(con: duckdb.DuckDBPyConnection, spec: ExtractFile, run_id: str) -> pl.DataFrame:
    """The loaded rows of one raw table for a run, every contract column as text (row order is
    irrelevant: findings map row positions of this very frame)."""
    cols = ", ".join(("run_id", "line_no") + spec.columns)
    rel = con.sql(f"SELECT {cols} FROM {spec.raw_table} WHERE run_id = $run_id",
                  params={"run_id": run_id})
    return rel.pl()  # Arrow under the hood


def write_temp_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame,
                     append: bool = False) -> None:
    """CREATE OR REPLACE TEMP TABLE name from a polars frame, or with `append` add the rows to
    it (via a registered Arrow view; the newest compat level hands string views over without
    converting them)."""
    view = f"_talon_{name}_src"
    con.register(view, frame.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        con.execute(f"INSERT INTO {name} SELECT * FROM {view}" if append
                    else f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def drop_persisted_staging(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Drop the persistent stg_*/cur_* tables that warehouses of earlier versions hold: they
    waste space and would answer for the TEMP tables on any other connection. One catalog
    query when there are none."""
    found = con.execute(
        "SELECT database_name, table_name FROM duckdb_tables() WHERE NOT temporary "
        "AND database_name = current_database() AND schema_name = 'main' "
        "AND list_contains($names, table_name)",
        {"names": list(STAGING_TABLES + CURRENT_TABLES)}).fetchall()
    for database, table in found:
        quoted = database.replace('"', '""')
        con.execute(f'DROP TABLE "{quoted}".main.{table}')
    return [table for _, table in found]


def stage_entity(con: duckdb.DuckDBPyConnection, run_id: str, entity: str,
                 as_of: datetime) -> pl.DataFrame:
    """Type one raw table of the run, store it as the TEMP table stg_<entity> (replacing the
    previous run's) and return the whole frame: stage_entity_chunks in a single chunk."""
    whole = stage_entity_chunks(con, run_id, entity, as_of, chunk_rows=2**62)
    return pl.concat(list(whole))


#: Rows typed and checked at a time: bounds the polars memory of staging whatever the region.
CHUNK_ROWS = 2_000_000
#: Rows per Arrow batch fetched from DuckDB (a chunk gathers several).
_BATCH_ROWS = 1_000_000


def stage_entity_chunks(con: duckdb.DuckDBPyConnection, run_id: str, entity: str,
                        as_of: datetime, chunk_rows: int | None = None,
                        register: bool = False, spool: TypedSpool | None = None,
                        frames: bool = True, read: tuple[str, ...] | None = None):
    """Type one raw table of the run chunk by chunk (CHUNK_ROWS rows, or `chunk_rows`): yields
    each typed chunk after adding it to the TEMP table stg_<entity> (which replaces the
    previous run's). Typing and the row rules look at one row at a time, so chunk by chunk
    they find exactly what they find on the whole table; only one chunk is in memory at once.
    The raw rows stream through a cursor (its own connection), since `con` writes meanwhile.
    With `register` (the run has an insured-persons register) the table also keeps
    REGISTER_COLUMNS, and patients get their normalised names.

    With `spool` (the rows typed while the file was read, with the same `register`), the table
    comes straight from it and the typed chunks are read from it: nothing is typed here. With
    `frames=False` nothing is yielded (the caller only needs the table); with `read`, the
    frames hold only those columns (and line_no): what the caller reads, so a spool gives no
    other column (row_rules.RULE_COLUMNS)."""
    spec, _ = _STAGERS[entity]
    columns = STAGED_COLUMNS[entity] + (REGISTER_COLUMNS.get(entity, ()) if register else ())
    chunk_rows = chunk_rows or CHUNK_ROWS
    if spool is not None:
        _from_spool(con, f"stg_{entity}", spool, columns)
        if frames:
            yield from _spool_chunks(spool, chunk_rows, read)
        return
    stage = typer(entity, as_of, register)
    cols = ", ".join(("run_id", "line_no") + spec.columns)
    reader = con.cursor()
    try:
        batches = reader.sql(f"SELECT {cols} FROM {spec.raw_table} WHERE run_id = $run_id",
                             params={"run_id": run_id}).fetch_record_batch(
                                 min(chunk_rows, _BATCH_ROWS))
        created = False
        while True:
            chunk = _next_chunk(batches, chunk_rows)
            if chunk is None:
                break
            frame = stage(chunk)
            write_temp_table(con, f"stg_{entity}", frame.select(columns), append=created)
            created = True
            if frames:
                yield frame if read is None else _project(frame, read)
        if not created:  # no row: an empty table with the staged columns all the same
            empty = stage(read_raw(con, spec, run_id).clear())
            write_temp_table(con, f"stg_{entity}", empty.select(columns))
            if frames:
                yield empty if read is None else _project(empty, read)
    finally:
        reader.close()


def _with_line_no(read: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a frame that hands over `read`: line_no first, then `read`."""
    return ("line_no",) + tuple(c for c in read if c != "line_no")


def _project(frame: pl.DataFrame, read: tuple[str, ...]) -> pl.DataFrame:
    """line_no and `read` of a typed frame, as _spool_chunks gives them."""
    return frame.select(_with_line_no(read))


def _then(stage, after):
    return lambda raw, as_of: after(stage(raw, as_of))


def _next_chunk(batches, rows: int) -> pl.DataFrame | None:
    """The next `rows` rows of a RecordBatchReader as one frame (None at the end)."""
    parts, n = [], 0
    while n < rows:
        try:
            batch = batches.read_next_batch()
        except StopIteration:
            break
        parts.append(batch)
        n += batch.num_rows
    if not parts:
        return None
    return pl.from_arrow(pa.Table.from_batches(parts))


# Excluded: every inclusion period (F003 medInclude / F002 insInclude) ended before D. The
# loader writes a member without periods as one row with neither date: no period, so vacuous.
_EXCLUDED = """COALESCE(
        BOOL_AND(d_end IS NOT NULL AND d_end < $d)
            FILTER (WHERE d_begin IS NOT NULL OR d_end IS NOT NULL),
        TRUE)"""

_CURRENT_SQL = (
    f"""CREATE OR REPLACE TEMP TABLE cur_mo AS
    SELECT mcod,
           FIRST(name ORDER BY d_begin DESC NULLS LAST, d_end DESC NULLS FIRST, name) AS name,
           FIRST(e_mail ORDER BY d_begin DESC NULLS LAST, d_end DESC NULLS FIRST, name) AS e_mail,
           {_EXCLUDED} AS excluded
    FROM ref_f003 WHERE run_id = $run_id GROUP BY mcod""",
    f"""CREATE OR REPLACE TEMP TABLE cur_smo AS
    SELECT smocod, {_EXCLUDED} AS excluded
    FROM ref_f002 WHERE run_id = $run_id GROUP BY smocod""",
    """CREATE OR REPLACE TEMP TABLE cur_f008 AS
    SELECT DISTINCT iddoc FROM ref_f008
    WHERE run_id = $run_id AND date_begin <= $d AND (date_end IS NULL OR date_end >= $d)""",
    """CREATE OR REPLACE TEMP TABLE cur_f010 AS
    SELECT DISTINCT kod_okato, kod_tf FROM ref_f010
    WHERE run_id = $run_id AND date_begin <= $d AND (date_end IS NULL OR date_end >= $d)""",
)


def build_current_reference(con: duckdb.DuckDBPyConnection, run_id: str,
                            d: date) -> frozenset[str]:
    """TEMP cur_mo, cur_smo, cur_f008, cur_f010: the run's classifiers as they stand on D (after
    dropping persistent leftovers of earlier versions); returns the F008 codes valid on D."""
    drop_persisted_staging(con)
    for sql in _CURRENT_SQL:
        params = {"run_id": run_id, "d": d} if "$d" in sql else {"run_id": run_id}
        con.execute(sql, params)
    return frozenset(r[0] for r in con.execute("SELECT iddoc FROM cur_f008").fetchall())


def restage_missing(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime
                    ) -> list[str]:
    """Stage again, from the run's raw rows, the stg_* tables of ENTITIES that `con` no longer
    holds (routing releases those it does not read: findings.release_before_routing), with
    their STAGED_COLUMNS; returns their names. For readers after routing (the GX cross-check):
    the tables are what the run staged, typed the same way."""
    held = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    missing = [e for e in ENTITIES if f"stg_{e}" not in held]
    for entity in missing:
        for _ in stage_entity_chunks(con, run_id, entity, as_of, frames=False):
            pass
    return [f"stg_{e}" for e in missing]


def build_staging(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime) -> frozenset[str]:
    """Every stg_* and cur_* table of one run, keeping no frame; returns the F008 codes valid
    on D. The nightly run uses row_rules.stage_and_check instead, to check each chunk in
    between."""
    codes = build_current_reference(con, run_id, as_of.date())
    for entity in ENTITIES:
        stage_entity(con, run_id, entity, as_of)
    return codes
