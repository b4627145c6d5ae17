"""National run: one extract batch per region, each region a task on a Dask cluster.

Layout of `talon run --extracts DIR` (how TFOMS deliver: one folder per territorial fund):

    DIR/<region>/extract/      patients, policies, attachments, slots (.csv or .parquet)
                               + manifest.json (region_code, extracted_at)
    DIR/<region>/reference/    that region's F002, F003, F008, F010, V021            (optional)
  or, the batch directly in the region's folder:
    DIR/<region>/              patients.csv, ..., manifest.json
    DIR/<region>/reference/    (optional)
    DIR/reference/             the shared classifiers, used by every region without its own
                               (`--reference` overrides this folder)

`<region>` is the folder name (e.g. `50`, `77`, `16-tatarstan`): ASCII letters, digits, `_`, `-`,
`.` (not first). It names the region's warehouse `WAREHOUSE_DIR/<region>.duckdb` and its outputs
`OUT/<region>/` (per-run folders and `latest`, exactly as a single-region `talon run` writes
them). Hidden folders, `DIR/reference` and plain files are not regions; every other folder
must hold a batch, so a region is never skipped silently.

Each region runs as its own Prefect task on Dask (`DaskTaskRunner`): a temporary local cluster
of `workers` single-threaded worker processes, or the scheduler at `dask_address`. The task runs
`pipeline.run_batch`, the very sequence the nightly flow runs (with plain calls instead of
Prefect tasks), under the region warehouse's lock. The national summary is then read back from each region's
warehouse (nothing recomputed) into `OUT/index.html`, each region under its warehouse's lock
(waiting up to the run's lock timeout): a region whose lock a later run holds meanwhile is
listed as such instead of being read half-way, and the run's exit code is then 4.

DuckDB per worker: N workers on one machine must not each size DuckDB to 80 % of it (its
default). Each region task gets its share (`DuckDBShare`: memory limit and threads), applied to
every warehouse connection it opens; see `duckdb_share` for the arithmetic.

Workers read the extracts and write warehouses and reports themselves, so on a real cluster
DIR, WAREHOUSE_DIR and OUT must be on a filesystem every worker and the submitting machine see
at the same paths (and the Prefect API must be reachable from the workers).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import pipeline, publish as publish_mod, warehouse
from flows.errors import ConfigError, InputError
from flows.extract.contract import SUFFIXES
from flows.logs import quiet_input_errors
from flows.parallel import cores_per, host_cores

EXTRACT, REFERENCE = "extract", "reference"
_REGION_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
_RESERVED = {EXTRACT, REFERENCE, publish_mod.LATEST}


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Region:
    """One region's batch as found under DIR."""

    name: str
    extracts: Path
    reference: Path


def _is_dir(path: Path) -> bool:
    """A real folder (a symlink is never followed, as for extract files)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _has_batch(folder: Path) -> bool:
    return any(os.path.lexists(folder / f"patients{s}") for s in SUFFIXES)


def _batch_folder(folder: Path) -> Path | None:
    """The region's extract folder: the folder itself or its `extract` subfolder."""
    direct, nested = _has_batch(folder), _is_dir(folder / EXTRACT) and _has_batch(folder / EXTRACT)
    if direct and nested:
        raise InputError(f"holds an extract batch both directly and in {EXTRACT}/; keep one",
                         file=str(folder))
    return folder if direct else (folder / EXTRACT if nested else None)


def _candidates(root: Path) -> list[Path]:
    """Every visible folder (or symlink, which discover_regions refuses) but DIR/reference."""
    return sorted(p for p in root.iterdir()
                  if not p.name.startswith(".") and p.name != REFERENCE
                  and (p.is_symlink() or _is_dir(p)))


