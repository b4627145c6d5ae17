"""Feed health (catalogue v1.3): notice the night a clinic's feed breaks, as native Great
Expectations suites whose bounds are learned from the warehouse's earlier nights.

A schedule that never arrives looks, to every row or set rule, like a clinic with nothing wrong.
These four checks compare the run with earlier completed runs of the same warehouse:

- "The previous completed run" = the latest run with status 'completed' whose as_of is earlier
  than this run's; "history" = up to HISTORY_RUNS such runs. Counts are of loaded rows.
- FEED.VOLUME.DROP (file): loaded rows < `volume_drop` x the median over the history (checked
  with at least MIN_HISTORY runs that had the file): ExpectTableRowCountToBeBetween(min_value=
  ceil(volume_drop x median)) on the file's rows of the run.
- FEED.MO.SILENT (mo): a known, not excluded MO with at least `mo_silent_min` future slots in
  the previous run has none now: ExpectColumnDistinctValuesToContainSet on the MOs with a
  future slot, the set being those MOs (GX lists at most 20 missing values, so the set is cut
  into groups of SET_CHUNK).
- FEED.MO.SHRUNK (mo): not silent; its slots starting in [as_of, as_of + horizon) number less
  than `mo_shrunk` x the same count of the previous run, which was at least `mo_silent_min`:
  ExpectColumnPairValuesAToBeGreaterThanB(slots >= bound) per MO row, bound = ceil(mo_shrunk x
  previous) (rows cut into groups of ROW_CHUNK, under GX's cap on listed rows).
- FEED.COLUMN.EMPTY (file:column): the share of empty values of a contract column is at least
  `column_empty_points` percentage points higher than in the previous run, both runs with at
  least MIN_ROWS loaded rows of the file: ExpectColumnValuesToNotBeNull on a view where ''
  counts as missing, `mostly` placed half a row below the first share that passes, so that
  GX's floating-point comparison decides exactly the integer condition.

Each run stores what the next nights learn from in `feed_stats` (future and horizon slots per
MO, empty values per file column; loaded rows are in `run_files`). The suite with its bounds
and the history they came from is a value (`FeedPlan`), stored as JSON in `feed_suites`, written
to the run folder and shown on the GX page. Findings are read from GX's validation results.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import duckdb
import polars as pl
import pyarrow as pa

from checks.set_rules import FINDING_COLUMNS, _text_literal, empty_findings
from flows import warehouse
from flows.extract.contract import ALL_FILES

HISTORY_RUNS = 7
MIN_HISTORY = 3
MIN_ROWS = 1_000
SET_CHUNK = 20  # GX's ExpectColumnDistinctValuesToContainSet lists at most 20 missing values
ROW_CHUNK = 200  # GX lists at most 200 unexpected rows of a SQL batch
SUITE = "talon_feed_health"
CODES = ("FEED.VOLUME.DROP", "FEED.MO.SILENT", "FEED.MO.SHRUNK", "FEED.COLUMN.EMPTY")


@dataclass(frozen=True)
class FeedParams:
    """The thresholds (options of `talon run` / `talon serve`, same names)."""

    volume_drop: float = 0.7
    mo_silent_min: int = 20
    mo_shrunk: float = 0.5
    column_empty_points: float = 10.0

    def __post_init__(self):
        problems = validate(**asdict(self))
        if problems:
            from flows.errors import ConfigError

            raise ConfigError(problems[0])


#: option name of each threshold, for messages
OPTIONS = {"volume_drop": "--volume-drop", "mo_silent_min": "--mo-silent-min",
           "mo_shrunk": "--mo-shrunk", "column_empty_points": "--column-empty-points"}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(volume_drop, mo_silent_min, mo_shrunk, column_empty_points) -> list[str]:
    """What is wrong with the thresholds, one message per option, each starting with the
    option's name (empty: fine)."""
    out = []
    for name, v in (("volume_drop", volume_drop), ("mo_shrunk", mo_shrunk)):
        if not _number(v) or not 0 < v <= 1:
            out.append(f"{OPTIONS[name]} must be a share in (0, 1], not {v!r}")
    if isinstance(mo_silent_min, bool) or not isinstance(mo_silent_min, int) or mo_silent_min < 0:
        out.append(f"{OPTIONS['mo_silent_min']} must be a count >= 0, not {mo_silent_min!r}")
    if not _number(column_empty_points) or not 0 < column_empty_points <= 100:
        out.append(f"{OPTIONS['column_empty_points']} must be percentage points in (0, 100], "
                   f"not {column_empty_points!r}")
    return out


