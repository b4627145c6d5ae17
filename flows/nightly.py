"""Prefect flows: thin orchestration over flows/pipeline.py.

`ingest_flow` loads a batch; `nightly_flow` ingests, checks and publishes. Reading a file is a
task of its own (retried on transient OS errors, never on bad input, which is an InputError
with its message); warehouse writes are serial in one task.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import pipeline, warehouse
from flows.errors import InputError
from flows.extract import batch, contract, reader
from flows.reference import nsi


def _transient(task_obj, task_run, state) -> bool:
    """Retry only OS-level hiccups (network shares, busy files), not bad input."""
    try:
        state.result()
    except InputError:
        return False
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return False
    except OSError:
        return True
    except Exception:
        return False
    return False


_READ = dict(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient, cache_policy=NO_CACHE)


@task(name="read-extract-file", **_READ)
def read_file(path: Path, spec: contract.ExtractFile):
    return reader.read_extract_file(path, spec)


@task(name="read-reference", **_READ)
def read_reference(reference_dir: Path):
    return nsi.load_reference(reference_dir)


@task(name="load-warehouse", cache_policy=NO_CACHE)
def load_warehouse(warehouse_path: Path, prepared: pipeline.Prepared, run_id: str):
    with warehouse.connect(warehouse_path) as con:
        pipeline.load_run(con, prepared, run_id)
        return pipeline.reconciliation(con, run_id)


@dataclass
class RunSummary:
    run_id: str
    as_of: datetime
    warehouse: Path
    out: Path | None
    files: list  # reconciliation rows
    findings_by_severity: dict
    findings_csv: Path | None = None


def _prepare(extracts: Path, reference: Path, as_of: str | None) -> pipeline.Prepared:
    ts, source, manifest = pipeline.resolve_as_of(extracts, as_of)
    paths = batch.locate_files(extracts)
    futures = [read_file.submit(paths[spec.name], spec) for spec in contract.FILES]
    ref_future = read_reference.submit(reference)
    files = [f.result() for f in futures]
    return pipeline.finish_prepare(extracts, reference, ts, source, manifest, files,
                                   ref_future.result())


def _ingest(extracts: Path, reference: Path, warehouse_path: Path, as_of: str | None):
    logger = get_run_logger()
    prepared = _prepare(Path(extracts), Path(reference), as_of)
    for w in prepared.warnings:
        logger.warning(w)
    run_id = pipeline.new_run_id()
    recon = load_warehouse(Path(warehouse_path), prepared, run_id)
    for row in recon.iter_rows(named=True):
        logger.info("%s: read %s, loaded %s, quarantined %s", row["file_name"], row["rows_read"],
                    row["rows_loaded"], row["rows_quarantined"])
    if not recon["reconciled"].all():
        raise RuntimeError(f"reconciliation failed for run {run_id}: {recon}")
    return prepared, run_id, recon


@flow(name="talon-ingest")
def ingest_flow(extracts: Path, reference: Path, warehouse_path: Path = warehouse.DEFAULT_WAREHOUSE,
                as_of: str | None = None) -> RunSummary:
    prepared, run_id, recon = _ingest(extracts, reference, warehouse_path, as_of)
    with warehouse.connect(warehouse_path) as con:
        pipeline.finish_run(con, run_id, "completed")
    return RunSummary(run_id, prepared.as_of, Path(warehouse_path), None, recon.to_dicts(), {})


@task(name="run-checks", cache_policy=NO_CACHE)
def check_run(warehouse_path: Path, run_id: str, as_of: datetime, params: pipeline.CheckParams):
    with warehouse.connect(warehouse_path) as con:
        return pipeline.run_checks(con, run_id, as_of, params)


@task(name="publish", cache_policy=NO_CACHE)
def publish(findings, out: Path, lang: str) -> Path:
    from reports.findings_csv import write_findings_csv

    return write_findings_csv(findings, Path(out) / "findings.csv", lang)


@flow(name="talon-nightly")
def nightly_flow(extracts: Path, reference: Path, out: Path,
                 warehouse_path: Path = warehouse.DEFAULT_WAREHOUSE, as_of: str | None = None,
                 stale_hours: int = 24, horizon_days: int = 14, lang: str = "ru") -> RunSummary:
    prepared, run_id, recon = _ingest(extracts, reference, warehouse_path, as_of)
    try:
        findings = check_run(Path(warehouse_path), run_id, prepared.as_of,
                             pipeline.CheckParams(stale_hours, horizon_days))
        csv_path = publish(findings, Path(out), lang)
    except BaseException as exc:
        with warehouse.connect(warehouse_path) as con:
            pipeline.finish_run(con, run_id, "failed", type(exc).__name__)
        raise
    with warehouse.connect(warehouse_path) as con:
        pipeline.finish_run(con, run_id, "completed")
    counts = findings.group_by("severity").len()
    return RunSummary(run_id, prepared.as_of, Path(warehouse_path), Path(out), recon.to_dicts(),
                      dict(zip(counts["severity"], counts["len"])), csv_path)