def is_national(extracts: Path) -> bool:
    """True when DIR is a national delivery: no batch of its own (no patients.*), no `extract`
    folder (a single generated region), and at least one region folder holding a batch."""
    root = Path(extracts)
    if not _is_dir(root) or _has_batch(root) or os.path.lexists(root / EXTRACT):
        return False
    for folder in _candidates(root):
        try:
            if _batch_folder(folder) is not None:
                return True
        except InputError:
            return True  # a region folder, if an ambiguous one: discover_regions says why
    return False


def discover_regions(extracts_root: Path, reference: Path | None = None) -> list[Region]:
    """Every region under DIR with its extract and reference folders, sorted by name.

    Raises InputError, before anything runs, for a folder that is not a region batch, a name
    that cannot be a file name, or a region with no reference folder at all."""
    root = Path(extracts_root)
    if not _is_dir(root):
        raise InputError("national extracts folder not found or not a folder", file=str(root))
    shared = Path(reference) if reference is not None else (
        root / REFERENCE if _is_dir(root / REFERENCE) else None)
    regions = []
    for folder in _candidates(root):
        if folder.is_symlink():
            raise InputError("region folder is a symlink; symlinks are never followed: "
                             "put the batch itself there", file=str(folder))
        if not _REGION_NAME.match(folder.name) or folder.name.lower() in _RESERVED:
            raise InputError("region folder names may use ASCII letters, digits, '_', '-' and "
                             f"'.' only (and not be {', '.join(sorted(_RESERVED))}); rename it",
                             file=str(folder))
        batch = _batch_folder(folder)
        if batch is None:
            raise InputError("region folder holds no extract batch (patients.csv or "
                             f"patients.parquet, directly or in {EXTRACT}/)", file=str(folder))
        own = folder / REFERENCE
        ref = own if _is_dir(own) else shared
        if ref is None:
            raise InputError(f"region has no {REFERENCE}/ folder and no shared reference was "
                             "given (--reference or DIR/reference)", file=str(folder))
        regions.append(Region(folder.name, batch, ref))
    if not regions:
        raise InputError("no region folders found (expected DIR/<region>/extract or "
                         "DIR/<region>/patients.csv)", file=str(root))
    return regions


# --------------------------------------------------------------------------- DuckDB per worker

#: DuckDB's part of a Dask worker's memory limit. The rest of the worker process holds polars and
#: pyarrow frames and Python itself, and DuckDB's limit bounds its buffer pool only; Dask's nanny
#: pauses a worker at 80 % of its limit and restarts it at 95 % (whatever DuckDB could spill).
DUCKDB_MEMORY_FRACTION = 0.5


@dataclass(frozen=True)
class DuckDBShare:
    """What one region task's DuckDB may use: set on every warehouse connection the task opens
    (through warehouse.MEMORY_LIMIT_ENV and THREADS_ENV, for the task's duration)."""

    memory_limit: str | None = None  # a DuckDB size, e.g. "1536MiB"; None: left as it is
    threads: int | None = None

    def env(self) -> dict[str, str]:
        env = {}
        if self.memory_limit:
            env[warehouse.MEMORY_LIMIT_ENV] = self.memory_limit
        if self.threads:
            env[warehouse.THREADS_ENV] = str(self.threads)
        return env


def memory_bytes(size: str) -> int | None:
    """Bytes of a memory size as TALON_DUCKDB_MEMORY_LIMIT is written ('8GB', '6 GiB', '50%'),
    read by DuckDB itself, so it means what warehouse.connect makes of it; None when DuckDB
    takes it for no limit. ConfigError when it is not a size."""
    import duckdb

    with duckdb.connect() as con:
        try:
            con.execute("SET memory_limit = ?", [size])
        except duckdb.Error as exc:
            raise ConfigError(f"{warehouse.MEMORY_LIMIT_ENV}={size!r} is not a DuckDB memory "
                              f"size (e.g. 4GB): {exc}") from None
        shown = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    return pipeline.parse_memory_size(shown)


