"""Benchmark of a full nightly run against the baselines a team would otherwise write.

    python -m tests.benchmarks.bench --sizes 100000 1000000 [--with-10m] [--out tests/benchmarks]

Per size: generate a region (flows.synth, fixed seed and as_of; cached under --work so re-runs
skip it), run the nightly job stage by stage with the plain functions the Prefect flow calls
(prepare, load_run, staging, row rules, set rules, route/store, GX suite, reports, finish_run;
Prefect itself, its server and its task orchestration are not measured), then the baselines
on the same loaded rows: (a) GX on pandas, (b) pandera on pandas, the peers (d) Soda Core on
DuckDB and (e) Pointblank on polars (tests/benchmarks/peers.py), and the floor (c): polars
reading the extract files as text, beside one DuckDB pass over the raw tables. Each of these
runs in a fresh process of its own, so every peak RSS is that job's alone. With --with-10m,
1M runs again after 10M (Talon only: the per-row comparison takes the slower 1M); --dense RATE
adds a profile of regions generated with that defect rate. Writes RESULTS.md and results.json
into --out. Not part of the test suite (see test_bench_smoke.py).
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 3, 2, 6, 0)
SEED = 20260302
DEFAULT_WORK = REPO / "data" / "bench"
DEFAULT_OUT = Path(__file__).resolve().parent
MARKER = "bench-region.json"
BASELINES = ("gx", "pandera", "soda", "pointblank", "floor", "floor_files")
#: Baselines that hold whole tables in memory (pandas, polars): capped by --pandas-baselines-max.
PANDAS_BASELINES = ("gx", "pandera", "pointblank")
PEERS = ("soda", "pointblank")
ONE_M, TEN_M = 1_000_000, 10_000_000
#: Talon's stages in run order: (name, group). Groups follow the issue: ingest, pandera
#: checks, GX/SQL checks, reports.
TALON_STAGES = (
    ("imports", "startup"), ("prepare", "ingest"), ("load", "ingest"),
    ("staging_row_rules", "checks"), ("set_rules", "checks"), ("feed", "gx"),
    ("register", "checks"), ("feed_wait", "gx"), ("route_store", "checks"), ("gx_start", "gx"),
    ("findings_csv", "reports"), ("clinic_lists_auditor_report", "reports"),
    ("gx_wait", "gx"), ("gx_page", "reports"),
    ("finish", "reports"),
)
CHECK_STAGE = ("staging_row_rules", "set_rules")


# --- parent: orchestration ------------------------------------------------------------------

def region_key(size: int, seed: int, defect_rate: float | None = None) -> str:
    """Identity of a generated region: size, seed, as_of, defect rate (dense profile) and the
    generator's source code."""
    rate = "" if defect_rate is None else f"/defect_rate={defect_rate!r}"
    h = hashlib.sha256(f"{size}/{seed}/{AS_OF.isoformat()}{rate}".encode())
    for path in sorted((REPO / "flows" / "synth").glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _variant(defect_rate: float | None) -> str:
    return "" if defect_rate is None else f"-dense{defect_rate:g}"


def region_dir(work: Path, size: int, seed: int, defect_rate: float | None = None) -> Path:
    return work / f"region-{size}-seed{seed}{_variant(defect_rate)}"


def run_dir_of(work: Path, size: int, defect_rate: float | None = None) -> Path:
    return work / f"run-{size}{_variant(defect_rate)}"


def generator_takes_defect_rate() -> bool:
    """Whether flows.synth.generate_region has the `defect_rate` keyword (the dense profile)."""
    from flows.synth import generate_region

    return "defect_rate" in inspect.signature(generate_region).parameters


def spawn(child: str, size: int, work: Path, seed: int, **options) -> dict:
    """Run one job in a fresh interpreter; returns the JSON it wrote."""
    rate = options.pop("defect_rate", None)
    result = work / f"result-{child}-{size}{_variant(rate)}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "tests.benchmarks.bench", "--child", child, "--size", str(size),
           "--work", str(work), "--seed", str(seed), "--result", str(result)]
    if rate is not None:
        cmd += ["--defect-rate-child", repr(rate)]
    for key, value in options.items():
        if value is None or value is False:
            continue
        cmd.append(f"--{key.replace('_', '-')}")
        if value is not True:
            cmd.extend([str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)])
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "GX_ANALYTICS_ENABLED": "false"})
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark job {child} at {size} failed (exit {proc.returncode})")
    data = json.loads(result.read_text())
    data["process_wall_s"] = round(time.perf_counter() - started, 3)  # incl. interpreter + imports
    return data


