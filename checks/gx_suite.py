"""The set-level checks as a Great Expectations suite on the DuckDB warehouse.

One SQL data source on the warehouse file, one table asset per staging table and one
UnexpectedRowsExpectation (its count-only subclass, see 3.) per check of checks/set_rules.py
(the same SQL; `{batch}` is the asset table of the check's entity). GX lists at most 200
failing rows per expectation, so Talon's findings come from `run_set_rules`; this suite
records, per check, GX's verdict and its count of unexpected rows (which must equal the number
of findings), and, with a `context_root`, stores suites and validation results on disk for
Data Docs.

Three facts of this stack (GX 1.24.1, pinned in pyproject.toml; duckdb-engine; DuckDB 2.0):
1. GX opens a new SQLAlchemy connection per query except for a few dialects, and on DuckDB
   it then reads the results of a closed connection: every expectation fails with
   "list index out of range". `enable_duckdb_persisted_connection` is the fix.
2. DuckDB refuses a second connection to a file that is open in the same process with a
   different configuration ("Can't open a connection to same database file with a different
   configuration"), and duckdb-engine always sets its own user agent, so GX cannot open the
   warehouse while the run's connection `con` is open. GX therefore gets `con` itself through
   SQLAlchemy's `creator`, lent so that the pool cannot close it: the stg_*/cur_* tables are
   TEMP tables of `con`, which no other connection (not even a cursor of `con`) sees. The data
   source then cannot be written to a great_expectations.yml (a callable does not
   serialise), so the context is always ephemeral; with `context_root` its stores
   (suites, validation definitions, checkpoints, validation results, Data Docs site) are
   file-backed under that folder.
3. UnexpectedRowsExpectation always computes two metrics, each running the whole query: the
   first 200 unexpected rows and their count (result_format only trims what it reports;
   BOOLEAN_ONLY drops the count too). UnexpectedRowsCountExpectation asks for the count alone,
   which is all Talon keeps and halves the suite's time.
"""
from __future__ import annotations

import os

# Before GX is imported: no usage statistics, no network.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import re  # noqa: E402
import time  # noqa: E402
from typing import ClassVar  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402
import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from duckdb_engine import ConnectionWrapper  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    FilesystemStoreBackendDefaults,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.execution_engine import (  # noqa: E402
    sqlalchemy_execution_engine as _gx_sql_engine,
)

from checks import catalogue  # noqa: E402
from checks.set_rules import CODES, ENTITY_TABLES, SET_RULES, entity_table, render_sql  # noqa: E402

DATASOURCE = "talon_warehouse"
SUITE_PREFIX = "talon_set_rules"
_BATCH_SENTINEL = "__talon_gx_batch__"


class _DuckDBDialectName(str):
    """'duckdb' as GX's dialect list expects it: compares equal to the engine's dialect name
    (a str) and has `.value` like the GXSqlDialect members (GX has no DuckDB member)."""

    @property
    def value(self) -> str:
        return str(self)


def enable_duckdb_persisted_connection() -> None:
    """Make GX keep one persisted connection (StaticPool) for DuckDB, as it does for SQLite.

    GX 1.24's SqlAlchemyExecutionEngine.get_connection closes a fresh connection after each
    query unless the dialect is in the private `_PERSISTED_CONNECTION_DIALECTS`; with
    duckdb-engine the results are then lost and every expectation fails with "list index out
    of range" (GX issues #10738, #11579). Adding 'duckdb' to that tuple fixes it. Idempotent.
    Tied to the pinned GX version: fails loudly if the private name is gone.
    """
    if not hasattr(_gx_sql_engine, "_PERSISTED_CONNECTION_DIALECTS"):
        raise RuntimeError("great_expectations changed: _PERSISTED_CONNECTION_DIALECTS is gone; "
                           "re-check the DuckDB persisted-connection fix for this GX version")
    current = _gx_sql_engine._PERSISTED_CONNECTION_DIALECTS
    if not duckdb_connection_is_persisted():
        _gx_sql_engine._PERSISTED_CONNECTION_DIALECTS = (*current, _DuckDBDialectName("duckdb"))