def duckdb_share(host_tasks: int, cores: int, worker_memory: int | None, worker_tasks: int = 1,
                 configured: str | None = None, host_memory: int | None = None) -> DuckDBShare:
    """The DuckDB share of one region task when `host_tasks` region tasks may run at once on a
    host of `cores` cores, `worker_tasks` of them in its worker (the worker's threads).

    Memory, in this order:
    - TALON_DUCKDB_MEMORY_LIMIT (`configured`), when set, is what all of Talon's DuckDB may use
      on the host, as it is for a single-region run: split evenly among the host's tasks (N
      workers each taking the whole of it would take N times what the operator allowed);
    - else DUCKDB_MEMORY_FRACTION of the worker's Dask memory limit (`worker_memory`; a local
      cluster's is the host's memory over its workers), split among the worker's tasks;
    - else (a worker without a limit) that fraction of `host_memory` split among the host's
      tasks; with none of these, DuckDB's default.
    Threads: the host's cores split among its tasks, at least one each."""
    host_tasks, worker_tasks = max(1, host_tasks), max(1, worker_tasks)
    total = memory_bytes(configured) if configured else None
    if total:
        each = total // host_tasks
    elif worker_memory:
        each = int(worker_memory * DUCKDB_MEMORY_FRACTION) // worker_tasks
    elif host_memory:
        each = int(host_memory * DUCKDB_MEMORY_FRACTION) // host_tasks
    else:
        each = None
    return DuckDBShare(f"{max(1, each >> 20)}MiB" if each else None, max(1, cores // host_tasks))


def local_worker_memory(workers: int) -> int:
    """Each worker's memory limit on a local cluster of `workers`: the host's memory (or this
    process's cgroup limit) over the workers, as Dask's own 'auto' computes it."""
    from distributed.system import MEMORY_LIMIT

    return MEMORY_LIMIT // max(1, workers)


def local_share(workers: int) -> DuckDBShare:
    """Each region task's share on the local cluster `task_runner` starts (one task per worker).
    A bad TALON_DUCKDB_MEMORY_LIMIT stops here, before the cluster starts."""
    return duckdb_share(workers, host_cores(), local_worker_memory(workers), 1,
                        os.environ.get(warehouse.MEMORY_LIMIT_ENV))


def worker_share(configured: str | None) -> DuckDBShare | None:
    """The share on the Dask worker this process is (None outside one): for a cluster Talon did
    not start (`--dask-address`). The host's tasks are the threads of the scheduler's workers
    on this worker's host; `configured` is this host's TALON_DUCKDB_MEMORY_LIMIT."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    from distributed.comm.addressing import get_address_host
    from distributed.system import MEMORY_LIMIT

    nthreads = worker.state.nthreads
    host_tasks = nthreads
    try:
        from distributed import get_client

        host = get_address_host(worker.address)
        infos = get_client().scheduler_info(n_workers=-1)["workers"].values()
        host_tasks = sum(w.get("nthreads", 0) for w in infos if w.get("host") == host) or nthreads
    except Exception:  # noqa: BLE001  (the scheduler unreachable: this worker's threads only)
        pass
    return duckdb_share(host_tasks, host_cores(), worker.memory_manager.memory_limit, nthreads,
                        configured, MEMORY_LIMIT)


_env_lock = threading.Lock()
_env_users = 0
_env_saved: dict[str, str | None] = {}


@contextmanager
def duckdb_settings(share: DuckDBShare | None):
    """Set `share` on every warehouse connection this process opens until the block ends
    (`share` None: the share of the Dask worker this runs on, if any); yields what was applied.

    Through the environment, because pipeline.run_batch opens its connections with
    warehouse.connect, which reads it. Region tasks running at once in one worker get the same
    share; the last one to end puts the environment back as it was."""
    global _env_users, _env_saved
    keys = (warehouse.MEMORY_LIMIT_ENV, warehouse.THREADS_ENV)
    with _env_lock:
        if _env_users == 0:
            _env_saved = {k: os.environ.get(k) for k in keys}
        if share is None:
            share = worker_share(_env_saved[warehouse.MEMORY_LIMIT_ENV])
        os.environ.update(share.env() if share is not None else {})
        _env_users += 1
    try:
        yield share
    finally:
        with _env_lock:
            _env_users -= 1
            if _env_users == 0:
                for k, v in _env_saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v


# --------------------------------------------------------------------------- one region


@dataclass
class RegionResult:
    """What a region task hands back through Dask: small, picklable, no personal data."""

    region: str
    warehouse: Path
    out: Path  # OUT/<region>
    status: str = "failed"  # completed | failed | locked | unreadable (the last two: the run
    # completed, but the national page could not read its warehouse: another run held its
    # lock past the lock timeout, or reading it failed)
    run_id: str | None = None
    as_of: datetime | None = None
    region_code: str | None = None
    folder: Path | None = None  # the run's own output folder OUT/<region>/<label>
    recon: object = None  # polars DataFrame: reconciliation per file
    findings_by_severity: dict = field(default_factory=dict)
    error: str | None = None  # one line, for the national page
    exit_code: int = 0  # 0 completed; InputError.exit_code (2, 4) or 3 for internal errors
    duckdb: DuckDBShare | None = None  # what the task's DuckDB was given on its worker


def _logger():
    try:
        return get_run_logger()
    except Exception:  # noqa: BLE001  (called outside a Prefect run)
        return logging.getLogger("talon.national")


def run_region(extracts: Path, reference: Path, out: Path, warehouse_path: Path,
               as_of: str | None = None, params: pipeline.CheckParams = pipeline.CheckParams(),
               lang: str = "ru", force: bool = False, lock_timeout: float = 0.0,
               name: str | None = None) -> RegionResult:
    """One region's nightly run: pipeline.run_batch with plain steps (the nightly flow's own
    sequence) into `out`. Raises what the run raises (InputError for bad input) after marking
    a loaded run failed."""
    log = _logger()
    result = pipeline.run_batch(Path(extracts), Path(reference), Path(out), Path(warehouse_path),
                                as_of, params, lang, force, lock_timeout, log=log)
    findings, run_id = result.findings, result.run_id
    from reports.data import open_findings

    # what is still to fix: a waived finding (a clinic's answer "not an error") is no defect,
    # so it counts neither in the printed totals nor for --fail-on
    counts = open_findings(findings).group_by("severity").len()
    log.info("region %s: run %s, %s findings", name or extracts, run_id, findings.height)
    return RegionResult(name or Path(extracts).name, Path(warehouse_path), Path(out), "completed",
                        run_id, result.as_of, result.region_code, result.folder,
                        result.reconciliation,
                        dict(zip(counts["severity"], counts["len"])))


@task(name="region-run", cache_policy=NO_CACHE, task_run_name="region-{region.name}")
def region_task(region: Region, out_root: Path, warehouse_dir: Path, as_of: str | None,
                params: pipeline.CheckParams, lang: str, force: bool,
                lock_timeout: float, share: DuckDBShare | None = None) -> RegionResult:
    """`share`: DuckDB's share on the worker (`local_share`); None: worked out on the worker."""
    quiet_input_errors()  # this worker's Prefect handlers
    with duckdb_settings(share) as applied:
        if applied is not None:
            _logger().info("region %s: DuckDB memory_limit %s, threads %s", region.name,
                           applied.memory_limit or "default", applied.threads)
        result = run_region(region.extracts, region.reference, Path(out_root) / region.name,
                            region_warehouse(warehouse_dir, region.name), as_of, params, lang,
                            force, lock_timeout, name=region.name)
    result.duckdb = applied
    return result


def region_warehouse(warehouse_dir: Path, name: str) -> Path:
    return Path(warehouse_dir) / f"{name}.duckdb"


def _failed(region: Region, out_root: Path, warehouse_dir: Path,
            exc: BaseException) -> RegionResult:
    """The national page shows an InputError's one line (file, line, column; no data values);
    any other error only by type: its text may quote anything, and it is in the Prefect logs."""
    if isinstance(exc, InputError):
        message, code = exc.one_line(), exc.exit_code
    else:
        message, code = f"internal error ({type(exc).__name__}); see the run's log", 3
    return RegionResult(region.name, region_warehouse(warehouse_dir, region.name),
                        Path(out_root) / region.name, error=message[:500], exit_code=code)


# --------------------------------------------------------------------------- national


@dataclass
class NationalSummary:
    index: Path  # OUT/index.html
    regions: list[RegionResult]  # sorted by region name

    @property
    def out(self) -> Path:
        return self.index.parent

    @property
    def completed(self) -> list[RegionResult]:
        return [r for r in self.regions if r.status == "completed"]

    @property
    def failed(self) -> list[RegionResult]:
        return [r for r in self.regions if r.status != "completed"]

    @property
    def findings_by_severity(self) -> dict:
        total: dict = {}
        for r in self.completed:
            for sev, n in r.findings_by_severity.items():
                total[sev] = total.get(sev, 0) + n
        return total

    @property
    def exit_code(self) -> int:
        """0 when every region completed and was read, else the highest region exit code (2
        bad input, 3 internal error, 4 warehouse busy, when running or for the national page)."""
        return max((r.exit_code for r in self.failed), default=0)


def task_runner(dask_address: str | None, workers: int | None, regions: int):
    """DaskTaskRunner on the scheduler at `dask_address`, or on a temporary local cluster of
    `workers` single-threaded processes (default: one per region, at most one per core)."""
    from prefect_dask import DaskTaskRunner

    if dask_address:
        _check_remote_api(dask_address)
        if workers:
            raise InputError("--workers starts a local cluster; it cannot be combined with "
                             "--dask-address (size the remote cluster with `dask worker`)")
        return DaskTaskRunner(address=dask_address)
    if workers is not None and workers < 1:
        raise InputError("--workers must be at least 1")
    n = workers or max(1, min(regions, host_cores()))
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": n, "threads_per_worker": 1, "processes": True,
        "dashboard_address": ":0",  # a free port: several runs may share a host
        # Dask's own 'auto', made explicit: local_share gives DuckDB its part of this.
        "memory_limit": local_worker_memory(n),
        # Each worker's polars gets its share of the cores (DuckDB its share: local_share).
        "env": {"POLARS_MAX_THREADS": str(cores_per(n))},
    })