def ensure_region(work: Path, size: int, seed: int, defect_rate: float | None = None) -> dict:
    region = region_dir(work, size, seed, defect_rate)
    marker = region / MARKER
    key = region_key(size, seed, defect_rate)
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("key") == key:
            return {**info, "cached": True}
    shutil.rmtree(region, ignore_errors=True)
    spawn("generate", size, work, seed, defect_rate=defect_rate)
    return {**json.loads(marker.read_text()), "cached": False}


def run_size(size: int, work: Path, seed: int, baselines: tuple[str, ...], verify: bool,
             profile: list[str], gx_result_format: str,
             pandas_max: int = 1_000_000, no_registry: bool = False,
             gx_crosscheck: bool = False, no_feed_history: bool = False,
             defect_rate: float | None = None, repeat: int = 1) -> dict:
    label = f"{size:,}" + ("" if defect_rate is None else f" dense ({defect_rate:g})")
    print(f"[bench] {label} patients: region", flush=True)
    generation = ensure_region(work, size, seed, defect_rate)
    runs, times = [], repeat if size < TEN_M else 1
    for i in range(times):
        print(f"[bench] {label}: Talon run" + (f" {i + 1} of {times}" if times > 1 else ""),
              flush=True)
        runs.append(spawn("talon", size, work, seed, verify=verify, profile=profile or None,
                          no_registry=no_registry, gx_crosscheck=gx_crosscheck,
                          no_feed_history=no_feed_history, defect_rate=defect_rate))
    talon = median_run(runs)
    out = {"patients": size, "seed": seed, "as_of": AS_OF.isoformat(), "generation": generation,
           "profile": "default" if defect_rate is None else "dense", "defect_rate": defect_rate,
           "talon": talon, "baselines": {},
           # the run the warehouse holds (each Talon run starts from an empty one): the last
           "warehouse_run_id": runs[-1]["run_id"]}
    skipped = [b for b in baselines if b in PANDAS_BASELINES and size > pandas_max]
    reasons = {}
    if skipped:
        reasons["memory"] = (skipped, f"whole tables in pandas take about 2.7 GB per 1M patients "
                             f"(measured at 1M), in polars about half; above {pandas_max:,} "
                             "patients they are not run (--pandas-baselines-max)")
    from tests.benchmarks import peers

    missing = [b for b in baselines if b in PEERS and b not in skipped and not peers.available(b)]
    for name in missing:
        reasons[name] = ([name], peers.unavailable_reason(name))
    if reasons:
        out["skipped_baselines"] = {"names": skipped + missing,
                                    "reason": "; ".join(r for _, r in reasons.values()),
                                    "by_name": {n: r for names, r in reasons.values() for n in names}}
    for name in [b for b in baselines if b not in skipped and b not in missing]:
        print(f"[bench] {label}: baseline {name}", flush=True)
        out["baselines"][name] = spawn(name, size, work, seed, run_id=out["warehouse_run_id"],
                                       gx_result_format=gx_result_format if name == "gx" else None,
                                       defect_rate=defect_rate)
    from tests.benchmarks import tables

    out["ratios"] = tables.ratios(out)
    out["agreement"] = tables.agreement(out)
    return out


