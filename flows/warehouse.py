"""The DuckDB warehouse: run ledger, raw extract tables, quarantine, reference tables, findings.

Every table that holds data of a run carries its run_id, so history survives later runs and a
run can be replaced or pruned as a unit. Raw tables keep every field as text plus the source
line number; typing belongs to the checks.

The raw tables of a warehouse file live in its raw store, a folder beside it
(``<warehouse>.raw/<raw table>/run_id=<run>/data.parquet``, one Parquet file per run and
extract file): the reader's spool file becomes the run's raw file as it is, so the load does
not copy millions of text rows into DuckDB. ``raw_patients`` and the others are views over
the store that show the rows of the runs in the ledger only (a file whose run was never
committed, or was deleted, is invisible until the next run's start removes it) minus the lines
the quarantine holds (the spool keeps a file's later duplicates). The warehouse file and its
raw store are backed up and moved together. An in-memory database has no folder: its raw
tables are ordinary tables.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from flows.errors import ConfigError
from flows.extract.contract import ALL_FILES

DEFAULT_WAREHOUSE = Path("data/warehouse.duckdb")

_LEDGER = """
CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,
    as_of         TIMESTAMP NOT NULL,
    as_of_source  VARCHAR NOT NULL,      -- cli | manifest | now
    region_code   VARCHAR,
    extracts_dir  VARCHAR NOT NULL,
    reference_dir VARCHAR NOT NULL,
    input_digest  VARCHAR,               -- sha256 over the input files' sha256 and as_of
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    status        VARCHAR NOT NULL,      -- running | completed | ingested (no checks) | failed | replacing
    message       VARCHAR,
    replaced_by   VARCHAR                -- status 'replacing': the --force rerun replacing it
);
CREATE TABLE IF NOT EXISTS run_files (
    run_id           VARCHAR NOT NULL,
    file_name        VARCHAR NOT NULL,   -- as found in the batch, e.g. patients.csv
    entity           VARCHAR NOT NULL,
    format           VARCHAR NOT NULL,   -- csv | parquet | xml
    size_bytes       BIGINT NOT NULL,
    sha256           VARCHAR NOT NULL,
    encoding         VARCHAR,
    delimiter        VARCHAR,
    rows_read        BIGINT,
    rows_loaded      BIGINT,
    rows_quarantined BIGINT,
    blank_lines      BIGINT,
    ignored_columns  VARCHAR,
    PRIMARY KEY (run_id, file_name)
);
CREATE TABLE IF NOT EXISTS quarantine (
    run_id     VARCHAR NOT NULL,
    file_name  VARCHAR NOT NULL,
    entity     VARCHAR NOT NULL,
    line_no    BIGINT NOT NULL,          -- physical line, header = 1 (Parquet: row number)
    reason     VARCHAR NOT NULL,         -- ROW.MALFORMED | ROW.DUPLICATE_ID
    detail     VARCHAR NOT NULL,
    record_id  VARCHAR,                  -- the id, for duplicates
    raw_line   VARCHAR
);
CREATE TABLE IF NOT EXISTS findings (
    run_id            VARCHAR NOT NULL,
    check_code        VARCHAR NOT NULL,
    severity          VARCHAR NOT NULL,
    entity            VARCHAR NOT NULL,
    record_id         VARCHAR NOT NULL,
    mo_code           VARCHAR,           -- NULL: unassigned (the data steward's list)
    unassigned_reason VARCHAR,
    field             VARCHAR,
    value             VARCHAR,           -- full current value: for the clinic that owns it
    value_masked      VARCHAR,           -- what auditors and logs may see
    patient_id        VARCHAR,           -- the patient concerned, for booking impact
    suggested_value   VARCHAR,           -- the right value per the insured register ('' none)
    suggested_masked  VARCHAR,           -- the same, masked like value_masked
    waiver_id         VARCHAR            -- the clinic's waiver that covers it (flows/waivers.py)
);
CREATE TABLE IF NOT EXISTS feed_stats (  -- what later nights learn feed health from
    run_id      VARCHAR NOT NULL,
    metric      VARCHAR NOT NULL,        -- future_slots | horizon_slots (per MO) | empty (per column)
    file_name   VARCHAR,
    column_name VARCHAR,
    mo_code     VARCHAR,
    value       BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_suites (  -- the feed-health suite of a run, bounds and history
    run_id     VARCHAR NOT NULL,
    suite_json VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS waivers (     -- a clinic's answer "not an error" (flows/waivers.py)
    waiver_id  VARCHAR PRIMARY KEY,
    check_code VARCHAR NOT NULL,
    record_id  VARCHAR NOT NULL,
    entity     VARCHAR NOT NULL,
    mo_code    VARCHAR,                  -- the finding's clinic when answered (NULL: unassigned)
    reason     VARCHAR NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    until      DATE,                     -- last day it applies (NULL: until removed)
    status     VARCHAR NOT NULL          -- active | removed | expired
);                                       -- one active waiver per (check_code, record_id)
CREATE SEQUENCE IF NOT EXISTS waiver_event_seq;
CREATE TABLE IF NOT EXISTS waiver_events (  -- append-only audit trail: nothing is deleted
    event_id  BIGINT PRIMARY KEY DEFAULT nextval('waiver_event_seq'),
    waiver_id VARCHAR NOT NULL,
    event     VARCHAR NOT NULL,          -- added | changed | expired | removed
    "at"      TIMESTAMP NOT NULL,        -- ("at", "by": SQL keywords, always quoted)
    "by"      VARCHAR NOT NULL,
    detail    VARCHAR                    -- JSON: what was set or changed, and from where
);
CREATE TABLE IF NOT EXISTS reg_links (   -- each linked patient's register person, per run
    run_id     VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    enp        VARCHAR NOT NULL,         -- the register person's ENP
    tier       TINYINT NOT NULL          -- 1 enp, 2 snils, 3 name + birth date, 4 near match
);
CREATE TABLE IF NOT EXISTS gx_results (  -- the Great Expectations suite's verdicts, per check
    run_id           VARCHAR NOT NULL,
    check_code       VARCHAR NOT NULL,
    suite            VARCHAR NOT NULL,
    success          BOOLEAN,
    unexpected_count BIGINT,             -- GX's observed count (it lists at most 200 rows)
    talon_count      BIGINT,             -- rows the same SQL returned to Talon, uncapped
    error            VARCHAR,
    query            VARCHAR             -- the expectation's SQL (no data in it)
);
"""

_REFERENCE = """
CREATE TABLE IF NOT EXISTS ref_f002 (run_id VARCHAR, smocod VARCHAR, tf_okato VARCHAR,
    name VARCHAR, d_begin DATE, d_end DATE);
CREATE TABLE IF NOT EXISTS ref_f003 (run_id VARCHAR, mcod VARCHAR, tf_okato VARCHAR,
    name VARCHAR, e_mail VARCHAR, d_begin DATE, d_end DATE);
CREATE TABLE IF NOT EXISTS ref_f008 (run_id VARCHAR, iddoc VARCHAR, name VARCHAR,
    date_begin DATE, date_end DATE);
CREATE TABLE IF NOT EXISTS ref_f010 (run_id VARCHAR, kod_tf VARCHAR, kod_okato VARCHAR,
    name VARCHAR, date_begin DATE, date_end DATE);
CREATE TABLE IF NOT EXISTS ref_v021 (run_id VARCHAR, idspec VARCHAR, name VARCHAR,
    date_begin DATE, date_end DATE);
"""

RUN_TABLES = ("run_files", "quarantine", "findings", "gx_results", "reg_links", "feed_stats",
              "feed_suites", "ref_f002",
              "ref_f003", "ref_f008", "ref_f010", "ref_v021") + tuple(f.raw_table for f in ALL_FILES)


def _raw_ddl() -> str:
    """The raw tables as ordinary tables (an in-memory database's)."""
    parts = []
    for f in ALL_FILES:
        cols = ",\n    ".join(f"{c} VARCHAR" for c in f.columns)
        parts.append(f"CREATE TABLE IF NOT EXISTS {f.raw_table} (\n    run_id VARCHAR NOT NULL,\n"
                     f"    line_no BIGINT NOT NULL,\n    {cols}\n);")
    return "\n".join(parts)


RAW_STORE_SUFFIX = ".raw"
RAW_FILE = "data.parquet"
#: The zero-row file in each raw table's folder that gives the view its columns while no run
#: has rows (DuckDB cannot read an empty glob).
SCHEMA_PART = "_schema"


def database_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file `con` is connected to; None for an in-memory database."""
    found = con.execute("SELECT path FROM duckdb_databases() "
                        "WHERE database_name = current_database()").fetchall()
    path = found[0][0] if found else None
    return Path(path) if path and path != ":memory:" else None


def raw_store(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The raw store of the warehouse file `con` has open; None for an in-memory database."""
    path = database_file(con)
    if path is None:
        return None
    path = path.resolve()
    return path.with_name(path.name + RAW_STORE_SUFFIX)


def raw_run_dir(store: Path, raw_table: str, run_id: str) -> Path:
    """The folder of one run's raw file of one table (a Hive partition: run_id=<run>)."""
    if not run_id or "/" in run_id or "=" in run_id or run_id.startswith("."):
        raise ValueError(f"run id {run_id!r} cannot name a raw-store folder")
    return store / raw_table / f"run_id={run_id}"


def raw_file(store: Path, raw_table: str, run_id: str) -> Path:
    return raw_run_dir(store, raw_table, run_id) / RAW_FILE


def sql_text(text: str) -> str:
    """A SQL string literal (a path cannot be a bound parameter of a table function)."""
    return "'" + text.replace("'", "''") + "'"


def _raw_glob(store: Path, f) -> str:
    """The raw table's files, as the SQL literal its view reads."""
    return sql_text(str(store / f.raw_table / "*" / "*.parquet"))


def _raw_view_sql(f, store: Path) -> str:
    cols = ", ".join(f"s.{c}" for c in ("run_id", "line_no", *f.columns))
    return (f"SELECT {cols} FROM read_parquet({_raw_glob(store, f)}, hive_partitioning = true, "
            f"hive_types = {{'run_id': VARCHAR}}, union_by_name = true) AS s "
            f"WHERE s.run_id IN (SELECT run_id FROM runs) AND NOT EXISTS (SELECT 1 FROM "
            f"quarantine AS q WHERE q.run_id = s.run_id AND q.entity = {sql_text(f.entity)} "
            f"AND q.line_no = s.line_no)")


def _relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """'BASE TABLE', 'VIEW' or None."""
    found = con.execute("SELECT table_type FROM information_schema.tables WHERE table_catalog "
                        "= current_database() AND table_schema = current_schema() AND "
                        "table_name = ?", [name]).fetchall()
    return found[0][0] if found else None


def _ensure_raw_store(con: duckdb.DuckDBPyConnection, store: Path) -> None:
    """The raw store's folders and schema files, and the views over them. A warehouse written
    before the raw store has its raw tables exported into it, one file per run, once."""
    import polars as pl

    for f in ALL_FILES:
        folder = store / f.raw_table
        seed = folder / f"run_id={SCHEMA_PART}" / RAW_FILE
        if not seed.exists():
            seed.parent.mkdir(parents=True, exist_ok=True)
            tmp = seed.with_name("." + RAW_FILE + ".tmp")
            pl.DataFrame(schema={"line_no": pl.Int64, **{c: pl.String for c in f.columns}}
                         ).write_parquet(tmp)
            os.replace(tmp, seed)
        kind = _relation_kind(con, f.raw_table)
        if kind == "BASE TABLE":
            con.execute("BEGIN TRANSACTION")
            try:
                if con.execute(f"SELECT count(*) FROM {f.raw_table}").fetchall()[0][0]:
                    con.execute(f"COPY {f.raw_table} TO {sql_text(str(folder))} (FORMAT parquet, "
                                "PARTITION_BY (run_id), COMPRESSION zstd, OVERWRITE_OR_IGNORE, "
                                "FILENAME_PATTERN 'legacy_{i}')")
                con.execute(f"DROP TABLE {f.raw_table}")
                con.execute(f"CREATE VIEW {f.raw_table} AS {_raw_view_sql(f, store)}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            continue
        if kind == "VIEW" and _view_is_current(con, f, store):
            continue
        con.execute(f"CREATE OR REPLACE VIEW {f.raw_table} AS {_raw_view_sql(f, store)}")


def _view_is_current(con: duckdb.DuckDBPyConnection, f, store: Path) -> bool:
    """Whether the view reads this store (a moved warehouse gets its views again) with the
    contract's columns (DuckDB keeps a view's SQL normalised, so the parts are compared)."""
    sql = con.execute("SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
                      "AND view_name = ?", [f.raw_table]).fetchall()
    columns = [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND table_name = ? ORDER BY column_index", [f.raw_table]).fetchall()]
    return bool(sql) and _raw_glob(store, f) in sql[0] and columns == ["run_id", "line_no", *f.columns]


def remove_raw_runs(store: Path | None, run_ids) -> None:
    """Delete the raw files of these runs (after the transaction that removed or pruned them
    has committed: files are outside DuckDB's transactions)."""
    if store is None:
        return
    for f in ALL_FILES:
        for run_id in run_ids:
            shutil.rmtree(raw_run_dir(store, f.raw_table, run_id), ignore_errors=True)


def remove_orphan_raw(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Delete raw files of runs the ledger does not hold (a load killed before its commit, a
    run deleted by a process killed before it removed the files). Call with the warehouse lock
    held, never while a load of this warehouse is under way."""
    store = raw_store(con)
    if store is None or not store.exists():
        return []
    known = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
    orphans = set()
    for f in ALL_FILES:
        folder = store / f.raw_table
        for part in folder.glob("run_id=*") if folder.exists() else ():
            run_id = part.name.partition("=")[2]
            if run_id != SCHEMA_PART and run_id not in known:
                shutil.rmtree(part, ignore_errors=True)
                orphans.add(run_id)
    return sorted(orphans)


#: Environment variable: DuckDB's memory limit for every warehouse connection (e.g. "4GB").
MEMORY_LIMIT_ENV = "TALON_DUCKDB_MEMORY_LIMIT"
#: Environment variable: DuckDB's threads for every warehouse connection (a national run sets
#: it in each Dask worker, with the memory limit, to the worker's share; flows/national.py).
THREADS_ENV = "TALON_DUCKDB_THREADS"


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed, owner-only permissions) and make sure the schema exists."""
    path = Path(path)
    if not read_only:
        # The warehouse and its write-ahead log (created later, by DuckDB) hold personal data:
        # every file this process creates from here on is readable by its owner only.
        os.umask(0o077)
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "Could not set lock" not in str(exc):
            raise
        from flows.lock import WarehouseBusy  # another process has the file open (a run, a shell)

        holder = (str(exc).partition("Conflicting lock is held in ")[2].partition(". See")[0]
                  or "another process")
        raise WarehouseBusy(f"the warehouse file is open in {holder}; try again when it has "
                            "finished", file=str(path)) from None
    con.execute("SET enable_progress_bar = false")  # Talon's own progress is shown by the CLI
    limit = os.environ.get(MEMORY_LIMIT_ENV)
    if limit:
        # DuckDB sizes its buffer pool to 80% of the machine by default; a region server that
        # also runs other jobs (or one Dask worker of several) caps it, and DuckDB then
        # spills to `<warehouse>.tmp` instead of growing.
        try:
            con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error as exc:
            con.close()
            raise ConfigError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a DuckDB memory size "
                              f"(e.g. 4GB): {exc}") from None
    threads = os.environ.get(THREADS_ENV)
    if threads:
        try:
            con.execute(f"SET threads = {int(threads)}")
        except (ValueError, duckdb.Error) as exc:
            con.close()
            raise ConfigError(f"{THREADS_ENV}={threads!r} is not a number of threads: "
                              f"{exc}") from None
    if not read_only:
        if fresh:
            os.chmod(path, 0o600)
        ensure_schema(con)
    return con


_MIGRATIONS = """
ALTER TABLE runs ADD COLUMN IF NOT EXISTS replaced_by VARCHAR;
ALTER TABLE findings ADD COLUMN IF NOT EXISTS suggested_value VARCHAR;
ALTER TABLE findings ADD COLUMN IF NOT EXISTS suggested_masked VARCHAR;
ALTER TABLE findings ADD COLUMN IF NOT EXISTS waiver_id VARCHAR;
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    store = raw_store(con)
    con.execute(_LEDGER + _REFERENCE + ("" if store else _raw_ddl()) + _MIGRATIONS)
    if store is not None:
        _ensure_raw_store(con, store)


def delete_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Remove every row of a run (used to replace a run or undo a failed one). Its raw files
    stay until remove_raw_runs (after the commit) or the next start's remove_orphan_raw; the
    raw views stop showing them as soon as the run leaves the ledger."""
    for table in RUN_TABLES:
        if _relation_kind(con, table) == "BASE TABLE":
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