def _artifacts(summary: NationalSummary) -> None:
    """Counts per region for the Prefect UI (no personal data) and a link to the report."""
    from prefect.artifacts import create_link_artifact, create_table_artifact

    rows = [{"region": r.region, "status": r.status, "run_id": r.run_id or "",
             "blockers": r.findings_by_severity.get("blocker", 0),
             "warnings": r.findings_by_severity.get("warning", 0), "error": r.error or ""}
            for r in summary.regions]
    create_table_artifact(key="talon-national-regions", table=rows,
                          description="Findings per region of the national run")
    create_link_artifact(key="talon-national-report", link=summary.index.resolve().as_uri(),
                         link_text="Talon national report",
                         description="The national summary (open on the report host)")


def _workers_api():
    """Workers report task states to the Prefect API this flow uses. Without PREFECT_API_URL
    that is the temporary server this process started: hand its address to the workers (in
    the serialised settings each task carries), or every worker would start its own."""
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL, temporary_settings

    ctx = FlowRunContext.get()
    if PREFECT_API_URL.value() or ctx is None or ctx.client is None:
        return nullcontext()
    return temporary_settings(updates={PREFECT_API_URL: str(ctx.client.api_url).rstrip("/")})


def _check_remote_api(dask_address: str) -> None:
    """Remote workers cannot reach a temporary server bound to this machine's loopback."""
    from prefect.settings import PREFECT_API_URL

    host = urlsplit(dask_address if "://" in dask_address else f"tcp://{dask_address}").hostname
    if not PREFECT_API_URL.value() and host not in ("127.0.0.1", "localhost", "::1"):
        raise InputError(
            "a Dask cluster on other machines needs a Prefect server its workers can reach: "
            "start `prefect server start --host 0.0.0.0` and set "
            "PREFECT_API_URL=http://<this host>:4200/api", file=dask_address)