def median_run(runs: list[dict]) -> dict:
    """The run whose end to end is the median of `runs` (of an even number, the slower of the
    two middle ones), with every run's end to end and peak RSS in run order (`runs`): the host's
    speed moves by a quarter within minutes, so a single run says as much about the host as
    about Talon."""
    ordered = sorted(runs, key=lambda r: r["end_to_end_s"])
    chosen = dict(ordered[len(ordered) // 2])
    if len(runs) > 1:
        chosen["runs"] = [{"end_to_end_s": r["end_to_end_s"],
                           "process_peak_mb": r["process_peak_mb"]} for r in runs]
    return chosen


def machine() -> dict:
    import platform

    def version(module: str) -> str:
        from importlib.metadata import PackageNotFoundError, version as v
        try:
            return v(module)
        except PackageNotFoundError:
            return "absent"

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor() or "?")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO,
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "?", None
    return {
        "cpu_model": cpu, "nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(),
        "mem_total_gb": round(mem_kb / 1024 / 1024, 1), "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {m: version(m) for m in ("polars", "duckdb", "great_expectations", "pandera",
                                             "pandas", "pyarrow", "prefect", "numpy",
                                             "soda-core", "soda-duckdb", "pointblank")},
        "commit": commit, "dirty_worktree": dirty,
        "talon_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("TALON_")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="patients per region (default: 100000 1000000)")
    parser.add_argument("--with-10m", action="store_true",
                        help="also 10,000,000 patients; when 1M is among the sizes, Talon runs "
                             "1M again after 10M (per-row cost: 10M against the slower 1M)")
    parser.add_argument("--dense", "--defect-rate", dest="dense", type=float, metavar="RATE",
                        help="also a dense profile: regions generated with this defect rate "
                             "(flows.synth.generate_region(defect_rate=RATE), cached apart), "
                             "Talon and the floors on them, labelled 'dense'")
    parser.add_argument("--dense-sizes", type=int, nargs="+", metavar="N",
                        help="sizes of the dense profile (default: the largest of --sizes up to "
                             "1,000,000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where RESULTS.md and results.json go (default: tests/benchmarks)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help="regions, warehouses, reports, profiles (default: data/bench)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="Talon runs per size below 10M, default and dense profile; the "
                             "median run is reported, each run's end to end listed (10M: one)")
    parser.add_argument("--baselines", nargs="*", choices=BASELINES, default=list(BASELINES))
    parser.add_argument("--pandas-baselines-max", type=int, default=1_000_000, metavar="N",
                        help="run baselines (a) and (b), which hold whole tables in pandas, only "
                             "up to N patients (default 1000000; 10M would need ~27 GB)")
    parser.add_argument("--note", default="",
                        help='shown on top of RESULTS.md, e.g. "shared machine — preliminary"')
    parser.add_argument("--profile", nargs="*", default=[], metavar="STAGE",
                        help="cProfile these Talon stages into WORK/run-N/profile-STAGE.pstats/.txt "
                             "(slows them down: use on a separate run)")
    parser.add_argument("--gx-result-format", default="SUMMARY",
                        choices=("BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"))
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="only re-render RESULTS.md beside --out from an existing results.json")
    parser.add_argument("--no-registry", action="store_true",
                        help="run Talon on the batch without its registry.csv (the register's "
                             "cost is the difference to a run with it)")
    parser.add_argument("--gx-crosscheck", action="store_true",
                        help="also re-run the set rules as a GX suite (talon run --gx-crosscheck)")
    parser.add_argument("--no-feed-history", action="store_true",
                        help="measure a first night: no earlier runs, so no feed expectations "
                             "(default: three earlier nights like this one are recorded first)")
    parser.add_argument("--verify", action="store_true",
                        help="after the staged run, also run pipeline.run_checks and require "
                             "the same findings (guards the bench against pipeline drift)")
    # internal: one job in a child process
    parser.add_argument("--child", choices=("generate", "talon") + BASELINES, help=argparse.SUPPRESS)
    parser.add_argument("--defect-rate-child", dest="defect_rate", type=float,
                        help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = args.work.resolve()

    if args.child:
        result = CHILDREN[args.child](args, work)
        args.result.write_text(json.dumps(result, indent=1, default=str))
        sys.stdout.flush()
        sys.stderr.flush()
        # Skip interpreter teardown: nothing is left to clean up, and the duckdb bindings
        # print pages of nanobind "leaked instance" noise at exit.
        os._exit(0)

    if args.render:
        from tests.benchmarks import tables

        info = json.loads(args.render.read_text(encoding="utf-8"))
        for derived in ("gx_coverage", "gx_set_coverage", "peer_coverage", "per_row",
                        "floor_ratios"):
            info.pop(derived, None)
        print(f"[bench] wrote {tables.write(info, args.out)[0]}")
        return 0
    unknown = set(args.profile) - {name for name, _ in TALON_STAGES}
    if unknown:
        parser.error(f"unknown stages to profile: {sorted(unknown)}")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    sizes = list(dict.fromkeys(args.sizes + ([TEN_M] if args.with_10m else [])))
    if args.dense is not None and not generator_takes_defect_rate():
        parser.error("--dense needs flows.synth.generate_region(defect_rate=...), which this "
                     "tree does not have yet")
    dense_sizes = args.dense_sizes or [max([n for n in args.sizes if n <= ONE_M] or [min(sizes)])]
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now()
    command = "python -m tests.benchmarks.bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    from tests.benchmarks import peers

    info = {"started": started.isoformat(timespec="seconds"), "command": command,
            "note": args.note, "machine": machine(), "load_avg_start": os.getloadavg(),
            "gx_result_format": args.gx_result_format, "peer_versions": peers.versions(),
            "sizes": []}
    common = dict(verify=args.verify, profile=args.profile, repeat=args.repeat,
                  gx_result_format=args.gx_result_format, pandas_max=args.pandas_baselines_max,
                  no_registry=args.no_registry, gx_crosscheck=args.gx_crosscheck,
                  no_feed_history=args.no_feed_history)
    for size in sizes:
        info["sizes"].append(run_size(size, work, args.seed, tuple(args.baselines), **common))
        if size == TEN_M and ONE_M in sizes[:sizes.index(size)]:
            # issue 15: 1M before and after 10M in the same run, the slower 1M taken
            print(f"[bench] {ONE_M:,} again after {TEN_M:,}: Talon run", flush=True)
            again = spawn("talon", ONE_M, work, args.seed, verify=args.verify,
                          no_registry=args.no_registry, gx_crosscheck=args.gx_crosscheck,
                          no_feed_history=args.no_feed_history)
            info["repeat_1m"] = {"patients": ONE_M, "talon": again}
    info["dense"] = []
    if args.dense is not None:
        for size in dense_sizes:
            info["dense"].append(run_size(
                size, work, args.seed,
                tuple(b for b in args.baselines if b in ("floor", "floor_files")),
                defect_rate=args.dense, **common))
    info["load_avg_end"] = os.getloadavg()
    info["finished"] = datetime.now().isoformat(timespec="seconds")
    from tests.benchmarks import tables

    md, js = tables.write(info, args.out)
    print(f"[bench] wrote {md} and {js}")
    return 0


# --- children: one job each -----------------------------------------------------------------

def _generate_child(args, work: Path) -> dict:
    from flows.synth import generate_region
    from tests.benchmarks.measure import Recorder

    region = region_dir(work, args.size, args.seed, args.defect_rate)
    rec = Recorder()
    dense = {} if args.defect_rate is None else {"defect_rate": args.defect_rate}
    with rec.stage("generate", "generate"):
        res = generate_region(region, patients=args.size, seed=args.seed, as_of=AS_OF, **dense)
    info = {"key": region_key(args.size, args.seed, args.defect_rate), "patients": args.size,
            "seed": args.seed, "defect_rate": args.defect_rate,
            "as_of": AS_OF.isoformat(), "lines": res.rows, "stages": rec.as_dicts(),
            "process_peak_mb": rec.peak_mb(),
            "generated": datetime.now().isoformat(timespec="seconds")}
    (region / MARKER).write_text(json.dumps(info, indent=1))
    return info


def _talon_child(args, work: Path) -> dict:
    """The nightly flow's work (flows/nightly.py) without Prefect, one measured stage each."""
    from tests.benchmarks.measure import Recorder, profiled

    region = region_dir(work, args.size, args.seed, args.defect_rate)
    run_dir = run_dir_of(work, args.size, args.defect_rate)
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    db, out, lang = run_dir / "warehouse.duckdb", run_dir / "out", "ru"
    rec = Recorder()
    profile = set(args.profile or ())

    @contextmanager
    def stage(name: str):
        group = dict(TALON_STAGES)[name]
        path = run_dir / f"profile-{name}.pstats" if name in profile else None
        with rec.stage(name, group) as info, profiled(path):
            yield info

    # As `talon run`: the report workers' forkserver starts before Prefect's temporary server
    # (10-25 s, excluded from the run's time) and has preloaded GX and the report modules by
    # the time the flow runs; waited for here (one no-op job), outside the stopwatch.
    from flows import parallel as _parallel

    if _parallel.start_forkserver(gx=True):
        with _parallel.Pool(1) as warm:
            warm.submit(os.getpid).result()
    t0 = time.perf_counter()
    with stage("imports"):  # what a `talon run` imports before it reads
        import polars  # noqa: F401  (imported by the run before anything else)

        from checks import findings  # noqa: F401  (imported by pipeline.route_findings)
        from checks import feed, register, row_rules, set_rules, staging
        from flows import pipeline, publish as publish_mod, warehouse
        from flows import parallel
        from reports import auditor, clinic, data as report_data  # noqa: F401
        from reports.findings_csv import write_findings_csv
        from reports.validation import write_gx_page
    params = pipeline.CheckParams()
    extract = region / "extract"
    if args.no_registry:  # the same batch without its register (hard links: regular files)
        extract = run_dir / "extract-without-registry"
        extract.mkdir()
        for path in (region / "extract").iterdir():
            if not path.name.startswith("registry."):
                os.link(path, extract / path.name)
    spool_scope = ExitStack()  # rows read and typed, not yet staged: on disk, not in memory
    spool = spool_scope.enter_context(pipeline.spooling(db))
    with stage("prepare"):  # as the flow: files read (and typed) on worker threads
        # as pipeline.ingested (the forkserver runs already, as in `talon run`)
        feed_in_worker = parallel.start_forkserver(gx=True)
        prepared = pipeline.prepare(extract, region / "reference", spool=spool,
                                    workers=pipeline.READ_WORKERS)
    as_of = prepared.as_of
    rows = {f.spec.name: f.rows_loaded for f in prepared.files}
    with warehouse.connect(db) as con, stage("load"):
        if args.gx_crosscheck or not feed_in_worker:  # as the flow: GX imported meanwhile
            pipeline.preload_gx()
        replaces = pipeline.check_rerun(con, prepared, force=False)
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id, replaces)
        if not pipeline.reconciliation(con, run_id)["reconciled"].all():
            raise RuntimeError("reconciliation failed")
    spools = pipeline.typed_spools(prepared)
    del prepared  # as in the flow: nothing of the read files outlives the load
    # pipeline.check_findings, one measured stage per step
    con = warehouse.connect(db)
    with stage("staging_row_rules") as info:  # interleaved: one entity's frame alive at a time
        f008 = staging.build_current_reference(con, run_id, as_of.date())
        split: dict[str, float] = {}
        row_found = row_rules.stage_and_check(con, run_id, as_of, f008, split,
                                              register=register.has_registry(con, run_id),
                                              spools=spools)
        info["split"] = {k: round(v, 3) for k, v in split.items()}
    with stage("set_rules"):
        set_found = set_rules.run_set_rules(con, run_id, as_of, params.stale_hours,
                                            params.horizon_days)
    if not args.no_feed_history:  # a warehouse of a steady region, not a first night
        _feed_history(con, run_id, as_of, params.horizon_days)
    # the feed-health GX suite (bounds from the history): its statistics, plan and rows here,
    # GX's validation in a worker beside the register (as pipeline.check_findings)
    with stage("feed") as info:
        feed_job = feed.start_feed(con, run_id, as_of, feed.FeedParams(), params.horizon_days,
                                   worker=True)
        plan = con.execute("SELECT suite_json FROM feed_suites WHERE run_id = ?",
                           [run_id]).fetchall()[0][0]
        info["expectations"] = len(json.loads(plan)["expectations"])
        info["in_worker"] = feed_in_worker
    with stage("register") as info:  # staging the register, linking, the REG rules
        # as the flow: the quarantine's findings, then what the register does not read goes
        quarantined = pipeline.quarantine_and_release(con, run_id,
                                                      keep_staging=args.gx_crosscheck)
        reg_found = register.check_register(con, run_id, as_of,
                                            polars.concat([row_found, set_found]),
                                            spools.get("registry"))
        info["links"] = dict(con.execute("SELECT tier, count(*) FROM reg_links WHERE run_id = ? "
                                          "GROUP BY tier ORDER BY tier", [run_id]).fetchall())
    spool_scope.close()  # as the flow: the spool goes once the checks have staged it
    with stage("feed_wait") as info:  # what is left of GX's validation after the register
        with feed_job:
            feed_found = feed_job.result()
        info["findings"] = feed_found.height
    with stage("route_store"):
        routed = pipeline.route_findings(con, run_id, row_found,
                                         polars.concat([set_found, reg_found]), feed_found,
                                         quarantined, keep_staging=args.gx_crosscheck)
    del row_found
    with stage("gx_start") as info:  # GX on `con`: in the background or at once (as the flow)
        gx = (pipeline.BackgroundGx(con, db, run_id, as_of, params, set_found)
              if args.gx_crosscheck else None)
        info["gx_background"] = gx.background if gx is not None else None
        if gx is None:
            con.close()
    del set_found

    def render(folder: Path) -> None:  # flows.nightly.publish's render
        with warehouse.connect(db) as con2:
            with stage("findings_csv"):  # as render_outputs: the report workers start meanwhile
                parallel.warm_up(report_data.clinic_count(con2, run_id), None)
                write_findings_csv(routed, folder / "findings.csv", lang)
            # one pool: the auditor report is prepared while workers write the lists
            with stage("clinic_lists_auditor_report"):
                pipeline.write_lists_and_pages(con2, run_id, folder, lang)
            with stage("gx_wait") as info:
                if gx is not None:
                    gx.wait()
                    info["gx_suite_s"] = round(gx.seconds, 3)
                    info["gx_background"] = gx.background
            with stage("gx_page"):
                write_gx_page(con2, run_id, folder, lang)

    folder = publish_mod.publish(out, publish_mod.run_label(as_of, run_id), render)
    with stage("finish"):
        with warehouse.connect(db) as con:
            pipeline.finish_run(con, run_id, "completed")
    end_to_end = time.perf_counter() - t0

    counts = dict(routed.group_by("check_code").len().iter_rows())
    result = {"run_id": run_id, "rows": rows, "total_rows": sum(rows.values()),
              "stages": rec.as_dicts(), "rss_method": rec.rss_method,
              "end_to_end_s": round(end_to_end, 3),
              "process_peak_mb": rec.peak_mb(),
              "findings": routed.height, "counts": counts,
              "row_rule_codes": list(row_rules.CODES), "set_rule_codes": list(set_rules.CODES),
              "report_files": sum(1 for p in folder.rglob("*") if p.is_file()),
              "output": output_sizes(folder, routed.height),
              "warehouse_mb": round(db.stat().st_size / 2**20, 1)}
    if args.verify:
        result["verified"] = _verify(db, run_id, as_of, routed)
    return result


