"""The nightly job as plain functions: prepare (read everything, touch nothing), load (one
transaction), check, publish. Prefect flows in flows/nightly.py orchestrate these; tests call
them directly without a server.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from flows import asof as asof_mod
from flows import warehouse
from flows.errors import InputError
from flows.extract import batch, contract, load, reader
from flows.reference import nsi


PAUSE_AT_ENV = "TALON_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "TALON_TEST_PAUSE_FILE"
PAUSE_STAGES = ("loading", "loaded", "checked", "rendered", "published")


def pause_point(stage: str) -> None:
    """Test hook for the crash-safety tests (tests/e2e/test_crash_safety.py); inert unless the
    environment variable TALON_TEST_PAUSE_AT names `stage`.

    Then the run writes the stage to the file named by TALON_TEST_PAUSE_FILE and blocks while
    that file exists, so a test can SIGKILL it at a known point, or delete the file to let it
    go on. Stages: loading (inside the load transaction, raw rows inserted, not committed),
    loaded (committed), checked (findings stored, before the GX cross-check), rendered (report
    folder complete under its temporary name), published (`latest` switched).
    """
    if os.environ.get(PAUSE_AT_ENV) != stage:
        return
    signal = os.environ.get(PAUSE_FILE_ENV)
    if signal:
        Path(signal).write_text(f"{stage} {os.getpid()}\n")
    while signal is None or Path(signal).exists():
        time.sleep(0.05)


@dataclass
class Prepared:
    """Everything read from one extract batch and its reference folder, validated, in memory."""

    extracts: Path
    reference_dir: Path
    as_of: datetime
    as_of_source: str
    region_code: str | None
    files: list  # list[reader.ReadResult]
    reference: object  # nsi.Reference
    input_digest: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckParams:
    stale_hours: int = 24
    horizon_days: int = 14
    gx: bool = True  # also validate with the Great Expectations suite (cross-check + Data Docs)


def resolve_as_of(extracts: Path, as_of: str | None) -> tuple[datetime, str, dict]:
    manifest = asof_mod.read_manifest(extracts)
    ts, source = asof_mod.resolve_as_of(as_of, manifest,
                                        manifest_path=str(Path(extracts) / contract.MANIFEST))
    return ts, source, manifest


def input_digest(files: list, reference: object, as_of: datetime) -> str:
    """Identity of a run's input: same files (by checksum) and same as_of → same digest."""
    h = hashlib.sha256(as_of.isoformat().encode())
    for sha in sorted([f.sha256 for f in files] + [m.sha256 for m in nsi.file_metadata(reference)]):
        h.update(sha.encode())
    return h.hexdigest()


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now()
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def finish_prepare(extracts: Path, reference_dir: Path, as_of: datetime, source: str,
                   manifest: dict, files: list, reference: object) -> Prepared:
    warnings = [w for f in files for w in f.warnings]
    return Prepared(Path(extracts), Path(reference_dir), as_of, source,
                    (str(manifest["region_code"]) if manifest.get("region_code") is not None else None),
                    files, reference, input_digest(files, reference, as_of), warnings)


def prepare(extracts: Path, reference_dir: Path, as_of: str | None = None) -> Prepared:
    """Read and validate the whole batch; raises InputError before anything is written."""
    ts, source, manifest = resolve_as_of(extracts, as_of)
    paths = batch.locate_files(Path(extracts))
    files = [reader.read_extract_file(paths[spec.name], spec) for spec in contract.FILES]
    reference = nsi.load_reference(Path(reference_dir))
    return finish_prepare(extracts, reference_dir, ts, source, manifest, files, reference)


class AlreadyProcessed(InputError):
    """The same files (by checksum) with the same as_of were already processed."""


def recover_interrupted(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Mark runs left 'running' by a killed process as failed (call with the lock held), and
    give back the runs a killed `--force` rerun was replacing their 'completed' status."""
    stale = [r[0] for r in con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()]
    set_aside = con.execute("SELECT count(*) FROM runs WHERE status = 'replacing'").fetchall()[0][0]
    if not stale and not set_aside:
        return []
    con.execute("BEGIN TRANSACTION")
    try:
        if stale:
            con.execute("UPDATE runs SET status = 'failed', finished_at = ?, "
                        "message = 'interrupted: found running at the next start' "
                        "WHERE status = 'running'", [datetime.now()])
        con.execute("UPDATE runs SET status = 'completed', replaced_by = NULL "
                    "WHERE status = 'replacing'")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return stale


def same_input_runs(con: duckdb.DuckDBPyConnection, digest: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT run_id FROM runs WHERE input_digest = ? AND status = 'completed' ORDER BY run_id",
        [digest]).fetchall()]


def check_rerun(con: duckdb.DuckDBPyConnection, prepared: Prepared, force: bool) -> list[str]:
    """Refuse a second run of the same input unless forced; return the runs it replaces."""
    previous = same_input_runs(con, prepared.input_digest)
    if previous and not force:
        raise AlreadyProcessed(
            f"this extract (same files by sha256, as_of {prepared.as_of}) was already processed "
            f"as run {previous[-1]}; use --force to replace that run", file=str(prepared.extracts))
    return previous


def load_run(con: duckdb.DuckDBPyConnection, prepared: Prepared, run_id: str,
             replaces: list[str] = ()) -> None:
    """Write the run's ledger entry, raw tables, quarantine and reference in one transaction.

    The runs it replaces (`--force`) are only set aside here (status 'replacing', out of
    reports and history); finish_run deletes them when this run completes, or gives them back
    if it fails, so a rerun killed half-way never costs the previous run's findings.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        for old in replaces:
            con.execute("UPDATE runs SET status = 'replacing', replaced_by = ? WHERE run_id = ?",
                        [run_id, old])
        con.execute(
            """INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir,
                                 reference_dir, input_digest, started_at, status)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')""",
            [run_id, prepared.as_of, prepared.as_of_source, prepared.region_code,
             str(prepared.extracts.resolve()), str(prepared.reference_dir.resolve()),
             prepared.input_digest, datetime.now()])
        for result in prepared.files:
            load.load_file(con, run_id, result)
        nsi.store_reference(con, run_id, prepared.reference)
        pause_point("loading")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    pause_point("loaded")


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str,
               message: str | None = None) -> None:
    """Close the run in one transaction: failed → the runs it was replacing are 'completed'
    again; any other end (completed, ingested) → they are deleted."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("UPDATE runs SET status = ?, finished_at = ?, message = ? WHERE run_id = ?",
                    [status, datetime.now(), message, run_id])
        replaced = [r[0] for r in con.execute(
            "SELECT run_id FROM runs WHERE replaced_by = ?", [run_id]).fetchall()]
        if status == "failed":
            con.execute("UPDATE runs SET status = 'completed', replaced_by = NULL "
                        "WHERE replaced_by = ?", [run_id])
        else:
            for old in replaced:
                warehouse.delete_run(con, old)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def reconciliation(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Per file: rows read, loaded, quarantined, and whether read = loaded + quarantined."""
    return con.sql(
        """SELECT file_name, rows_read, rows_loaded, rows_quarantined, blank_lines,
                  rows_read = rows_loaded + rows_quarantined AS reconciled
           FROM run_files WHERE run_id = ? ORDER BY file_name""", params=[run_id]).pl()