@flow(name="talon-national")
def national_run(regions: list[Region], out: Path, warehouse_dir: Path, as_of: str | None,
                 params: pipeline.CheckParams, lang: str, force: bool,
                 lock_timeout: float, share: DuckDBShare | None = None) -> NationalSummary:
    """Submit every region to the flow's task runner, wait for all, render the national page
    (reading each region's warehouse under its lock, waiting up to `lock_timeout`)."""
    from reports.national import RegionEntry, national_page

    quiet_input_errors()
    log = get_run_logger()
    out, warehouse_dir = Path(out), Path(warehouse_dir)
    with _workers_api():
        futures = [region_task.submit(r, out, warehouse_dir, as_of, params, lang, force,
                                      lock_timeout, share) for r in regions]
    results = []
    for region, future in zip(regions, futures):
        try:
            result = future.result(raise_on_failure=False)
        except (Exception, asyncio.CancelledError) as exc:  # a lost worker: distributed's errors
            result = exc
        if isinstance(result, BaseException):
            log.error("region %s failed: %s", region.name,
                      result.one_line() if isinstance(result, InputError) else repr(result))
            result = _failed(region, out, warehouse_dir, result)
        results.append(result)
    # Every region task has ended (its lock released): the reading below waits only for a
    # run started meanwhile (the lock is not re-entrant: nothing here may hold one).
    page = national_page([RegionEntry(r.region, r.warehouse, r.run_id, r.error)
                          for r in results], out, lang, lock_timeout)
    for result in results:
        unread = page.unread.get(result.region)
        if unread is not None:
            log.error("region %s: not on the national page: %s", result.region, unread.error)
            result.status, result.error, result.exit_code = (unread.status, unread.error,
                                                             unread.exit_code)
    summary = NationalSummary(page.index, results)
    _artifacts(summary)
    return summary


