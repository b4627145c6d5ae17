"""Prefect flows: thin orchestration over flows/pipeline.py.

`ingest_flow` loads a batch; `nightly_flow` ingests, checks and publishes: it is
`pipeline.run_batch` (the sequence the national Dask task runs too) with Prefect tasks as its
steps. Reading a file is a task of its own (retried on transient OS errors, never on bad input, which is an InputError
with its message); warehouse writes are serial. The whole run holds the warehouse lock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import pipeline, progress, warehouse
from flows.errors import InputError
from flows.extract import batch, contract
from flows.lock import warehouse_lock
from flows.logs import quiet_input_errors
from flows.reference import nsi

quiet_input_errors()


def _transient(task_obj, task_run, state) -> bool:
    """Retry only OS-level hiccups (network shares, busy files), not bad input."""
    try:
        state.result()
    except (InputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return False
    except OSError:
        return True
    except Exception:  # noqa: BLE001
        return False
    return False


_READ = dict(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient, cache_policy=NO_CACHE)


@task(name="read-extract-file", **_READ)
def read_file(path: Path, spec: contract.ExtractFile, spool: Path | None, as_of: datetime,
              register: bool):
    result = pipeline.read_file(path, spec, spool, as_of, register)
    progress.step(f"Read {result.file_name}")
    return result


@task(name="read-reference", **_READ)
def read_reference(reference_dir: Path):
    ref = nsi.load_reference(reference_dir)
    progress.step("Read reference classifiers")
    return ref


@task(name="load-warehouse", cache_policy=NO_CACHE)
def load_warehouse(warehouse_path: Path, prepared: pipeline.Prepared, run_id: str, force: bool):
    return pipeline.load_step(warehouse_path, prepared, run_id, force)


@task(name="run-checks", cache_policy=NO_CACHE)
def check_run(warehouse_path: Path, run_id: str, as_of: datetime, params: pipeline.CheckParams,
              spools: dict | None = None):
    """(findings, the GX cross-check still running on a thread, or None): pipeline.check_step."""
    return pipeline.check_step(warehouse_path, run_id, as_of, params, spools)


@task(name="publish-reports", cache_policy=NO_CACHE)
def publish(findings, warehouse_path: Path, run_id: str, as_of: datetime, out: Path, lang: str,
            gx: pipeline.BackgroundGx | None = None) -> Path:
    """Render every output of the run into its own folder (staged; `latest` moves once the run
    is completed). The GX page comes last: it waits for the GX thread (`gx`) if one runs."""
    return pipeline.publish_step(findings, warehouse_path, run_id, as_of, out, lang, gx)


@task(name="publish-artifacts", cache_policy=NO_CACHE)
def publish_artifacts(warehouse_path: Path, run_id: str, folder: Path) -> None:
    from flows.artifacts import create_run_artifacts

    with warehouse.connect(warehouse_path) as con:
        create_run_artifacts(con, run_id, folder)


@dataclass
class RunSummary:
    run_id: str
    as_of: datetime
    warehouse: Path
    out: Path | None  # the run's own output folder
    files: list  # reconciliation rows
    findings_by_severity: dict


def _prepare(extracts: Path, reference: Path, as_of: str | None,
             spool: Path | None = None) -> pipeline.Prepared:
    ts, source, manifest = pipeline.resolve_as_of(extracts, as_of)
    paths = batch.locate_files(extracts)
    register = pipeline.has_register(paths)
    progress.expect(progress.run_steps(len(pipeline.present_files(paths))))
    futures = {spec.name: read_file.submit(paths[spec.name], spec, spool, ts, register)
               for spec in pipeline.largest_first(pipeline.present_files(paths), paths)}
    ref_future = read_reference.submit(reference)
    files = [futures[spec.name].result() for spec in pipeline.present_files(paths)]
    return pipeline.finish_prepare(extracts, reference, ts, source, manifest, files,
                                   ref_future.result())


@flow(name="talon-ingest", task_runner=ThreadPoolTaskRunner(max_workers=pipeline.READ_WORKERS))
def ingest_flow(extracts: Path, reference: Path, warehouse_path: Path = warehouse.DEFAULT_WAREHOUSE,
                as_of: str | None = None, force: bool = False, lock_timeout: float = 0.0) -> RunSummary:
    with warehouse_lock(Path(warehouse_path), lock_timeout):
        quiet_input_errors()  # Prefect may have configured its handlers again for this run
        with pipeline.ingested(extracts, reference, Path(warehouse_path), as_of, force,
                               pipeline.Steps(prepare=_prepare, load=load_warehouse),
                               get_run_logger(), checks=False) as (prepared, run_id, recon):
            if not recon["reconciled"].all():
                raise RuntimeError(f"reconciliation failed for run {run_id}")
            with warehouse.connect(warehouse_path) as con:
                # not 'completed': no checks ran, so this run is no point of the findings
                # history
                pipeline.finish_run(con, run_id, "ingested")
    return RunSummary(run_id, prepared.as_of, Path(warehouse_path), None, recon.to_dicts(), {})


@flow(name="talon-nightly", task_runner=ThreadPoolTaskRunner(max_workers=pipeline.READ_WORKERS))
def nightly_flow(extracts: Path, reference: Path, out: Path,
                 warehouse_path: Path = warehouse.DEFAULT_WAREHOUSE, as_of: str | None = None,
                 stale_hours: int = 24, horizon_days: int = 14, lang: str = "ru",
                 force: bool = False, lock_timeout: float = 0.0, volume_drop: float = 0.7,
                 mo_silent_min: int = 20, mo_shrunk: float = 0.5,
                 column_empty_points: float = 10.0, gx_crosscheck: bool = False) -> RunSummary:
    from checks.feed import FeedParams

    params = pipeline.CheckParams(stale_hours, horizon_days, gx_crosscheck, FeedParams(
        volume_drop, mo_silent_min, mo_shrunk, column_empty_points))  # bad thresholds stop here
    quiet_input_errors()  # Prefect may have configured its handlers again for this run
    steps = pipeline.Steps(prepare=_prepare, load=load_warehouse, check=check_run,
                           publish=publish, after=publish_artifacts)
    result = pipeline.run_batch(extracts, reference, out, Path(warehouse_path), as_of, params,
                                lang, force, lock_timeout, steps, get_run_logger())
    findings, folder = result.findings, result.folder
    from reports.data import open_findings

    # what is still to fix: a waived finding (a clinic's answer "not an error") is no defect,
    # so it counts neither in the printed totals nor for --fail-on
    counts = open_findings(findings).group_by("severity").len()
    return RunSummary(result.run_id, result.as_of, Path(warehouse_path), folder,
                      result.reconciliation.to_dicts(),
                      dict(zip(counts["severity"], counts["len"])))