def _frac(x: float) -> Fraction:
    """The threshold as the decimal number the steward typed (0.7, not 0.69999...)."""
    return Fraction(str(x))


# --- what each run stores for the nights after it -------------------------------------------

def record_stats(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
                 horizon_days: int) -> None:
    """This run's feed_stats: future and horizon slots per MO (from stg_slots), empty values
    per contract column of each loaded file (from its raw table)."""
    end = as_of + timedelta(days=horizon_days)
    con.execute("DELETE FROM feed_stats WHERE run_id = ?", [run_id])
    con.execute(
        """INSERT INTO feed_stats (run_id, metric, file_name, column_name, mo_code, value)
           SELECT $run, 'future_slots', NULL, NULL, mo_code, count(*)
           FROM stg_slots WHERE is_future GROUP BY mo_code
           UNION ALL
           SELECT $run, 'horizon_slots', NULL, NULL, mo_code, count(*)
           FROM stg_slots WHERE start_ts >= $as_of AND start_ts < $end GROUP BY mo_code""",
        {"run": run_id, "as_of": as_of, "end": end})
    for file_name, entity, _ in extract_files(con, run_id):
        spec = _spec(entity)
        table = _filled(con, spec, run_id, replace=True)
        counts = ", ".join(f"count(*) - count({c})" for c in spec.columns)
        row = con.execute(f"SELECT {counts} FROM {table}").fetchall()[0]
        con.executemany(
            "INSERT INTO feed_stats (run_id, metric, file_name, column_name, mo_code, value) "
            "VALUES (?, 'empty', ?, ?, NULL, ?)",
            [[run_id, file_name, c, int(n)] for c, n in zip(spec.columns, row)])


#: The typed spool's column of filled flags: bit i set iff contract column i (ExtractFile.columns
#: order) holds a value (not empty, not null). The reader's typing computes it while each block
#: is in memory (checks.staging.typer), so the feed reads one small integer column per row
#: instead of every text column of the file again (1M patients: 3.8 of the feed's CPU s).
FILLED_MASK = "filled_mask"


def filled_mask(columns: tuple[str, ...]) -> pl.Expr:
    """FILLED_MASK of a frame with these text `columns` (at most 32)."""
    if len(columns) > 32:
        raise ValueError(f"{len(columns)} columns do not fit a 32-bit mask")
    bits = [pl.when(pl.col(c).str.len_bytes() > 0).then(pl.lit(1 << i, pl.UInt32))
            .otherwise(pl.lit(0, pl.UInt32)) for i, c in enumerate(columns)]
    return pl.sum_horizontal(bits).cast(pl.UInt32).alias(FILLED_MASK)


def _masked_rows(con: duckdb.DuckDBPyConnection, spec, run_id: str) -> str | None:
    """FROM clause of the run's raw rows (those of its raw view) with their FILLED_MASK: the
    run's file in the raw store minus the lines the quarantine holds (the view shows the text
    columns only). None where the run's rows have no mask: an in-memory warehouse, or a run
    loaded before the reader computed it."""
    store = warehouse.raw_store(con)
    if store is None:
        return None
    path = warehouse.raw_file(store, spec.raw_table, run_id)
    if not path.exists():
        return None
    source = f"read_parquet({warehouse.sql_text(str(path))})"
    columns = [d[0] for d in con.execute(f"SELECT * FROM {source} LIMIT 0").description]
    if FILLED_MASK not in columns:
        return None
    return (f"{source} AS s WHERE NOT EXISTS (SELECT 1 FROM quarantine AS q WHERE q.run_id = "
            f"{_text_literal(run_id)} AND q.entity = {_text_literal(spec.entity)} "
            f"AND q.line_no = s.line_no)")