def national_flow(extracts_root: Path, reference: Path | None, out: Path, warehouse_dir: Path,
                  as_of: str | None = None, stale_hours: int = 24, horizon_days: int = 14,
                  lang: str = "ru", dask_address: str | None = None, workers: int | None = None,
                  force: bool = False, lock_timeout: float = 0.0,
                  params: pipeline.CheckParams | None = None) -> NationalSummary:
    """Run every region of DIR on Dask and write the national summary to OUT/index.html.

    `params`, when given, carries every check setting (stale_hours and horizon_days are then
    ignored). Layout errors raise InputError before any cluster starts; a region that fails does not
    stop the others: it is listed with its error, and `NationalSummary.exit_code` says so."""
    from flows.asof import resolve_as_of
    from reports.i18n import check_lang

    check_lang(lang)
    if as_of is not None:
        resolve_as_of(as_of, {})  # a bad --as-of stops here, not once per region
    # Absolute paths: a remote worker's current folder is not this one.
    regions = discover_regions(Path(extracts_root).absolute(),
                               Path(reference).absolute() if reference is not None else None)
    runner = task_runner(dask_address, workers, len(regions))
    # Talon's own cluster: each task's DuckDB share, worked out here and passed to the task;
    # on a given cluster each task works out its own from its worker (`worker_share`).
    share = None if dask_address else local_share(runner.cluster_kwargs["n_workers"])
    flow_ = national_run.with_options(task_runner=runner)
    params = params or pipeline.CheckParams(stale_hours, horizon_days)
    return flow_(regions, Path(out).absolute(), Path(warehouse_dir).absolute(), as_of,
                 params, lang, force, lock_timeout, share)
