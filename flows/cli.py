"""`talon`: the command line of the nightly job.

Exit codes: 0 the run completed (whatever it found, unless --fail-on says otherwise);
1 findings at or above --fail-on; 2 the input cannot be processed (one-line message naming
file, line and column); 3 an internal error; 4 another run holds the warehouse lock;
5 some e-mails of `talon send` failed.
"""
from __future__ import annotations

import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

import flows  # noqa: F401  (environment defaults before Prefect is imported)
from flows.errors import InputError
from flows.warehouse import DEFAULT_WAREHOUSE

app = typer.Typer(help="Talon: find the data defects that stop patients booking a doctor online.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DEMO_DIR = Path("data/sample-region")
DEMO_OUT = Path("data/out")


class FailOn(str, Enum):
    never = "never"
    warning = "warning"
    blocker = "blocker"


class Lang(str, Enum):
    ru = "ru"
    en = "en"


def _fail(exc: BaseException) -> None:
    if isinstance(exc, InputError):
        err.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code)
    err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", highlight=False,
              soft_wrap=True)
    raise typer.Exit(3)


def _parse_as_of(value: Optional[str]) -> datetime:
    from flows.asof import resolve_as_of

    return resolve_as_of(value, {})[0]


@app.command()
def generate(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder to write: OUT/extract, OUT/reference, OUT/truth.csv."),
    patients: int = typer.Option(10_000, "--patients", min=10, help="Number of patients."),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives the same files."),
    region: str = typer.Option("50", "--region", help="Two-digit region code (KOD_TF), e.g. 50."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Moment the extract describes (default: now)."),
    reference_from: Optional[Path] = typer.Option(
        None, "--reference-from", help="Copy F002/F008/F010/V021 from this folder instead of synthesising them."),
    defects: bool = typer.Option(True, "--defects/--clean", help="Inject the catalogue's defects (with truth.csv)."),
    parquet: list[str] = typer.Option([], "--parquet", help="Write this file as Parquet instead of CSV (repeatable): patients, policies, attachments, slots, registry."),
    registry: bool = typer.Option(True, "--registry/--no-registry", help="Write registry.csv, the insured-persons register (catalogue v1.2), and inject the REG codes."),
    defect_rate: Optional[float] = typer.Option(
        None, "--defect-rate", help="A dense region: about this many findings per patient (0 < rate <= 1; "
        "e.g. 0.5), spread over the catalogue's checks, in a region of about --patients patients in all "
        "(fewer clean patients, more made for defect cases). Default: the usual density (about 0.07 "
        "findings per patient with the register, 0.036 without), files as before."),
    nights: Optional[int] = typer.Option(None, "--nights", min=2, help="Write N consecutive nights of the region instead, one day apart, the last at --as-of (OUT/night-1 .. OUT/night-N, each an extract and reference; clean regions), with feed breaks in the last two, and OUT/feed_truth.csv: the feed findings (catalogue v1.3) each night raises when the nights are run in order on one warehouse."),
) -> None:
    """Write a synthetic region: an extract batch, reference classifiers and the ground truth."""
    from flows.synth import generate_region

    if nights is not None and defect_rate is not None:
        _fail(InputError("--nights writes clean regions: leave out --defect-rate"))
    if nights is not None:
        return _generate_nights(ctx, out, nights, patients, seed, region, as_of, reference_from,
                                defects, tuple(parquet), registry)
    try:
        result = generate_region(out, patients=patients, seed=seed, region=region,
                                 as_of=_parse_as_of(as_of), reference_from=reference_from,
                                 defects=defects, parquet=tuple(parquet), registry=registry,
                                 defect_rate=defect_rate)
    except ValueError as exc:
        _fail(InputError(str(exc)))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    rows = ", ".join(f"{name}: {n:,}" for name, n in result.rows.items())
    console.print(f"Generated a region of {patients:,} patients (+ records made for injected "
                  f"defects) in [bold]{out}[/]: {rows}.")
    console.print(f"Extract: {Path(out) / 'extract'}  reference: {Path(out) / 'reference'}  "
                  f"ground truth: {Path(out) / 'truth.csv'}")
    if defect_rate is not None:
        found = sum(result.truth_counts.values())
        console.print(f"Expected findings: {found:,} ({found / max(result.rows['patients'], 1):.3f} per patient, "
                      f"{len(result.truth_counts)} checks).")
    return result


def _generate_nights(ctx: typer.Context, out: Path, nights: int, patients: int, seed: int,
                     region: str, as_of: Optional[str], reference_from: Optional[Path],
                     defects: bool, parquet: tuple[str, ...], registry: bool):
    """`talon generate --nights N` (flows/synth/nights.py)."""
    from flows.synth.nights import generate_nights

    try:
        source = ctx.get_parameter_source("defects")
        if defects and getattr(source, "name", None) == "COMMANDLINE":
            raise InputError("--nights writes clean regions (the feed breaks are the only "
                             "findings its truth lists): leave out --defects")
        result = generate_nights(out, nights=nights, patients=patients, seed=seed,
                                 region=region, as_of=_parse_as_of(as_of),
                                 reference_from=reference_from, parquet=parquet,
                                 registry=registry)
    except ValueError as exc:
        _fail(InputError(str(exc)))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    table = Table(title=f"{nights} nights of a region of {patients:,} patients in {out}")
    for col in ("night", "as_of", "extract", "expected feed findings"):
        table.add_column(col)
    for k, (folder, stamp, found) in enumerate(zip(result.nights, result.as_of, result.expected)):
        table.add_row(str(k + 1), f"{stamp:%Y-%m-%d %H:%M}", str(folder / "extract"),
                      ", ".join(f"{c} {r}" for c, r, _ in found) or "none")
    console.print(table)
    console.print(f"Feed truth: {result.truth}  (what each night broke: {Path(out) / 'nights.json'})")
    console.print("Run the nights in order on one warehouse: talon run --extracts "
                  f"{Path(out) / 'night-K' / 'extract'} --reference "
                  f"{Path(out) / 'night-K' / 'reference'} --out ... --warehouse ...")
    return result


def _print_files(files: list[dict]) -> None:
    table = Table(title="Input files")
    for col in ("file", "read", "loaded", "quarantined", "reconciled"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for row in files:
        table.add_row(row["file_name"], f"{row['rows_read']:,}", f"{row['rows_loaded']:,}",
                      f"{row['rows_quarantined']:,}", "yes" if row["reconciled"] else "NO")
    console.print(table)


@app.command()
def ingest(
    extracts: Path = typer.Option(..., "--extracts", help="Extract batch folder (patients, policies, attachments, slots)."),
    reference: Path = typer.Option(..., "--reference", help="Folder with F002, F003, F008, F010, V021 XML."),
    warehouse: Path = typer.Option(DEFAULT_WAREHOUSE, "--warehouse", help="DuckDB warehouse file."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Override the manifest's extracted_at."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier run of the same files and as_of instead of refusing."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", min=0, help="Seconds to wait for another run on the same warehouse."),
) -> None:
    """Load one extract batch and its reference classifiers into the warehouse."""
    from flows.nightly import ingest_flow
    from flows.prefect_server import bind_temporary_server

    try:
        bind_temporary_server()  # a temporary Prefect server dies with this process
        summary = ingest_flow(extracts, reference, warehouse, as_of, force, lock_timeout)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    _print_files(summary.files)
    console.print(f"Run [bold]{summary.run_id}[/] (as_of {summary.as_of}) loaded into {warehouse}.")


@app.command()
def run(
    extracts: Path = typer.Option(..., "--extracts", help="Extract batch folder, or a folder of one batch per region (national run)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Reference classifiers folder (national runs: default for regions without their own)."),
    out: Path = typer.Option(..., "--out", help="Output root for findings and reports."),
    warehouse: Path = typer.Option(DEFAULT_WAREHOUSE, "--warehouse", help="DuckDB warehouse file."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Override the manifest's extracted_at."),
    stale_hours: int = typer.Option(24, "--stale-hours", min=0, help="SCH.STALE: max age of a schedule update."),
    horizon_days: int = typer.Option(14, "--horizon-days", min=1, help="SCH.HORIZON.EMPTY: days ahead to look for a free slot."),
    fail_on: FailOn = typer.Option(FailOn.never, "--fail-on", help="Exit 1 when findings of this severity or worse exist."),
    lang: Lang = typer.Option(Lang.ru, "--lang", help="Language of everything clinics and auditors read."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier run of the same files and as_of instead of refusing."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", min=0, help="Seconds to wait for another run on the same warehouse."),
    dask_address: Optional[str] = typer.Option(None, "--dask-address", help="National run: Dask scheduler, e.g. tcp://host:8786."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="National run: start a local Dask cluster of N workers."),
    warehouse_dir: Path = typer.Option(Path("data/warehouses"), "--warehouse-dir", help="National run: one DuckDB file per region here."),
    volume_drop: float = typer.Option(0.7, "--volume-drop", help="FEED.VOLUME.DROP: a file's loaded rows below this share of the median of the last nights."),
    mo_silent_min: int = typer.Option(20, "--mo-silent-min", help="FEED.MO.SILENT/SHRUNK: an MO counts only with at least this many slots in the previous run."),
    mo_shrunk: float = typer.Option(0.5, "--mo-shrunk", help="FEED.MO.SHRUNK: an MO's slots in the horizon below this share of the previous run's."),
    column_empty_points: float = typer.Option(10.0, "--column-empty-points", help="FEED.COLUMN.EMPTY: rise of a column's share of empty values, in percentage points."),
    gx_crosscheck: bool = typer.Option(False, "--gx-crosscheck", help="Also re-run the set rules as a Great Expectations suite (slower; off by default)."),
) -> None:
    """Ingest, check and publish: the nightly job (one region, or every region of a national delivery on Dask)."""
    from flows import national
    from flows.prefect_server import bind_temporary_server
    from flows.progress import show_progress

    feed_params = _feed_params(volume_drop, mo_silent_min, mo_shrunk, column_empty_points)
    try:
        if national.is_national(extracts):
            from flows import pipeline

            params = pipeline.CheckParams(stale_hours, horizon_days, gx_crosscheck, feed_params)
            bind_temporary_server()  # a temporary Prefect server dies with this process
            summary = national.national_flow(extracts, reference, out, warehouse_dir, as_of,
                                             stale_hours, horizon_days, lang.value, dask_address,
                                             workers, force, lock_timeout, params)
        else:
            if reference is None:
                raise InputError("--reference is required for a single-region run",
                                 file=str(extracts))
            from flows import parallel
            from flows.nightly import nightly_flow

            # The report workers' forkserver starts now, so that its preload (GX, the report
            # modules: ~4 CPU s) runs while Prefect's temporary server starts (10-25 s), not
            # beside the run's reading (pipeline.ingested finds it running).
            parallel.start_forkserver(gx=True)
            bind_temporary_server()  # a temporary Prefect server dies with this process
            with show_progress(console):
                summary = nightly_flow(extracts, reference, out, warehouse, as_of, stale_hours,
                                       horizon_days, lang.value, force, lock_timeout,
                                       volume_drop, mo_silent_min, mo_shrunk,
                                       column_empty_points, gx_crosscheck)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if isinstance(summary, national.NationalSummary):
        _report_national(summary)
        if summary.exit_code:
            raise typer.Exit(summary.exit_code)
    else:
        _report(summary)
    counts = summary.findings_by_severity
    if (fail_on is FailOn.blocker and counts.get("blocker")) or (
            fail_on is FailOn.warning and (counts.get("blocker") or counts.get("warning"))):
        raise typer.Exit(1)


def _feed_params(volume_drop: float, mo_silent_min: int, mo_shrunk: float,
                 column_empty_points: float):
    """The feed-health thresholds, validated: a bad one is a usage error (exit 2) naming the
    option."""
    from checks import feed

    problems = feed.validate(volume_drop, mo_silent_min, mo_shrunk, column_empty_points)
    if problems:
        raise typer.BadParameter(problems[0], param_hint=problems[0].split()[0])
    return feed.FeedParams(volume_drop, mo_silent_min, mo_shrunk, column_empty_points)


def _report_national(summary) -> None:
    table = Table(title="Regions")
    for col in ("region", "status", "blockers", "warnings", "report / error"):
        table.add_column(col)
    for r in summary.regions:
        counts = r.findings_by_severity
        table.add_row(r.region, r.status, f"{counts.get('blocker', 0):,}",
                      f"{counts.get('warning', 0):,}", _region_outcome(r))
    console.print(table)
    console.print(f"National report: {summary.index.resolve()}")


def _region_outcome(r) -> str:
    """The national table's last cell: the report folder of a region that completed and was
    read; otherwise the error first (a region whose run completed but whose warehouse the
    national page could not read still has its own report folder, named after the error)."""
    if r.status == "completed":
        return str(r.folder.resolve()) if r.folder else ""
    error = r.error or r.status
    return f"{error} (its own report: {r.folder.resolve()})" if r.folder else error


def _report(summary) -> None:
    _print_files(summary.files)
    counts = summary.findings_by_severity
    console.print(f"Run [bold]{summary.run_id}[/] as_of {summary.as_of}: "
                  f"{counts.get('blocker', 0):,} blockers, {counts.get('warning', 0):,} warnings.")
    console.print(f"Warehouse: {summary.warehouse.resolve()}")
    console.print(f"Outputs:   {summary.out.resolve()}")
    console.print(f"           (also reachable as {summary.out.parent.resolve() / 'latest'}; "
                  f"findings: {summary.out.parent.resolve() / 'findings.csv'})")


@app.command()
def history(
    warehouse: Path = typer.Option(DEFAULT_WAREHOUSE, "--warehouse", help="DuckDB warehouse file."),
    last: int = typer.Option(20, "--last", min=1, help="How many runs to show."),
    keep_runs: Optional[int] = typer.Option(
        None, "--keep-runs", min=1, help="Prune raw data (extract rows, quarantine) of all but the newest N runs; findings history is kept."),
) -> None:
    """Print the last runs with their finding counts."""
    from flows import pipeline
    from flows.warehouse import connect

    from flows.lock import warehouse_lock

    if not warehouse.exists():
        _fail(InputError("no warehouse here yet (run `talon run` first)", file=str(warehouse)))
    try:
        if keep_runs is not None:
            with warehouse_lock(warehouse), connect(warehouse) as con:
                pruned = pipeline.prune_raw(con, keep_runs)
            console.print(f"Pruned raw data of {len(pruned)} run(s); their findings are kept.")
        with connect(warehouse, read_only=True) as con:
            runs = pipeline.history(con, last)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    table = Table(title=f"Runs in {warehouse}")
    for col in ("run", "as_of", "status", "blockers", "warnings", "clinics", "finished"):
        table.add_column(col)
    for r in runs.iter_rows(named=True):
        table.add_row(r["run_id"], str(r["as_of"]), r["status"], f"{r['blockers']:,}",
                      f"{r['warnings']:,}", str(r["clinics"]), str(r["finished_at"] or ""))
    console.print(table)


@app.command()
def serve(
    extracts: Optional[Path] = typer.Option(None, "--extracts", help="Extract folder of the night (default: flows/prefect.yaml)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Reference classifiers folder."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output root."),
    warehouse: Optional[Path] = typer.Option(None, "--warehouse", help="DuckDB warehouse file."),
    cron: Optional[str] = typer.Option(None, "--cron", help="Override the schedule, e.g. '0 2 * * *'."),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="Time zone of the schedule (default Europe/Moscow)."),
    volume_drop: Optional[float] = typer.Option(None, "--volume-drop", help="FEED.VOLUME.DROP threshold (see talon run)."),
    mo_silent_min: Optional[int] = typer.Option(None, "--mo-silent-min", help="FEED.MO.* minimum slots (see talon run)."),
    mo_shrunk: Optional[float] = typer.Option(None, "--mo-shrunk", help="FEED.MO.SHRUNK threshold (see talon run)."),
    column_empty_points: Optional[float] = typer.Option(None, "--column-empty-points", help="FEED.COLUMN.EMPTY threshold (see talon run)."),
    gx_crosscheck: bool = typer.Option(False, "--gx-crosscheck", help="Also re-run the set rules in Great Expectations."),
) -> None:
    """Serve the nightly deployment (schedule from flows/prefect.yaml) on a real Prefect server."""
    import os
    from dataclasses import asdict

    from prefect.settings import PREFECT_API_URL

    from checks.feed import FeedParams
    from flows import serve as serve_mod

    thresholds = {"volume_drop": volume_drop, "mo_silent_min": mo_silent_min,
                  "mo_shrunk": mo_shrunk, "column_empty_points": column_empty_points}
    defaults = asdict(FeedParams())  # one place for the defaults: the thresholds' own
    _feed_params(**{k: defaults[k] if v is None else v for k, v in thresholds.items()})
    api = PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL")
    if not api:
        _fail(InputError("PREFECT_API_URL is not set: start a server with `prefect server start` "
                         "and export PREFECT_API_URL=http://127.0.0.1:4200/api (see README, Operations)"))
    params = {k: str(v.resolve()) for k, v in {"extracts": extracts, "reference": reference,
                                               "out": out, "warehouse_path": warehouse}.items() if v}
    params.update({k: v for k, v in thresholds.items() if v is not None})
    if gx_crosscheck:
        params["gx_crosscheck"] = True
    console.print(f"Serving talon-nightly/nightly; Prefect UI: {api.rstrip('/').removesuffix('/api')}")
    serve_mod.serve(params, cron, timezone)


@app.command()
def demo(
    patients: int = typer.Option(20_000, "--patients", help="Size of the sample region."),
    lang: Lang = typer.Option(Lang.ru, "--lang"),
) -> None:
    """Generate a sample region under data/ (if absent) and run the nightly job on it."""
    from flows.nightly import nightly_flow
    from flows.synth import generate_region

    try:
        if not (DEMO_DIR / "extract").exists():
            console.print(f"Generating a sample region of {patients:,} patients in {DEMO_DIR} ...")
            generate_region(DEMO_DIR, patients=patients, seed=7, region="50",
                            as_of=datetime(2026, 11, 25, 23, 0))
        from flows.prefect_server import bind_temporary_server
        from flows.progress import show_progress

        bind_temporary_server()  # a temporary Prefect server dies with this process
        with show_progress(console):
            summary = nightly_flow(DEMO_DIR / "extract", DEMO_DIR / "reference", DEMO_OUT,
                                   DEFAULT_WAREHOUSE, None, 24, 14, lang.value, force=True)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    _report(summary)


# --- waivers (issue 13): a clinic's answer "not an error" -------------------------------------


@app.command()
def waive(
    warehouse: Path = typer.Option(DEFAULT_WAREHOUSE, "--warehouse", help="DuckDB warehouse file."),
    check: Optional[str] = typer.Option(None, "--check", help="The finding's check code, e.g. PAT.SNILS.MISSING."),
    record: Optional[str] = typer.Option(None, "--record", help="The finding's record id, as in the fix list."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why it is not an error (auditors read it: no names or identifiers). With --remove: an optional note."),
    until: Optional[str] = typer.Option(None, "--until", help="Last day the waiver applies, YYYY-MM-DD (default: until removed)."),
    by: Optional[str] = typer.Option(None, "--by", help="Who answers (default: your user name); a CSV's `by` column wins."),
    mo: Optional[str] = typer.Option(None, "--mo", help="The clinic that answers: only its own findings are accepted."),
    file: Optional[Path] = typer.Option(None, "--file", help="Many answers: a CSV (check_code, record_id, reason, until, by) or the clinic's fix-list XLSX with its answer column filled in."),
    remove: bool = typer.Option(False, "--remove", help="Withdraw the active waiver of --check/--record (it is kept, as removed)."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", min=0, help="Seconds to wait for a run holding the warehouse."),
) -> None:
    """Record that a finding is not an error (or many, from --file); --remove withdraws one.

    A file is all or nothing: one bad answer refuses it (exit 2) and nothing is recorded."""
    from flows import waivers as w
    from flows.lock import warehouse_lock
    from flows.warehouse import connect

    try:
        if file is not None and (check or record or reason or until or remove):
            raise InputError("use either --file or --check/--record/--reason/--until"
                             + (" (--remove takes --check and --record)" if remove else ""))
        if file is None and not (check and record):
            raise InputError("--check and --record name the finding (or give --file)")
        if file is not None and not file.is_file():
            raise InputError("no such file", file=str(file))
        if not warehouse.exists():
            raise InputError("no warehouse here yet (run `talon run` first)", file=str(warehouse))
        ends = w.parse_until(until, w.Where()) if until else None
        with warehouse_lock(warehouse, lock_timeout), connect(warehouse) as con:
            if remove:
                waiver_id = w.remove_waiver(con, check.strip(), record.strip(), by=by, mo=mo,
                                            note=reason)
                console.print(f"Waiver [bold]{waiver_id}[/] of {check} on record {record} "
                              "removed: the finding is back on the fix list from the next run.")
                return
            if file is not None:
                outcome = w.import_answers(con, file, mo=mo, by=by)
            else:
                outcome = w.add_waiver(con, check, record, reason or "", ends, by=by, mo=mo)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    what = f"{file}: {outcome.total} answer(s)" if file is not None else f"{check} on record {record}"
    console.print(f"{what}: {len(outcome.added)} waiver(s) added, {len(outcome.changed)} "
                  f"changed, {len(outcome.unchanged)} unchanged. Waived findings leave the fix "
                  "lists and the booking impact from the next run on.")


@app.command(name="waivers")
def list_waivers(
    warehouse: Path = typer.Option(DEFAULT_WAREHOUSE, "--warehouse", help="DuckDB warehouse file."),
    mo: Optional[str] = typer.Option(None, "--mo", help="Only this clinic's waivers."),
    show_all: bool = typer.Option(False, "--all", help="Also removed and expired waivers."),
    events: bool = typer.Option(False, "--events", help="Print the audit trail (added, changed, expired, removed) instead."),
) -> None:
    """List the waivers (a clinic's answers "not an error") of a warehouse."""
    from flows import waivers as w
    from flows.warehouse import connect

    if not warehouse.exists():
        _fail(InputError("no warehouse here yet (run `talon run` first)", file=str(warehouse)))
    try:
        with connect(warehouse, read_only=True) as con:
            if events:
                frame = w.list_events(con, mo=mo)
            else:
                frame = w.list_waivers(con, mo, w.STATUSES if show_all else (w.ACTIVE,))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if events:
        table = Table(title=f"Waiver events in {warehouse}")
        for col in ("when", "event", "by", "waiver", "MO", "check", "record", "detail"):
            table.add_column(col)
        for r in frame.iter_rows(named=True):
            table.add_row(f"{r['at']:%Y-%m-%d %H:%M}", r["event"], r["by"], r["waiver_id"],
                          r["mo_code"] or "", r["check_code"], r["record_id"], r["detail"] or "")
    else:
        kind = "Waivers" if show_all else "Active waivers"
        table = Table(title=f"{kind} in {warehouse}" + (f" of MO {mo}" if mo else ""))
        for col in ("waiver", "MO", "check", "record", "reason", "by", "since", "until", "status"):
            table.add_column(col)
        for r in frame.iter_rows(named=True):
            table.add_row(r["waiver_id"], r["mo_code"] or "", r["check_code"], r["record_id"],
                          r["reason"], r["created_by"], f"{r['created_at']:%Y-%m-%d}",
                          f"{r['until']:%Y-%m-%d}" if r["until"] else "", r["status"])
    console.print(table)
    if not frame.height:
        console.print("No waivers." if not events else "No waiver events.")


from flows.delivery import send_command  # noqa: E402

app.command(name="send", help="E-mail each clinic its fix list (XLSX), the unassigned list to the steward.")(send_command)


def main() -> None:  # pragma: no cover
    sys.exit(app())