def output_sizes(folder: Path, findings: int) -> dict:
    """Bytes of the run's output folder and bytes per finding: all of it, findings.csv, the
    clinic fix lists (clinics/*, every format, the unassigned list apart) and the rest."""
    parts = {"total": 0, "findings_csv": 0, "clinic_lists": 0, "unassigned": 0, "other": 0}
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        size = path.stat().st_size
        rel = path.relative_to(folder)
        parts["total"] += size
        if rel == Path("findings.csv"):
            parts["findings_csv"] += size
        elif rel.parts[0] == "clinics" and path.stem == "unassigned":
            parts["unassigned"] += size
        elif rel.parts[0] == "clinics":
            parts["clinic_lists"] += size
        else:
            parts["other"] += size
    return {"findings": findings, "bytes": parts,
            "bytes_per_finding": {k: round(v / findings, 1) if findings else None
                                  for k, v in parts.items()}}


def _feed_history(con, run_id: str, as_of: datetime, horizon_days: int) -> None:
    """Three earlier completed nights that looked like this one (ledger, loaded rows, feed
    statistics), so the measured night runs the full feed-health suite a steady warehouse
    runs; a first night has no history and runs no GX at all."""
    from checks import feed

    feed.record_stats(con, run_id, as_of, horizon_days)
    for k in (1, 2, 3):
        past = f"{run_id}-past{k}"
        con.execute("INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir, "
                    "started_at, status) SELECT ?, as_of - to_days(CAST(? AS INTEGER)), as_of_source, "
                    "extracts_dir, reference_dir, started_at, 'completed' FROM runs "
                    "WHERE run_id = ?", [past, k, run_id])
        con.execute("INSERT INTO run_files SELECT ? AS run_id, * EXCLUDE (run_id) FROM run_files "
                    "WHERE run_id = ?", [past, run_id])
        con.execute("INSERT INTO feed_stats SELECT ? AS run_id, * EXCLUDE (run_id) "
                    "FROM feed_stats WHERE run_id = ?", [past, run_id])