def duckdb_connection_is_persisted() -> bool:
    """Whether GX currently treats DuckDB as a persisted-connection dialect."""
    return "duckdb" in _gx_sql_engine._PERSISTED_CONNECTION_DIALECTS


class _LentConnection(ConnectionWrapper):
    """The run's connection `con` lent to SQLAlchemy. Closing it (pool dispose) must not close
    `con`; the pool's rollback on return is harmless, since GX only reads and the caller holds
    no transaction of its own on `con` meanwhile."""

    def close(self) -> None:
        pass


class UnexpectedRowsCountExpectation(gxe.UnexpectedRowsExpectation):
    """UnexpectedRowsExpectation computing only GX's count of unexpected rows
    (`unexpected_rows_query.row_count`), not also the first 200 rows: same query, same
    verdict and observed_value, one execution instead of two."""

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine=None) -> dict:
        count = metrics["unexpected_rows_query.row_count"]
        return {"success": count == 0, "result": {"observed_value": count}}


def gx_query(code: str, *, run_id: str, as_of: datetime, stale_hours: int = 24,
             horizon_days: int = 14) -> str:
    """The check's SQL as an UnexpectedRowsExpectation query.

    Same literals as run_set_rules (render_sql); the entity table becomes
    `(SELECT * FROM {batch})`, because GX substitutes `{batch}` with a derived table, aliased
    `AS subselect` or not depending on whether the query contains JOIN, so the template's own
    alias (`$batch AS p`) cannot follow it directly. Every other brace is doubled for GX's
    str.format, and any `:name` that SQLAlchemy's text() would take for a bind parameter is
    escaped as `\\:name` (text() turns it back into `:name`).
    """
    sql = render_sql(SET_RULES[code], batch=_BATCH_SENTINEL, run_id=run_id, as_of=as_of,
                     stale_hours=stale_hours, horizon_days=horizon_days)
    sql = (sql.replace("{", "{{").replace("}", "}}")
           .replace(_BATCH_SENTINEL, "(SELECT * FROM {batch})"))
    escaped = _escape_binds(sql)
    # GX substitutes {batch} then wraps the text in sa.text(): make sure no bind parameter is left.
    params = sa.text(escaped.format(batch=entity_table(code))).compile().params
    if params:
        raise ValueError(f"{code}: the query would carry bind parameters {sorted(params)}")
    return escaped


def _escape_binds(sql: str) -> str:
    return re.sub(r"(?<![:\w\\]):(?=\w)", r"\\:", sql)


@dataclass(frozen=True)
class GxCheckResult:
    """GX's verdict on one check."""

    code: str
    success: bool
    unexpected_count: int | None  # GX's observed_value; None when the expectation raised
    error: str | None = None


@dataclass(frozen=True)
class GxOutcome:
    """What one GX run of the suite found, per check code."""

    results: dict[str, GxCheckResult]
    seconds: float
    run_name: str
    context_root: Path | None = None

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results.values())

    @property
    def raised(self) -> list[str]:
        """Codes whose expectation did not evaluate (GX raised)."""
        return [c for c, r in self.results.items() if r.error is not None]

    def counts(self) -> dict[str, int | None]:
        return {c: r.unexpected_count for c, r in self.results.items()}


def _context(context_root: Path | None):
    stores = (FilesystemStoreBackendDefaults(root_directory=str(Path(context_root).resolve()))
              if context_root is not None else InMemoryStoreBackendDefaults())
    config = DataContextConfig(store_backend_defaults=stores, analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False))
    return gx.get_context(project_config=config, mode="ephemeral")