def _filled(con: duckdb.DuckDBPyConnection, spec, run_id: str, replace: bool = False) -> str:
    """TEMP table feed_filled_<file> of the run's raw rows: per contract column TRUE where the
    value is filled and NULL where it is empty (what ExpectColumnValuesToNotBeNull counts).
    The raw file is read once for the run's statistics and every expectation on it, instead
    of once per GX query (`replace`: build it even if the connection has one); from the
    filled flags the reader stored (FILLED_MASK) where the run's rows have them."""
    table = f"feed_filled_{spec.name}"
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND "
                         "table_name = ?", [table]).fetchall()[0][0]
    if replace or not exists:
        masked = _masked_rows(con, spec, run_id)
        if masked is not None:
            cols = ", ".join(f"NULLIF({FILLED_MASK} & {1 << i} <> 0, false) AS {c}"
                             for i, c in enumerate(spec.columns))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {cols} FROM {masked}")
        else:
            cols = ", ".join(f"NULLIF({c} <> '', false) AS {c}" for c in spec.columns)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {cols} "
                        f"FROM {spec.raw_table} WHERE run_id = ?", [run_id])
    return table


def extract_files(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, str, int]]:
    """(file name, entity, loaded rows) of the run's extract files (not its classifiers)."""
    return con.execute(
        "SELECT file_name, entity, rows_loaded FROM run_files WHERE run_id = ? "
        "AND list_contains(?, entity) ORDER BY file_name",
        [run_id, [f.entity for f in ALL_FILES]]).fetchall()


