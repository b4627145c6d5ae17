"""The nightly job as plain functions: prepare (read everything, touch nothing), load (one
transaction), check, publish. Prefect flows in flows/nightly.py orchestrate these; tests call
them directly without a server.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from flows import asof as asof_mod
from flows.extract import batch, contract, load, reader
from flows.reference import nsi


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


def load_run(con: duckdb.DuckDBPyConnection, prepared: Prepared, run_id: str) -> None:
    """Write the run's ledger entry, raw tables, quarantine and reference in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
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
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str,
               message: str | None = None) -> None:
    con.execute("UPDATE runs SET status = ?, finished_at = ?, message = ? WHERE run_id = ?",
                [status, datetime.now(), message, run_id])


def reconciliation(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Per file: rows read, loaded, quarantined, and whether read = loaded + quarantined."""
    return con.execute(
        """SELECT file_name, rows_read, rows_loaded, rows_quarantined, blank_lines,
                  rows_read = rows_loaded + rows_quarantined AS reconciled
           FROM run_files WHERE run_id = ? ORDER BY file_name""", [run_id]).pl()


def run_checks(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
               params: CheckParams = CheckParams()) -> pl.DataFrame:
    """Stage the run, run both engines, route and store the findings; returns them."""
    from checks import findings, row_rules, set_rules, staging

    staged = staging.build_staging(con, run_id, as_of)
    f008 = {r[0] for r in con.execute("SELECT iddoc FROM cur_f008").fetchall()}
    raw = pl.concat([
        row_rules.run_row_rules(staged, as_of, f008).with_columns(pl.lit(None, pl.String).alias("entity")),
        set_rules.run_set_rules(con, run_id, as_of, params.stale_hours, params.horizon_days)
        .with_columns(pl.lit(None, pl.String).alias("entity")),
        findings.quarantine_findings(con, run_id),
    ], how="diagonal_relaxed")
    return findings.route_and_store(con, run_id, raw)