def run_checks(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
               params: CheckParams = CheckParams(), db_path: Path | None = None) -> pl.DataFrame:
    """Stage the run, run both engines, route and store the findings; returns them.

    With `params.gx` and `db_path`, the set-level rules are also validated by the Great
    Expectations suite and its verdicts stored in `gx_results` beside Talon's own counts.
    """
    from checks import findings, row_rules, set_rules, staging
    from flows import progress

    progress.describe("Staging typed tables")
    staged = staging.build_staging(con, run_id, as_of)
    progress.step("Row-level checks (pandera)")
    row_found = row_rules.run_row_rules(staged, as_of, staged.f008_codes)
    progress.step("Set-level checks (SQL)")
    set_found = set_rules.run_set_rules(con, run_id, as_of, params.stale_hours, params.horizon_days)
    progress.step("Routing findings to clinics")
    raw = pl.concat([
        row_found.with_columns(pl.lit(None, pl.String).alias("entity")),
        set_found.with_columns(pl.lit(None, pl.String).alias("entity")),
        findings.quarantine_findings(con, run_id),
    ], how="diagonal_relaxed")
    routed = findings.route_and_store(con, run_id, raw)
    pause_point("checked")
    progress.step("Great Expectations suite")
    if params.gx and db_path is not None:
        validate_with_gx(con, Path(db_path), run_id, as_of, params, set_found)
    progress.step("Checks done")
    return routed


def validate_with_gx(con: duckdb.DuckDBPyConnection, db_path: Path, run_id: str, as_of: datetime,
                     params: CheckParams, set_found: pl.DataFrame) -> pl.DataFrame:
    """Run the GX suite and store its verdicts next to the uncapped counts Talon found."""
    from checks import gx_suite

    outcome = gx_suite.run_gx_suite(db_path, con, run_id, as_of, params.stale_hours,
                                    params.horizon_days)
    talon_counts = dict(set_found.group_by("check_code").len().iter_rows())
    rows = pl.DataFrame([{
        "run_id": run_id, "check_code": code, "suite": gx_suite.entity_table(code),
        "success": r.success, "unexpected_count": r.unexpected_count,
        "talon_count": talon_counts.get(code, 0), "error": r.error,
        "query": gx_suite.gx_query(code, run_id=run_id, as_of=as_of,
                                   stale_hours=params.stale_hours,
                                   horizon_days=params.horizon_days),
    } for code, r in outcome.results.items()], schema={
        "run_id": pl.String, "check_code": pl.String, "suite": pl.String, "success": pl.Boolean,
        "unexpected_count": pl.Int64, "talon_count": pl.Int64, "error": pl.String,
        "query": pl.String})
    con.register("gx_rows", rows.to_arrow())
    try:
        con.execute("DELETE FROM gx_results WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO gx_results SELECT * FROM gx_rows")
    finally:
        con.unregister("gx_rows")
    return rows


def history(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pl.DataFrame:
    """The last runs with their finding counts (newest first)."""
    return con.sql(
        """SELECT r.run_id, r.as_of, r.status, r.started_at, r.finished_at,
                  count(f.check_code) FILTER (WHERE f.severity = 'blocker') AS blockers,
                  count(f.check_code) FILTER (WHERE f.severity = 'warning') AS warnings,
                  count(DISTINCT f.mo_code) AS clinics,
                  r.message
           FROM runs r LEFT JOIN findings f USING (run_id)
           GROUP BY ALL ORDER BY r.started_at DESC LIMIT ?""", params=[limit]).pl()


RAW_TABLES = tuple(f.raw_table for f in contract.FILES) + ("quarantine",)


def prune_raw(con: duckdb.DuckDBPyConnection, keep_runs: int) -> list[str]:
    """Delete raw rows and quarantine of all but the newest `keep_runs` runs; findings and the
    ledger stay, so history and trends survive."""
    old = [r[0] for r in con.execute(
        "SELECT run_id FROM runs ORDER BY started_at DESC OFFSET ?", [keep_runs]).fetchall()]
    if old:
        con.execute("BEGIN TRANSACTION")
        for table in RAW_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT unnest(?))", [old])
        con.execute("COMMIT")
    return old