def _check_same_file(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    # fetchall: DuckDB 2.0 refuses further work on a connection with a half-fetched result
    rows = con.execute("SELECT path FROM duckdb_databases() "
                       "WHERE database_name = current_database()").fetchall()
    path = rows[0][0] if rows else None
    if path is None or Path(path).resolve() != Path(db_path).resolve():
        raise ValueError(f"con is not connected to {db_path} (it is on {path!r})")


def _description(code: str) -> str:
    check = catalogue.BY_CODE.get(code)
    return f"{code}: {check.title_en}" if check is not None else code


def _error_of(result) -> str | None:
    """The exception message of an expectation that did not evaluate, else None."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():  # keyed per metric when a metric raised
        if isinstance(value, dict) and value.get("exception_traceback"):
            return str(value.get("exception_message") or value["exception_traceback"])
    return None


def run_gx_suite(db_path: Path, con: duckdb.DuckDBPyConnection | None, run_id: str,
                 as_of: datetime, stale_hours: int = 24, horizon_days: int = 14,
                 context_root: Path | None = None,
                 codes: tuple[str, ...] | None = None) -> GxOutcome:
    """Validate the stg_* tables of the warehouse with one UnexpectedRowsExpectation per check.

    `con`: the run's open connection to `db_path`, which holds the (TEMP) stg_* tables; GX
    reads through `con` itself (see the module docstring), so no other thread may use `con`
    meanwhile and `con` must not be inside a transaction. Nothing is written. With `con=None`
    GX opens the file itself, which only works while no other connection to it is open in this
    process and the stg_* tables are persistent ones.
    """
    started = time.perf_counter()
    enable_duckdb_persisted_connection()
    db_path = Path(db_path)
    kwargs = {}
    if con is not None:
        _check_same_file(con, db_path)
        kwargs["creator"] = lambda: _LentConnection(con)
    codes = codes or CODES
    context = _context(context_root)
    datasource = context.data_sources.add_sql(
        DATASOURCE, connection_string=f"duckdb:///{db_path.resolve()}", kwargs=kwargs)
    definitions = []
    for table in dict.fromkeys(ENTITY_TABLES.values()):
        table_codes = [c for c in codes if entity_table(c) == table]
        if not table_codes:
            continue
        asset = datasource.add_table_asset(table, table_name=table)
        batch = asset.add_batch_definition_whole_table("whole_table")
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"{SUITE_PREFIX}.{table}"))
        for code in table_codes:
            suite.add_expectation(UnexpectedRowsCountExpectation(
                unexpected_rows_query=gx_query(code, run_id=run_id, as_of=as_of,
                                               stale_hours=stale_hours,
                                               horizon_days=horizon_days),
                description=_description(code),
                meta={"check_code": code}))
        definitions.append(context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{SUITE_PREFIX}.{table}", data=batch, suite=suite)))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=SUITE_PREFIX, validation_definitions=definitions, actions=[],
        result_format="BASIC"))
    try:
        result = checkpoint.run(run_id=RunIdentifier(run_name=run_id))
    finally:
        _dispose(datasource)
    found: dict[str, GxCheckResult] = {}
    for suite_result in result.run_results.values():
        for r in suite_result.results:
            code = r.expectation_config.meta["check_code"]
            error = _error_of(r)
            observed = (r.result or {}).get("observed_value")
            found[code] = GxCheckResult(code=code, success=bool(r.success),
                                        unexpected_count=None if error else observed,
                                        error=error)
    return GxOutcome(results={c: found[c] for c in codes if c in found},
                     seconds=time.perf_counter() - started, run_name=run_id,
                     context_root=Path(context_root) if context_root is not None else None)


def build_data_docs(context_root: Path) -> Path:
    """Render the suites and validation results stored under `context_root` as GX Data Docs
    (no data source needed); returns the site's index.html."""
    sites = _context(context_root).build_data_docs()
    return Path(sites["local_site"].removeprefix("file://"))


def _dispose(datasource) -> None:
    """Close GX's connections: give back the one the execution engine keeps (its transaction
    on `con` ends there, by the pool's rollback), then dispose of the engines (the lent `con`
    stays open)."""
    engines = [datasource.get_engine()]
    execution_engine = getattr(datasource, "_execution_engine", None)
    if execution_engine is not None:
        kept = getattr(execution_engine, "_connection", None)
        if kept is not None:
            kept.close()
            execution_engine._connection = None
        engines.append(execution_engine.engine)
    for engine in engines:
        engine.dispose()