def _verify(db: Path, run_id: str, as_of: datetime, routed) -> bool:
    """pipeline.run_checks on the same run must store exactly the bench's findings."""
    from flows import pipeline, warehouse

    keys = ["check_code", "entity", "record_id", "mo_code", "field", "value"]
    with warehouse.connect(db) as con:
        again = pipeline.run_checks(con, run_id, as_of, pipeline.CheckParams(gx_crosscheck=False))
    if not routed.select(keys).sort(keys).equals(again.select(keys).sort(keys)):
        raise RuntimeError("the bench's stage-by-stage run and pipeline.run_checks disagree: "
                           "update tests/benchmarks/bench.py to follow flows/pipeline.py")
    return True


def _baseline_child(args, work: Path) -> dict:
    from tests.benchmarks import baselines as bl
    from tests.benchmarks.measure import Recorder

    db = run_dir_of(work, args.size, args.defect_rate) / "warehouse.duckdb"
    rec = Recorder()
    result: dict = {"baseline": args.child}
    if args.child == "floor":
        with rec.stage("one_pass", "baseline"):
            result["read"] = bl.run_floor(db, args.run_id)
    elif args.child == "floor_files":
        region = region_dir(work, args.size, args.seed, args.defect_rate)
        files = bl.transcode_extract(region / "extract", region / "floor-utf8")  # untimed
        with rec.stage("read_files", "baseline"):
            frames, result["read"] = bl.read_file_floor(files)
        # beside the floor, not in it: Talon's typing of its frames (tables.typed_floor)
        as_of = bl.run_context(db, args.run_id).as_of
        with rec.stage("type_files", "baseline"):
            result["typed"] = bl.type_file_floor(frames, as_of)
        del frames
    elif args.child in PEERS:
        result.update(_peer_child(args, db, rec))
    else:
        ctx = bl.run_context(db, args.run_id)
        if args.child == "gx":
            import great_expectations  # noqa: F401  (import time is not validation time)
        else:
            import pandera.pandas  # noqa: F401
        with rec.stage("load_pandas", "baseline"):
            frames = bl.load_pandas(db, args.run_id)
        if args.child == "gx":
            # the row rules (steps as before the set rules came), then the set rules: their
            # reference rows, their value sets computed in pandas, their suites validated
            with rec.stage("setup", "baseline"):
                gx_context_source = bl.gx_context()
                definitions = bl.gx_setup(ctx, gx_context_source=gx_context_source)
            with rec.stage("validate", "baseline"):
                result["counts"] = bl.run_gx(frames, definitions, args.gx_result_format)
            with rec.stage("load_reference", "baseline"):
                refs = bl.load_reference(db, args.run_id)
            with rec.stage("setup_set_rules", "baseline"):
                set_definitions = bl.gx_setup_set_rules(ctx, frames, refs, gx_context_source)
            with rec.stage("validate_set_rules", "baseline"):
                result["counts"].update(bl.run_gx(frames, set_definitions,
                                                  args.gx_result_format))
            result["result_format"] = args.gx_result_format
        else:
            with rec.stage("setup", "baseline"):
                schemas = bl.pandera_schemas(ctx)
            with rec.stage("validate", "baseline"):
                found = bl.run_pandera(frames, ctx, schemas)
            result["counts"] = {k: int(v) for k, v in found.groupby("check_code").size().items()}
            result["same_findings_as_talon"] = _same_row_findings(db, args.run_id, found)
    result.update(stages=rec.as_dicts(), rss_method=rec.rss_method,
                  process_peak_mb=rec.peak_mb())
    return result