def history(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The completed runs before this one (as_of earlier), newest first, at most HISTORY_RUNS:
    run_id and as_of."""
    rows = con.execute(
        """SELECT r.run_id, r.as_of FROM runs r, (SELECT as_of FROM runs WHERE run_id = ?) me
           WHERE r.status = 'completed' AND r.as_of < me.as_of
           ORDER BY r.as_of DESC, r.started_at DESC, r.run_id DESC LIMIT ?""",
        [run_id, HISTORY_RUNS]).fetchall()
    return [{"run_id": r, "as_of": a.isoformat(sep=" ")} for r, a in rows]


# --- the plan: a value ------------------------------------------------------------------------

@dataclass
class Expectation:
    """One GX expectation of the feed suite, with what it is about and why its bound is what
    it is (`basis`: the history figures it was learned from)."""

    code: str
    asset: str  # name of the query asset (one per distinct query)
    gx_type: str  # the GX expectation class name
    kwargs: dict
    record_ids: list[str]  # what a failure is about (file, MO codes, file:column)
    basis: dict = field(default_factory=dict)


@dataclass
class FeedPlan:
    run_id: str
    as_of: str
    params: dict
    history: list[dict]
    previous: str | None
    assets: dict[str, str] = field(default_factory=dict)  # asset name -> SQL query
    expectations: list[Expectation] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1, default=str)


def build_plan(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
               params: FeedParams, horizon_days: int) -> FeedPlan:
    """The feed suite of this run, its bounds learned from the history (needs this run's
    stg_slots and cur_mo on `con`, and its feed_stats)."""
    hist = history(con, run_id)
    previous = hist[0]["run_id"] if hist else None
    plan = FeedPlan(run_id, as_of.isoformat(sep=" "),
                    {**asdict(params), "horizon_days": horizon_days}, hist, previous)
    run_lit = _text_literal(run_id)
    files = extract_files(con, run_id)
    _volume(con, plan, files, run_lit, params)
    if previous is not None:
        _mo_silent(con, plan, previous, params)
        _mo_shrunk(con, plan, previous, params)
        _column_empty(con, plan, files, previous, params)
    return plan


def _spec(entity: str):
    return next(f for f in ALL_FILES if f.entity == entity)


def _volume(con, plan: FeedPlan, files, run_lit: str, params: FeedParams) -> None:
    runs = [h["run_id"] for h in plan.history]
    for file_name, entity, rows in files:
        past = [r[0] for r in con.execute(
            "SELECT rows_loaded FROM run_files WHERE entity = ? AND list_contains(?, run_id)",
            [entity, runs]).fetchall()]
        if len(past) < MIN_HISTORY:
            continue
        past.sort()
        mid = len(past) // 2
        median = (Fraction(past[mid]) if len(past) % 2
                  else Fraction(past[mid - 1] + past[mid], 2))
        bound = math.ceil(_frac(params.volume_drop) * median)  # rows < drop x median <=> < bound
        asset = f"rows.{entity}"
        plan.assets[asset] = (f"SELECT true AS row FROM {_spec(entity).raw_table} "
                              f"WHERE run_id = {run_lit}")
        plan.expectations.append(Expectation(
            "FEED.VOLUME.DROP", asset, "ExpectTableRowCountToBeBetween",
            {"min_value": bound}, [file_name],
            {"history_rows": past, "median": float(median), "volume_drop": params.volume_drop,
             "rows_loaded": rows}))


def _mo_silent(con, plan: FeedPlan, previous: str, params: FeedParams) -> None:
    rows = con.execute(
        """SELECT s.mo_code, s.value FROM feed_stats s JOIN cur_mo m ON m.mcod = s.mo_code
           WHERE s.run_id = ? AND s.metric = 'future_slots' AND NOT m.excluded AND s.value >= ?
           ORDER BY s.mo_code""", [previous, params.mo_silent_min]).fetchall()
    if not rows:
        return
    plan.assets["future_mos"] = ("SELECT DISTINCT mo_code FROM stg_slots WHERE is_future "
                                 "AND mo_code IS NOT NULL")
    for i in range(0, len(rows), SET_CHUNK):
        chunk = rows[i:i + SET_CHUNK]
        plan.expectations.append(Expectation(
            "FEED.MO.SILENT", "future_mos", "ExpectColumnDistinctValuesToContainSet",
            {"column": "mo_code", "value_set": [m for m, _ in chunk]}, [m for m, _ in chunk],
            {"previous_run": previous, "previous_future_slots": dict(chunk),
             "mo_silent_min": params.mo_silent_min}))


def _mo_shrunk(con, plan: FeedPlan, previous: str, params: FeedParams) -> None:
    """Candidates: MOs with at least mo_silent_min horizon slots in the previous run and a
    future slot now (else FEED.MO.SILENT says it, or, for an MO out of F003, nothing does)."""
    share = _frac(params.mo_shrunk)
    prev = con.execute(
        """SELECT mo_code, value FROM feed_stats WHERE run_id = ? AND metric = 'horizon_slots'
           AND value >= ? ORDER BY mo_code""", [previous, params.mo_silent_min]).fetchall()
    now = dict(con.execute(
        "SELECT mo_code, value FROM feed_stats WHERE run_id = ? AND metric = 'horizon_slots'",
        [plan.run_id]).fetchall())
    future = {r[0] for r in con.execute(
        "SELECT mo_code FROM feed_stats WHERE run_id = ? AND metric = 'future_slots'",
        [plan.run_id]).fetchall()}
    cand = [(m, v, math.ceil(share * v)) for m, v in prev if m in future]
    if not cand:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE feed_mo_horizon (mo_code VARCHAR, slots BIGINT, "
                "bound BIGINT, chunk INTEGER)")
    con.executemany("INSERT INTO feed_mo_horizon VALUES (?, ?, ?, ?)",
                    [[m, now.get(m, 0), b, i // ROW_CHUNK] for i, (m, _, b) in enumerate(cand)])
    for k in range(0, len(cand), ROW_CHUNK):
        chunk = cand[k:k + ROW_CHUNK]
        asset = f"horizon_slots.{k // ROW_CHUNK}"
        plan.assets[asset] = (f"SELECT mo_code, slots, bound FROM feed_mo_horizon "
                              f"WHERE chunk = {k // ROW_CHUNK}")
        plan.expectations.append(Expectation(
            "FEED.MO.SHRUNK", asset, "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "slots", "column_B": "bound", "or_equal": True},
            [m for m, _, _ in chunk],
            {"previous_run": previous, "mo_shrunk": params.mo_shrunk,
             "previous_horizon_slots": {m: v for m, v, _ in chunk},
             "bounds": {m: b for m, _, b in chunk}}))


def _column_empty(con, plan: FeedPlan, files, previous: str, params: FeedParams) -> None:
    points = _frac(params.column_empty_points) / 100
    prev_rows = dict(con.execute("SELECT entity, rows_loaded FROM run_files WHERE run_id = ?",
                                 [previous]).fetchall())
    for file_name, entity, rows in files:
        before = prev_rows.get(entity)
        if before is None or before < MIN_ROWS or rows < MIN_ROWS:
            continue
        prev_empty = dict(con.execute(
            "SELECT column_name, value FROM feed_stats WHERE run_id = ? AND metric = 'empty' "
            "AND file_name IN (SELECT file_name FROM run_files WHERE run_id = ? AND entity = ?)",
            [previous, previous, entity]).fetchall())
        spec = _spec(entity)
        asset = f"empty.{entity}"
        plan.assets[asset] = f"SELECT * FROM {_filled(con, spec, plan.run_id)}"
        for column in spec.columns:
            if column not in prev_empty:
                continue
            # finding <=> empty/rows >= prev share + points <=> filled/rows <= limit
            limit = 1 - Fraction(prev_empty[column], before) - points
            if limit < 0:
                continue  # cannot rise that far
            # filled/rows passes iff filled >= floor(limit x rows) + 1: mostly sits half a row
            # below, so GX's float comparison cannot land on the boundary.
            mostly = min(1.0, float((math.floor(limit * rows) + Fraction(1, 2)) / rows))
            plan.expectations.append(Expectation(
                "FEED.COLUMN.EMPTY", asset, "ExpectColumnValuesToNotBeNull",
                {"column": column, "mostly": mostly}, [f"{file_name}:{column}"],
                {"previous_run": previous, "previous_rows": before,
                 "previous_empty": prev_empty[column], "rows_loaded": rows,
                 "column_empty_points": params.column_empty_points}))


# --- running it in GX -------------------------------------------------------------------------

def plan_rows(con: duckdb.DuckDBPyConnection, plan: FeedPlan) -> dict[str, pa.Table]:
    """The rows of every asset the plan validates, read on `con` (the run's connection: some
    assets read its TEMP tables), as Arrow tables: all `validate_plan` needs, here or in
    another process. Small: the row assets are one boolean per row, the filled flags bits."""
    used = {e.asset for e in plan.expectations}
    return {name: con.sql(query).to_arrow_table()
            for name, query in plan.assets.items() if name in used}


def validate_plan(plan: FeedPlan, rows: dict[str, pa.Table]) -> pl.DataFrame:
    """Validate the plan with GX and turn GX's results into findings (raw-finding shape plus
    `entity`). GX reads each asset's rows (plan_rows) from a DuckDB of its own, in memory, so
    this needs nothing of the run's connection: the nightly run calls it in a worker process
    (start_feed) while the register checks run."""
    from checks import gx_suite
    import great_expectations as gx
    import great_expectations.expectations as gxe

    gx_suite.enable_duckdb_persisted_connection()
    mem = duckdb.connect()
    tables = {}
    for i, (asset_name, table) in enumerate(rows.items()):
        tables[asset_name] = f"asset_{i}"
        mem.register("_rows", table)
        mem.execute(f"CREATE TABLE asset_{i} AS SELECT * FROM _rows")
        mem.unregister("_rows")
    context = gx_suite._context(None)
    source = context.data_sources.add_sql(
        "talon_feed", connection_string="duckdb:///:memory:",
        kwargs={"creator": lambda: gx_suite._LentConnection(mem)})
    found = []
    try:
        for asset_name in plan.assets:
            expectations = [(i, e) for i, e in enumerate(plan.expectations)
                            if e.asset == asset_name]
            if not expectations:
                continue
            query = f"SELECT * FROM {tables[asset_name]}"
            batch = source.add_query_asset(asset_name, query=query) \
                .add_batch_definition_whole_table("all").get_batch()
            # Validated as a Batch, not through a stored ValidationDefinition: the context is
            # ephemeral and the plan itself is what Talon keeps (feed_suites), so storing the
            # suite and serialising its results in GX's stores was work thrown away (a third of
            # the validation's CPU at 1M patients).
            suite = gx.ExpectationSuite(name=f"{SUITE}.{asset_name}")
            for i, e in expectations:
                suite.add_expectation(getattr(gxe, e.gx_type)(**e.kwargs, meta={"index": i}))
            index_columns = ["mo_code"] if asset_name.startswith("horizon_slots.") else []
            result = batch.validate(suite, result_format={
                "result_format": "COMPLETE", "partial_unexpected_count": ROW_CHUNK,
                **({"unexpected_index_column_names": index_columns} if index_columns else {})})
            for r in result.results:
                error = gx_suite._error_of(r)
                e = plan.expectations[r.expectation_config.meta["index"]]
                if error is not None:
                    raise RuntimeError(f"GX could not evaluate {e.code} ({e.gx_type}): {error}")
                if not r.success:
                    found.extend(_findings(e, r.result or {}))
    finally:
        gx_suite._dispose(source)
        mem.close()
    if not found:
        return _empty()
    return pl.DataFrame(found, schema={c: pl.String for c in (*FINDING_COLUMNS, "entity")},
                        orient="row")


def _empty() -> pl.DataFrame:
    return empty_findings().with_columns(pl.lit(None, pl.String).alias("entity"))


def _findings(e: Expectation, result: dict) -> list[tuple]:
    """Findings of one failed expectation, from GX's result."""
    if e.code == "FEED.VOLUME.DROP":
        return [(e.code, e.record_ids[0], "rows", str(result["observed_value"]), None, None,
                 "file")]
    if e.code == "FEED.MO.SILENT":
        missing = result.get("partial_missing_list") or []
        if len(missing) != result.get("missing_count", len(missing)):
            raise RuntimeError("GX listed fewer missing MOs than it counted")
        return [(e.code, m, "slots", "0", None, m, "mo") for m in missing]
    if e.code == "FEED.MO.SHRUNK":
        rows = result.get("unexpected_index_list") or []
        if len(rows) != result.get("unexpected_count"):
            raise RuntimeError("GX listed fewer shrunk MOs than it counted")
        return [(e.code, r["mo_code"], "slots", str(r["slots"]), None, r["mo_code"], "mo")
                for r in rows]
    if e.code == "FEED.COLUMN.EMPTY":
        share = Fraction(result["unexpected_count"], result["element_count"])
        return [(e.code, e.record_ids[0], "empty_share", f"{float(share) * 100:.1f}%", None,
                 None, "file")]
    raise ValueError(e.code)


