"""The nightly job as plain functions: prepare (read everything, touch nothing), load (one
transaction), check, publish. Prefect flows in flows/nightly.py orchestrate these; tests call
them directly without a server.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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
    #: also re-run the set rules as a Great Expectations suite (`--gx-crosscheck`); off by
    #: default: a normal night runs GX only for the feed-health suite (checks/feed.py)
    gx_crosscheck: bool = False
    feed: object = None  # checks.feed.FeedParams (None: the defaults)


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


#: Extract files read at once: each read is itself multi-threaded (polars), so more than the
#: cores only adds memory.
READ_WORKERS = max(1, min(len(contract.FILES), os.cpu_count() or 1))


def largest_first(specs, paths: dict) -> list:
    """The files in the order to start reading them: largest first, so that the workers end
    together instead of one reading the biggest file alone at the end."""
    def size(spec) -> int:
        try:
            return Path(paths[spec.name]).stat().st_size
        except OSError:  # the read itself reports it
            return 0
    return sorted(specs, key=size, reverse=True)


def present_files(paths: dict) -> list:
    """The contract files a batch has (`paths` from batch.locate_files), in contract order: the
    four required ones, then the optional ones it holds (the registry)."""
    return [spec for spec in contract.ALL_FILES if spec.name in paths]


def read_file(path: Path, spec: contract.ExtractFile, spool: Path | None, as_of: datetime,
              register: bool) -> reader.ReadResult:
    """Read one extract file; with a `spool` folder its loaded rows are typed on D = as_of
    while each block is in memory (checks.staging.typer; `register`: the batch has an
    insured-persons register) and spooled with their text, for the load and the checks."""
    from checks import staging

    return reader.read_extract_file(path, spec, spool,
                                    staging.typer(spec.name, as_of, register))


def has_register(paths: dict) -> bool:
    """Whether the batch (`paths` from batch.locate_files) holds an insured-persons register."""
    return contract.REGISTRY.name in paths


def typed_spools(prepared: Prepared) -> dict:
    """entity -> checks.staging.TypedSpool: the rows the reader typed, for staging."""
    from checks import staging

    return {r.spec.name: staging.TypedSpool(r.spec.name, Path(r.spool_path),
                                            tuple(r.excluded.to_list()))
            for r in prepared.files if r.typed}


def prepare(extracts: Path, reference_dir: Path, as_of: str | None = None,
            spool: Path | None = None, workers: int = 1,
) -> Prepared:
    """Read and validate the whole batch; raises InputError before anything is written.

    With a `spool` folder (see `spooling`) the loaded rows wait there as Parquet, typed,
    instead of in memory, so a region of any size is read in bounded memory. `workers` files
    are read at once (as the nightly flow's read tasks are).
    """
    ts, source, manifest = resolve_as_of(extracts, as_of)
    paths = batch.locate_files(Path(extracts))
    register = has_register(paths)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="talon-read") as pool:
        futures = {spec.name: pool.submit(read_file, paths[spec.name], spec, spool, ts,
                                          register)
                   for spec in largest_first(present_files(paths), paths)}
        files = [futures[spec.name].result() for spec in present_files(paths)]
    reference = nsi.load_reference(Path(reference_dir))
    return finish_prepare(extracts, reference_dir, ts, source, manifest, files, reference)


SPOOL_SUFFIX = ".spool-"


def _spool_prefix(warehouse_path: Path) -> str:
    return f".{Path(warehouse_path).name}{SPOOL_SUFFIX}"


@contextmanager
def spooling(warehouse_path: Path):
    """A private folder (0700) beside the warehouse for the rows read but not yet loaded; it
    holds personal data, so it is removed when the block ends, whatever happens. Beside the
    warehouse because that disk is sized for the data (a tmpfs /tmp may not be)."""
    warehouse_path = Path(warehouse_path)
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=_spool_prefix(warehouse_path),
                                   dir=warehouse_path.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clean_stale_spools(warehouse_path: Path) -> list[Path]:
    """Remove spool folders a killed run left beside this warehouse (call with the lock held:
    then no other run of this warehouse can be using one)."""
    warehouse_path = Path(warehouse_path)
    stale = sorted(warehouse_path.parent.glob(_spool_prefix(warehouse_path) + "*"))
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


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
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        warehouse.remove_raw_runs(warehouse.raw_store(con), [run_id])
        raise


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
    if status != "failed":
        warehouse.remove_raw_runs(warehouse.raw_store(con), replaced)


def reconciliation(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Per file: rows read, loaded, quarantined, and whether read = loaded + quarantined."""
    return con.sql(
        """SELECT file_name, rows_read, rows_loaded, rows_quarantined, blank_lines,
                  rows_read = rows_loaded + rows_quarantined AS reconciled
           FROM run_files WHERE run_id = ? ORDER BY file_name""", params=[run_id]).pl()


def check_findings(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
                   params: CheckParams = CheckParams(), spools: dict | None = None
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stage the run, run both engines, route and store the findings.

    Returns (routed findings, the set-level findings GX will be compared with). The staging
    tables (stg_*, cur_*) are TEMP tables of `con`: everything that reads them, the GX suite
    included, must use `con`. `spools` (typed_spools): the rows as the reader typed them;
    without, the run's raw rows are typed here (a run already in the warehouse).
    """
    from checks import feed, register, row_rules, set_rules, staging
    from flows import progress

    progress.describe("Classifiers on D")
    f008_codes = staging.build_current_reference(con, run_id, as_of.date())
    progress.step("Staging and row-level checks (pandera)")
    with_register = register.has_registry(con, run_id)
    spools = spools or {}
    row_found = row_rules.stage_and_check(con, run_id, as_of, f008_codes,
                                          register=with_register, spools=spools)
    progress.step("Set-level checks (SQL)")
    set_found = set_rules.run_set_rules(con, run_id, as_of, params.stale_hours, params.horizon_days)
    progress.step("Feed health (Great Expectations)")
    # GX validates the feed in a worker process while the register checks use `con`.
    with feed.start_feed(con, run_id, as_of, params.feed or feed.FeedParams(),
                         params.horizon_days, worker=True) as feed_job:
        # the last reading of every staging table; those neither the register nor routing
        # reads go before the register (unless the GX cross-check reads them after routing)
        quarantined = quarantine_and_release(con, run_id, keep_staging=params.gx_crosscheck)
        progress.step("Register reconciliation (SQL)")
        reg_found = register.check_register(con, run_id, as_of,
                                            pl.concat([row_found, set_found]),
                                            spools.get(contract.REGISTRY.name))
        feed_found = feed_job.result()
    progress.step("Routing findings to clinics")
    routed = route_findings(con, run_id, row_found, pl.concat([set_found, reg_found]), feed_found,
                            quarantined, keep_staging=params.gx_crosscheck)
    return routed, set_found


def quarantine_and_release(con: duckdb.DuckDBPyConnection, run_id: str,
                           keep_staging: bool = False) -> pl.DataFrame:
    """The run's quarantine findings (findings.quarantine_findings, the last reader of every
    staging table), then the staging tables that neither the register step nor routing reads
    dropped (findings.release_before_register: stg_slots, ~1.5 GB of DuckDB's memory at 10M
    patients, which made the register spill). Returns the quarantine findings, for
    route_findings."""
    from checks import findings

    quarantined = findings.quarantine_findings(con, run_id)
    findings.release_before_register(con, keep_staging)
    return quarantined


def route_findings(con: duckdb.DuckDBPyConnection, run_id: str, row_found: pl.DataFrame,
                   set_found: pl.DataFrame, entity_found: pl.DataFrame | None,
                   quarantined: pl.DataFrame, keep_staging: bool = False) -> pl.DataFrame:
    """The engines' findings and the quarantine's (`quarantined`: quarantine_and_release's),
    routed, masked and stored in `findings`. `entity_found` carries its own `entity` column
    (feed findings: file or mo). The TEMP
    tables routing does not read are dropped first, the staging tables among them unless
    `keep_staging` (findings.release_before_routing; validate_with_gx stages them again)."""
    from checks import findings

    raw = pl.concat([
        row_found.with_columns(pl.lit(None, pl.String).alias("entity")),
        set_found.with_columns(pl.lit(None, pl.String).alias("entity")),
        quarantined,
        *([entity_found] if entity_found is not None else []),
    ], how="diagonal_relaxed")
    findings.release_before_routing(con, keep_staging)
    return findings.route_and_store(con, run_id, raw)


def run_checks(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
               params: CheckParams = CheckParams(), db_path: Path | None = None) -> pl.DataFrame:
    """check_findings, then (with `params.gx_crosscheck` and `db_path`) the Great Expectations suite in
    the same thread, its verdicts stored in `gx_results`; returns the routed findings."""
    from flows import progress

    routed, set_found = check_findings(con, run_id, as_of, params)
    progress.step("Great Expectations suite")
    if params.gx_crosscheck and db_path is not None:
        validate_with_gx(con, Path(db_path), run_id, as_of, params, set_found)
    progress.step("Checks done")
    return routed


def import_gx() -> None:
    """Import the GX suite: about 5 CPU s (GX imports every core expectation, scipy.stats
    included), mostly holding the GIL, so where it runs matters: beside the file readers it
    held them up by 4.5 s at 1M patients. See preload_gx; BackgroundGx imports it (again: a
    no-op once done) before it validates."""
    from checks import gx_suite  # noqa: F401


def preload_gx():
    """Start import_gx on a thread of its own and return the thread. Called as the load
    begins: DuckDB's insert leaves the GIL free (polars' typing in staging does not: there the
    import cost 5 s at 1M), so GX is ready by the time BackgroundGx needs it instead of
    competing with the reports. A failed import raises again where BackgroundGx imports (and
    is reported by its wait())."""
    import threading

    thread = threading.Thread(target=import_gx, name="talon-gx-import", daemon=True)
    thread.start()
    return thread


def staging_fits_in_memory(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the TEMP staging tables of `con` take at most half of DuckDB's memory limit
    (counting what DuckDB already spilled of them to disk).

    GX re-reads those tables with every query. When they fit, GX on a background thread
    costs the reports little; when they don't, every GX query spills and reloads them while
    the report processes compete for the same cores, and the two together took longer than
    one after the other (10M patients under a 4 GB cap: 239 s overlapped, 175 s in turn)."""
    used = con.execute(
        "SELECT coalesce(sum(memory_usage_bytes + temporary_storage_bytes), 0) "
        "FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'").fetchall()[0][0]
    limit = parse_memory_size(
        con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    return limit is None or used <= limit // 2


_MEMORY_UNITS = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                 "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory_size(text: str) -> int | None:
    """Bytes of a DuckDB memory size as current_setting('memory_limit') shows it
    ('3.7 GiB', '512.0 MiB'); None when it is unlimited or not a size."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", text or "")
    if m is None or m.group(2).lower() not in _MEMORY_UNITS:
        return None
    return int(float(m.group(1)) * _MEMORY_UNITS[m.group(2).lower()])


class BackgroundGx:
    """The GX cross-check of a run on a thread of its own, so it overlaps report rendering:
    in the background when the staging tables fit in half of DuckDB's memory
    (`staging_fits_in_memory`), else at once, before the reports (`background` forces either).

    It takes over `con` (whose TEMP staging tables GX reads): nothing else may use it, and it
    is closed when GX is done. `wait()` joins and re-raises GX's error; the run must call it
    before it completes (the GX page and the run's status depend on it).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: Path, run_id: str,
                 as_of: datetime, params: CheckParams, set_found: pl.DataFrame,
                 background: bool | None = None):
        import threading

        from checks import staging

        self.seconds: float | None = None
        self._error: BaseException | None = None
        # the staging tables routing released (route_findings), staged again before they are
        # measured: GX reads every one (a no-op after check_findings with the cross-check)
        staging.restage_missing(con, run_id, as_of)
        self.background = staging_fits_in_memory(con) if background is None else background
        self._args = (con, Path(db_path), run_id, as_of, params, set_found)
        self._thread = threading.Thread(target=self._run, name=f"talon-gx-{run_id}", daemon=True)
        self._thread.start()
        if not self.background:
            self._thread.join()  # errors still surface in wait(), as in the background

    def _run(self) -> None:
        con = self._args[0]
        started = time.perf_counter()
        try:
            import_gx()
            validate_with_gx(*self._args)
        except BaseException as exc:  # noqa: BLE001  (handed to wait())
            self._error = exc
        finally:
            self.seconds = time.perf_counter() - started
            self._args = None
            con.close()

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def validate_with_gx(con: duckdb.DuckDBPyConnection, db_path: Path, run_id: str, as_of: datetime,
                     params: CheckParams, set_found: pl.DataFrame) -> pl.DataFrame:
    """Run the GX suite and store its verdicts next to the uncapped counts Talon found.

    Uses nothing but `con` (after run_checks staged the run on it; GX reads its TEMP tables
    through it), so it may run in a background thread while other connections read the
    warehouse, as long as nothing else uses `con` meanwhile. Writes only this run's rows of
    gx_results, in one short transaction.
    """
    from checks import gx_suite, staging

    staging.restage_missing(con, run_id, as_of)  # those routing released (route_findings)
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
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM gx_results WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO gx_results SELECT * FROM gx_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
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


RAW_TABLES = tuple(f.raw_table for f in contract.ALL_FILES) + ("quarantine",)


def prune_raw(con: duckdb.DuckDBPyConnection, keep_runs: int) -> list[str]:
    """Delete raw rows and quarantine of all but the newest `keep_runs` runs; findings and the
    ledger stay, so history and trends survive."""
    old = [r[0] for r in con.execute(
        "SELECT run_id FROM runs ORDER BY started_at DESC OFFSET ?", [keep_runs]).fetchall()]
    if old:
        store = warehouse.raw_store(con)
        con.execute("BEGIN TRANSACTION")
        for table in RAW_TABLES if store is None else ("quarantine",):
            con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT unnest(?))", [old])
        con.execute("COMMIT")
        warehouse.remove_raw_runs(store, old)
    return old


# --- one batch, start to end: the nightly flow and the national Dask task both call this ----

def load_step(warehouse_path: Path, prepared: Prepared, run_id: str, force: bool) -> pl.DataFrame:
    """Refuse or replace an earlier run of the same input, load this one; its reconciliation."""
    from flows import progress

    with warehouse.connect(warehouse_path) as con:
        replaces = check_rerun(con, prepared, force)
        progress.describe("Loading the warehouse")
        load_run(con, prepared, run_id, replaces)
        progress.step("Loaded the warehouse")
        return reconciliation(con, run_id)


def check_step(warehouse_path: Path, run_id: str, as_of: datetime, params: CheckParams,
               spools: dict | None = None):
    """(findings, the GX set-rule cross-check still running on a thread, or None); `spools`:
    typed_spools of the run (check_findings).

    The cross-check (opt-in) goes on on this step's connection (it reads the TEMP staging
    tables) while the reports are rendered through another one: the two overlap."""
    from flows import progress

    con = warehouse.connect(warehouse_path)
    gx = None
    try:
        findings, set_found = check_findings(con, run_id, as_of, params, spools)
        if params.gx_crosscheck:
            gx = BackgroundGx(con, warehouse_path, run_id, as_of, params, set_found)
    finally:
        if gx is None:
            con.close()
    progress.step("Great Expectations suite started")
    return findings, gx


def render_outputs(folder: Path, findings: pl.DataFrame, warehouse_path: Path, run_id: str,
                   lang: str, gx: BackgroundGx | None = None) -> None:
    """Every output of one run into `folder`; the GX page last (it waits for `gx`)."""
    from flows import progress
    from flows import parallel
    from reports import data
    from reports.findings_csv import write_findings_csv
    from reports.validation import write_gx_page

    progress.describe("Writing reports")
    with warehouse.connect(warehouse_path) as con:
        # the report workers start while findings.csv is written
        parallel.warm_up(data.clinic_count(con, run_id), None)
        write_findings_csv(findings, folder / "findings.csv", lang)
        write_lists_and_pages(con, run_id, folder, lang)
        if gx is not None:
            progress.describe("Waiting for the Great Expectations suite")
            gx.wait()
        progress.step("Great Expectations suite done")
        write_gx_page(con, run_id, folder, lang)


def write_lists_and_pages(con: duckdb.DuckDBPyConnection, run_id: str, folder: Path,
                          lang: str) -> None:
    """The clinic fix lists and the auditor report through one process pool: the auditor's
    data is prepared here while the workers write the lists (the GX page is linked; it is
    written after). The report's charts go to the pool first: a worker draws them while this
    process reads what the lists need (the workers would wait for it meanwhile)."""
    from flows import parallel
    from reports import data
    from reports.auditor import prepare_charts, write_auditor_report
    from reports.clinic import submit_clinic_reports

    loaded = data.load_with_lifecycle(con, run_id)  # the run's findings, read once for both
    with parallel.Pool(parallel.use_pool(data.clinic_count(con, run_id), None)) as pool:
        drawn = prepare_charts(con, run_id, lang, loaded).submit(pool)
        clinic_files = submit_clinic_reports(con, run_id, folder, lang, pool, loaded)
        write_auditor_report(con, run_id, folder, lang, gx_page=True, pool=pool, loaded=loaded,
                             drawn=drawn)
        for job in clinic_files:
            job.result()


def publish_step(findings: pl.DataFrame, warehouse_path: Path, run_id: str, as_of: datetime,
                 out: Path, lang: str, gx: BackgroundGx | None = None) -> Path:
    """Render into the run's own folder, staged: `latest` moves only after the run completes."""
    from flows import progress, publish as publish_mod

    folder = publish_mod.stage(Path(out), publish_mod.run_label(as_of, run_id),
                               lambda f: render_outputs(f, findings, warehouse_path, run_id,
                                                        lang, gx))
    progress.step("Reports written")
    return folder


def plain_prepare(extracts: Path, reference: Path, as_of: str | None,
                  spool: Path | None) -> Prepared:
    return prepare(extracts, reference, as_of, spool, workers=READ_WORKERS)


@dataclass
class Steps:
    """How run_batch carries out its steps: plain calls by default (the national Dask task,
    scripts); flows/nightly.py gives Prefect tasks (retried reads, task states in the UI)."""

    prepare: object = plain_prepare  # (extracts, reference, as_of, spool) -> Prepared
    load: object = load_step  # (warehouse, prepared, run_id, force) -> reconciliation
    check: object = check_step  # (warehouse, run_id, as_of, params, spools) -> (findings, gx)
    publish: object = publish_step  # (findings, warehouse, run_id, as_of, out, lang, gx) -> folder
    after: object = None  # (warehouse, run_id, folder) -> None, once the run is published


@dataclass
class BatchResult:
    run_id: str
    as_of: datetime
    region_code: str | None
    folder: Path
    reconciliation: pl.DataFrame
    findings: pl.DataFrame


def _join_quietly(gx: BackgroundGx | None) -> None:
    """Wait for the GX thread on the way out of a failed run (its error is secondary)."""
    if gx is not None:
        try:
            gx.wait()
        except BaseException:  # noqa: BLE001
            pass


@contextmanager
def ingested(extracts: Path, reference: Path, warehouse_path: Path, as_of: str | None,
             force: bool, steps: Steps, log, gx: bool = False, checks: bool = True):
    """Read and load one batch (the caller holds the warehouse lock): recover what a killed
    run left, read through spool files, load; yields (prepared, run_id, reconciliation) while
    the spool still holds the typed rows (typed_spools), and removes it when the block ends.
    The report workers' forkserver starts first (unless `talon run` started it already, before
    Prefect's temporary server) and imports GX meanwhile, in its own process (the feed-health
    suite is validated in a worker); where no worker may run, or with `gx`
    (the GX cross-check, which runs in this process), GX is imported here on a thread of its
    own while DuckDB loads. Without `checks` (ingest only) neither happens."""
    from flows import parallel

    in_worker = checks and parallel.start_forkserver(gx=True)
    warehouse_path = Path(warehouse_path)
    with warehouse.connect(warehouse_path) as con:
        for old in recover_interrupted(con):
            log.warning("run %s was interrupted earlier; marked failed", old)
        warehouse.remove_orphan_raw(con)
    clean_stale_spools(warehouse_path)
    with spooling(warehouse_path) as spool:
        prepared = steps.prepare(Path(extracts), Path(reference), as_of, spool)
        for w in prepared.warnings:
            log.warning(w)
        run_id = new_run_id()
        if checks and (gx or not in_worker):  # DuckDB's insert leaves the GIL free
            preload_gx()
        recon = steps.load(warehouse_path, prepared, run_id, force)
        for row in recon.iter_rows(named=True):
            log.info("%s: read %s, loaded %s, quarantined %s", row["file_name"],
                     row["rows_read"], row["rows_loaded"], row["rows_quarantined"])
        yield prepared, run_id, recon


def run_batch(extracts: Path, reference: Path, out: Path, warehouse_path: Path,
              as_of: str | None = None, params: CheckParams = CheckParams(), lang: str = "ru",
              force: bool = False, lock_timeout: float = 0.0, steps: Steps = Steps(),
              log=None) -> BatchResult:
    """One extract batch, start to end, under the warehouse lock: recover what a killed run
    left, read, load, check, publish into `out` (per-run folder), mark the run completed, move
    `latest`, then `steps.after` (artifacts). A failure after the load marks the run failed and
    raises; InputError (bad input) is raised before anything is written."""
    import logging

    from flows import publish as publish_mod
    from flows.lock import warehouse_lock

    log = log or logging.getLogger("talon.run")
    warehouse_path, out = Path(warehouse_path), Path(out)
    with warehouse_lock(warehouse_path, lock_timeout), ExitStack() as spool_scope:
        publish_mod.clean_stale_temp(out)
        prepared, run_id, recon = spool_scope.enter_context(ingested(
            extracts, reference, warehouse_path, as_of, force, steps, log,
            gx=params.gx_crosscheck))
        gx = None
        try:
            if not recon["reconciled"].all():
                raise RuntimeError(f"reconciliation failed for run {run_id}")
            findings, gx = steps.check(warehouse_path, run_id, prepared.as_of, params,
                                       typed_spools(prepared))
            spool_scope.close()  # the typed rows are in the staging tables now
            folder = steps.publish(findings, warehouse_path, run_id, prepared.as_of, out, lang,
                                   gx)
            if gx is not None:
                gx.wait()  # joined already by the GX page; raises if GX failed
        except BaseException as exc:
            _join_quietly(gx)
            with warehouse.connect(warehouse_path) as con:
                finish_run(con, run_id, "failed", f"{type(exc).__name__}: {exc}"[:500])
            raise
        # Completed first, then `latest`: a kill in between leaves a completed run whose folder
        # is not yet latest (the next run promotes its own), never a failed run shown as latest.
        with warehouse.connect(warehouse_path) as con:
            finish_run(con, run_id, "completed")
        publish_mod.promote(out, folder.name)
        if steps.after is not None:
            try:
                steps.after(warehouse_path, run_id, folder)
            except Exception as exc:  # noqa: BLE001  (the run and its reports are complete)
                log.warning("after the run: %s", type(exc).__name__)
    return BatchResult(run_id, prepared.as_of, prepared.region_code, folder, recon, findings)
