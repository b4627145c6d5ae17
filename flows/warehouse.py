"""The DuckDB warehouse: run ledger, raw extract tables, quarantine, reference tables, findings.

Every table that holds data of a run carries its run_id, so history survives later runs and a
run can be replaced or pruned as a unit. Raw tables keep every field as text plus the source
line number; typing belongs to the checks.
"""
from __future__ import annotations

import os
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
    parts = []
    for f in ALL_FILES:
        cols = ",\n    ".join(f"{c} VARCHAR" for c in f.columns)
        parts.append(f"CREATE TABLE IF NOT EXISTS {f.raw_table} (\n    run_id VARCHAR NOT NULL,\n"
                     f"    line_no BIGINT NOT NULL,\n    {cols}\n);")
    return "\n".join(parts)


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
    con.execute(_LEDGER + _REFERENCE + _raw_ddl() + _MIGRATIONS)


def delete_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Remove every row of a run (used to replace a run or undo a failed one)."""
    for table in RUN_TABLES:
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