class FeedJob:
    """The feed-health step of a run, started: its plan stored, its GX validation running in a
    worker process (or deferred to `result()` in this one). A context manager: leaving it
    shuts the worker down (after the validation, should the caller fail meanwhile)."""

    def __init__(self, plan: FeedPlan, pool, future) -> None:
        self.plan, self._pool, self._future = plan, pool, future

    def result(self) -> pl.DataFrame:
        """The findings (raw-finding shape plus `entity`); raises what the validation raised."""
        return self._future.result()

    def __enter__(self) -> "FeedJob":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.__exit__(*exc)


def start_feed(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
               params: FeedParams, horizon_days: int, worker: bool = False) -> FeedJob:
    """Store this run's feed_stats, build the plan from the history, store it, and start its
    GX validation on the assets' rows (plan_rows): with `worker`, in a worker process
    (flows.parallel's, GX imported there in advance), so the run's connection is free for
    the next checks meanwhile; else when `result()` is asked for."""
    from flows import parallel

    record_stats(con, run_id, as_of, horizon_days)
    plan = build_plan(con, run_id, as_of, params, horizon_days)
    con.execute("DELETE FROM feed_suites WHERE run_id = ?", [run_id])
    con.execute("INSERT INTO feed_suites VALUES (?, ?)", [run_id, plan.to_json()])
    if not plan.expectations:
        pool = parallel.Pool(0)
        return FeedJob(plan, pool, pool.submit(_empty))
    rows = plan_rows(con, plan)
    pool = parallel.Pool(1 if worker and parallel.can_fork_workers() else 0)
    return FeedJob(plan, pool, pool.submit(validate_plan, plan, rows))


def check_feed(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
               params: FeedParams, horizon_days: int) -> pl.DataFrame:
    """The feed-health step of a run in this process: store this run's feed_stats, build the
    plan from the history, store it, validate it in GX, return the findings."""
    with start_feed(con, run_id, as_of, params, horizon_days) as job:
        return job.result()
