"""Store one read extract file in the warehouse: raw rows, quarantine, and its ledger row.

The raw rows of a warehouse file go to its raw store (flows/warehouse.py): a spooled file's
spool becomes the run's raw file by a hard link (no copy: the spool is already Parquet), rows
in memory are written there; an in-memory database gets them inserted from Arrow. After that
the reconciliation is re-checked from what the tables and views now hold, so a silent loss
between reading and storing cannot pass. Transactions are the caller's: on an error it rolls
back its own transaction and removes the run's raw files (warehouse.remove_raw_runs).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from flows import warehouse
from flows.extract.contract import ALL_FILES
from flows.extract.reader import SPOOL_PARQUET, ReadResult


def load_file(con: duckdb.DuckDBPyConnection, run_id: str, result: ReadResult) -> None:
    """Store ``result`` for ``run_id``; RuntimeError when the stored rows do not reconcile."""
    spec = result.spec
    # DuckDB 2.0 refuses register() while a result of execute() is unfinished (e.g. after a
    # fetchone()); run any such result to its end first.
    con.complete()
    store = warehouse.raw_store(con)
    if store is not None:
        _store_raw(warehouse.raw_file(store, spec.raw_table, run_id), result)
    tag = uuid.uuid4().hex
    loaded, quarantined = f"_talon_loaded_{tag}", f"_talon_quarantine_{tag}"
    # large_string Arrow columns insert faster than string views
    oldest = pl.CompatLevel.oldest()
    if store is None:
        con.register(loaded, result.loaded.to_arrow(compat_level=oldest))
    con.register(quarantined, result.quarantined.to_arrow(compat_level=oldest))
    try:
        if store is None:
            cols = ", ".join(spec.columns)
            con.execute(f"INSERT INTO {spec.raw_table} (run_id, line_no, {cols}) "
                        f"SELECT ?, line_no, {cols} FROM {loaded}", [run_id])
        con.execute(f"INSERT INTO quarantine (run_id, file_name, entity, line_no, reason, detail, "
                    f"record_id, raw_line) SELECT ?, ?, ?, line_no, reason, detail, record_id, "
                    f"raw_line FROM {quarantined}", [run_id, result.file_name, result.entity])
    finally:
        if store is None:
            con.unregister(loaded)
        con.unregister(quarantined)
    con.execute(
        "INSERT INTO run_files (run_id, file_name, entity, format, size_bytes, sha256, encoding, "
        "delimiter, rows_read, rows_loaded, rows_quarantined, blank_lines, ignored_columns) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, result.file_name, result.entity, result.format, result.size_bytes,
         result.sha256, result.encoding, result.delimiter, result.rows_read,
         result.rows_loaded, result.rows_quarantined, result.blank_lines,
         json.dumps(result.ignored_columns, ensure_ascii=False)])
    check_reconciliation(con, run_id, result.file_name)


def check_reconciliation(con: duckdb.DuckDBPyConnection, run_id: str, file_name: str) -> None:
    """rows_read = rows loaded + rows quarantined, counted from the tables themselves, and no
    line is both loaded and quarantined."""
    found = con.execute("SELECT entity, rows_read, rows_loaded, rows_quarantined FROM run_files "
                        "WHERE run_id = ? AND file_name = ?", [run_id, file_name]).fetchall()
    if not found:
        raise RuntimeError(f"{file_name}: no run_files row for run {run_id}")
    entity, rows_read, rows_loaded, rows_quarantined = found[0]
    raw_table = _raw_table(entity)
    stored_loaded, stored_quarantined, distinct_lines = con.execute(
        f"""
        WITH l AS (SELECT line_no FROM {raw_table} WHERE run_id = $run),
             q AS (SELECT line_no FROM quarantine WHERE run_id = $run AND file_name = $file)
        SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM q),
               (SELECT count(DISTINCT line_no) FROM (SELECT line_no FROM l UNION ALL
                                                     SELECT line_no FROM q))
        """, {"run": run_id, "file": file_name}).fetchall()[0]
    problems = []
    if stored_loaded != rows_loaded:
        problems.append(f"{raw_table} holds {stored_loaded} rows, ledger says {rows_loaded}")
    if stored_quarantined != rows_quarantined:
        problems.append(f"quarantine holds {stored_quarantined} rows, "
                        f"ledger says {rows_quarantined}")
    if rows_read != stored_loaded + stored_quarantined:
        problems.append(f"rows read {rows_read} != loaded {stored_loaded} + "
                        f"quarantined {stored_quarantined}")
    if distinct_lines != stored_loaded + stored_quarantined:
        problems.append("some lines are stored twice")
    if problems:
        raise RuntimeError(f"{file_name}: reconciliation failed for run {run_id}: "
                           + "; ".join(problems))


def _store_raw(dest: Path, result: ReadResult) -> None:
    """The run's raw file of `result`, complete or absent (written aside, then renamed: a
    half-written file would break every read of the raw view). A spool file is linked as it is
    (its typed columns and later duplicates too: the view shows the text columns minus the
    quarantined lines); rows in memory are written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    if result.frame is None:
        try:
            os.link(result.spool_path, tmp)
        except OSError:  # a file system without hard links, or the spool on another one
            shutil.copyfile(result.spool_path, tmp)
    else:
        pq.write_table(result.frame.select("line_no", *result.spec.columns).to_arrow(),
                       tmp, **SPOOL_PARQUET)  # written as a spool file is
    os.replace(tmp, dest)


def _raw_table(entity: str) -> str:
    for spec in ALL_FILES:
        if spec.entity == entity:
            return spec.raw_table
    raise RuntimeError(f"unknown entity {entity!r}")
