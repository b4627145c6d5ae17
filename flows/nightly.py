"""Prefect flows: thin orchestration over flows/pipeline.py.

`ingest_flow` loads a batch; `nightly_flow` ingests, checks and publishes. Reading a file is a
task of its own (retried on transient OS errors, never on bad input, which is an InputError
with its message); warehouse writes are serial. The whole run holds the warehouse lock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import pipeline, progress, publish as publish_mod, warehouse
from flows.errors import InputError
from flows.extract import batch, contract, reader
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
def read_file(path: Path, spec: contract.ExtractFile, spool: Path | None = None):
    result = reader.read_extract_file(path, spec, spool)
    progress.step(f"Read {result.file_name}")
    return result


@task(name="read-reference", **_READ)
def read_reference(reference_dir: Path):
    ref = nsi.load_reference(reference_dir)
    progress.step("Read reference classifiers")
    return ref


@task(name="load-warehouse", cache_policy=NO_CACHE)
def load_warehouse(warehouse_path: Path, prepared: pipeline.Prepared, run_id: str, force: bool):
    with warehouse.connect(warehouse_path) as con:
        replaces = pipeline.check_rerun(con, prepared, force)
        progress.describe("Loading the warehouse")
        pipeline.load_run(con, prepared, run_id, replaces)
        progress.step("Loaded the warehouse")
        return pipeline.reconciliation(con, run_id)


@task(name="run-checks", cache_policy=NO_CACHE)
def check_run(warehouse_path: Path, run_id: str, as_of: datetime, params: pipeline.CheckParams):
    """(findings, the GX cross-check still running on a thread, or None without GX).

    GX goes on on this task's connection (it reads the TEMP staging tables) while the reports
    are rendered through another one: the two overlap instead of adding up."""
    con = warehouse.connect(warehouse_path)
    gx = None
    try:
        findings, set_found = pipeline.check_findings(con, run_id, as_of, params)
        if params.gx_crosscheck:
            gx = pipeline.BackgroundGx(con, warehouse_path, run_id, as_of, params, set_found)
    finally:
        if gx is None:
            con.close()
    progress.step("Great Expectations suite started")
    return findings, gx


def _join(gx: pipeline.BackgroundGx | None) -> None:
    """Wait for the GX thread on the way out of a failed run (its error is secondary)."""
    if gx is not None:
        try:
            gx.wait()
        except BaseException:  # noqa: BLE001
            pass


@task(name="publish-reports", cache_policy=NO_CACHE)
def publish(findings, warehouse_path: Path, run_id: str, as_of: datetime, out: Path, lang: str,
            gx: pipeline.BackgroundGx | None = None) -> Path:
    """Render every output of the run into a fresh folder, then make it `latest` atomically.
    The GX page comes last: it waits for the GX thread (`gx`) if one is still running."""
    from reports.auditor import write_auditor_report
    from reports.clinic import write_clinic_reports
    from reports.findings_csv import write_findings_csv
    from reports.validation import write_gx_page

    def render(folder: Path) -> None:
        progress.describe("Writing reports")
        write_findings_csv(findings, folder / "findings.csv", lang)
        with warehouse.connect(warehouse_path) as con:
            write_clinic_reports(con, run_id, folder, lang)
            write_auditor_report(con, run_id, folder, lang, gx_page=True)
            if gx is not None:
                progress.describe("Waiting for the Great Expectations suite")
                gx.wait()
            progress.step("Great Expectations suite done")
            write_gx_page(con, run_id, folder, lang)

    # staged only: `latest` moves after the run is marked completed (see nightly_flow)
    folder = publish_mod.stage(Path(out), publish_mod.run_label(as_of, run_id), render)
    progress.step("Reports written")
    return folder


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
    futures = {spec.name: read_file.submit(paths[spec.name], spec, spool)
               for spec in pipeline.largest_first(pipeline.present_files(paths), paths)}
    ref_future = read_reference.submit(reference)
    files = [futures[spec.name].result() for spec in pipeline.present_files(paths)]
    return pipeline.finish_prepare(extracts, reference, ts, source, manifest, files,
                                   ref_future.result())


def _ingest(extracts: Path, reference: Path, warehouse_path: Path, as_of: str | None,
            force: bool, gx: bool = False):
    quiet_input_errors()  # Prefect may have configured its handlers again for this run
    logger = get_run_logger()
    with warehouse.connect(warehouse_path) as con:
        for old in pipeline.recover_interrupted(con):
            logger.warning("run %s was interrupted earlier; marked failed", old)
    pipeline.clean_stale_spools(Path(warehouse_path))
    with pipeline.spooling(Path(warehouse_path)) as spool:
        prepared = _prepare(Path(extracts), Path(reference), as_of, spool)
        for w in prepared.warnings:
            logger.warning(w)
        run_id = pipeline.new_run_id()
        if gx:  # imported while DuckDB loads (which leaves the GIL free), ready for the checks
            pipeline.preload_gx()
        recon = load_warehouse(Path(warehouse_path), prepared, run_id, force)
    for row in recon.iter_rows(named=True):
        logger.info("%s: read %s, loaded %s, quarantined %s", row["file_name"], row["rows_read"],
                    row["rows_loaded"], row["rows_quarantined"])
    if not recon["reconciled"].all():
        raise RuntimeError(f"reconciliation failed for run {run_id}")
    return prepared, run_id, recon


def _fail_run(warehouse_path: Path, run_id: str, exc: BaseException) -> None:
    with warehouse.connect(warehouse_path) as con:
        pipeline.finish_run(con, run_id, "failed", f"{type(exc).__name__}: {exc}"[:500])


@flow(name="talon-ingest", task_runner=ThreadPoolTaskRunner(max_workers=pipeline.READ_WORKERS))
def ingest_flow(extracts: Path, reference: Path, warehouse_path: Path = warehouse.DEFAULT_WAREHOUSE,
                as_of: str | None = None, force: bool = False, lock_timeout: float = 0.0) -> RunSummary:
    with warehouse_lock(Path(warehouse_path), lock_timeout):
        prepared, run_id, recon = _ingest(extracts, reference, warehouse_path, as_of, force)
        with warehouse.connect(warehouse_path) as con:
            # not 'completed': no checks ran, so this run is no point of the findings history
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
    warehouse_path = Path(warehouse_path)
    with warehouse_lock(warehouse_path, lock_timeout):
        publish_mod.clean_stale_temp(Path(out))
        prepared, run_id, recon = _ingest(extracts, reference, warehouse_path, as_of, force,
                                          gx=True)
        gx = None
        try:
            findings, gx = check_run(warehouse_path, run_id, prepared.as_of, params)
            folder = publish(findings, warehouse_path, run_id, prepared.as_of, Path(out), lang, gx)
            if gx is not None:
                gx.wait()  # joined already by the GX page; raises if GX failed
        except BaseException as exc:
            _join(gx)
            _fail_run(warehouse_path, run_id, exc)
            raise
        # Completed first, then `latest`: a kill in between leaves a completed run whose folder
        # is not yet latest (the next run promotes its own), never a failed run shown as latest.
        with warehouse.connect(warehouse_path) as con:
            pipeline.finish_run(con, run_id, "completed")
        publish_mod.promote(Path(out), folder.name)
        try:
            publish_artifacts(warehouse_path, run_id, folder)
        except Exception as exc:  # noqa: BLE001  (the run and its reports are complete already)
            get_run_logger().warning("Prefect artifacts not created: %s", type(exc).__name__)
    from reports.data import open_findings

    # what is still to fix: a waived finding (a clinic's answer "not an error") is no defect,
    # so it counts neither in the printed totals nor for --fail-on
    counts = open_findings(findings).group_by("severity").len()
    return RunSummary(run_id, prepared.as_of, warehouse_path, folder, recon.to_dicts(),
                      dict(zip(counts["severity"], counts["len"])))