def _peer_child(args, db: Path, rec) -> dict:
    """(d) Soda Core on DuckDB or (e) Pointblank on polars: load + setup + validate of the
    row rules, then load_reference + setup_set_rules + validate_set_rules of the set rules."""
    from dataclasses import replace

    from tests.benchmarks import baselines as bl, peers

    ctx = bl.run_context(db, args.run_id)
    if args.child == "soda":
        import soda_core.contracts  # noqa: F401  (import time is not validation time)

        with rec.stage("load", "baseline"):  # Soda queries the raw tables in place
            con, data_source = peers.soda_connect(db)
        with rec.stage("setup", "baseline"):
            contracts = peers.soda_contracts(ctx, args.run_id, db.parent / "soda-contracts")
        with rec.stage("validate", "baseline"):
            counts = peers.run_soda(data_source, contracts)
        # the set rules as (a) runs them, in steps of their own (the ids as reference data)
        with rec.stage("load_reference", "baseline"):
            refs = bl.load_reference(db, args.run_id)
        with rec.stage("setup_set_rules", "baseline"):
            set_ctx = replace(ctx, sets=peers.peer_value_sets("soda", None, refs, ctx))
            contracts = peers.soda_contracts(set_ctx, args.run_id,
                                             db.parent / "soda-contracts-set-rules",
                                             bl.GX_SET_RULES)
        with rec.stage("validate_set_rules", "baseline"):
            counts.update(peers.run_soda(data_source, contracts))
        con.close()
    else:
        import pointblank  # noqa: F401

        with rec.stage("load", "baseline"):
            frames = peers.load_polars(db, args.run_id)
        with rec.stage("setup", "baseline"):
            plans = peers.pointblank_plans(frames, ctx)
        with rec.stage("validate", "baseline"):
            counts = peers.run_pointblank(plans)
        with rec.stage("load_reference", "baseline"):
            refs = bl.load_reference(db, args.run_id)
        with rec.stage("setup_set_rules", "baseline"):
            set_ctx = replace(ctx, sets=peers.peer_value_sets("pointblank", frames, refs, ctx))
            plans = peers.pointblank_plans(frames, set_ctx, bl.GX_SET_RULES)
        with rec.stage("validate_set_rules", "baseline"):
            counts.update(peers.run_pointblank(plans))
    return {"counts": counts, "version": peers.versions()}


def _same_row_findings(db: Path, run_id: str, found) -> dict:
    """Compare (check_code, record_id) of pandera-pandas with Talon's stored row findings."""
    import duckdb

    from tests.benchmarks.baselines import PANDAS_RULES

    codes = [r.code for r in PANDAS_RULES]
    with duckdb.connect(str(db), read_only=True) as con:
        talon = con.execute("SELECT check_code, record_id FROM findings WHERE run_id = ? AND "
                            "check_code IN (SELECT unnest(?))", [run_id, codes]).fetchall()
    ours = set(zip(found["check_code"], found["record_id"]))
    theirs = set(talon)
    return {"equal": ours == theirs, "talon": len(theirs), "baseline": len(ours),
            "only_baseline": sorted(ours - theirs)[:10], "only_talon": sorted(theirs - ours)[:10]}


CHILDREN = {"generate": _generate_child, "talon": _talon_child,
            **{name: _baseline_child for name in BASELINES}}


if __name__ == "__main__":
    raise SystemExit(main())
