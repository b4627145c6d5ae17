"""Raw rows for tests that build a warehouse by hand instead of loading extract files."""
from __future__ import annotations

import duckdb
import polars as pl

from flows import warehouse
from flows.extract.contract import ALL_FILES


def write_raw(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> None:
    """Add `rows` (run_id, line_no, any of the contract's columns, the others being '', and any
    typed column the reader adds, e.g. checks.feed.FILLED_MASK) to
    raw table `table` as a load would: into the raw store of a warehouse file (appended to the
    run's raw file, and the run added to the ledger as 'running' if it is not there: the raw
    view shows the ledger's runs only), into the table of an in-memory database."""
    spec = next(f for f in ALL_FILES if f.raw_table == table)
    rows = rows.with_columns(pl.col("line_no").cast(pl.Int64), *(
        pl.lit("").alias(c) for c in spec.columns if c not in rows.columns))
    typed = [c for c in rows.columns if c not in ("run_id", "line_no", *spec.columns)]
    rows = rows.select("run_id", "line_no", *(pl.col(c).cast(pl.String) for c in spec.columns),
                       *typed)
    store = warehouse.raw_store(con)
    if store is None:
        rows = rows.drop(typed)  # an in-memory raw table has the text columns only
        con.register("_raw_rows", rows.to_arrow())
        con.execute(f"INSERT INTO {table} SELECT * FROM _raw_rows")
        con.unregister("_raw_rows")
        return
    for (run_id,), part in rows.group_by("run_id", maintain_order=True):
        add_run(con, run_id)
        path = warehouse.raw_file(store, table, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = part.drop("run_id")
        if path.exists():
            part = pl.concat([pl.read_parquet(path), part])
        part.write_parquet(path)


def add_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """A 'running' ledger row for `run_id` unless the ledger has one (the raw views show the
    rows of the ledger's runs only)."""
    con.execute("INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir, "
                "started_at, status) SELECT $run, TIMESTAMP '2026-01-01', 'cli', '.', '.', "
                "TIMESTAMP '2026-01-01', 'running' WHERE $run NOT IN (SELECT run_id FROM runs)",
                {"run": run_id})
