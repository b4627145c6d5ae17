"""The defect lifecycle across runs, computed on read from the `findings` table (issue "nightly
operation", History and defect lifecycle). Nothing is stored: every answer is one SQL query
over the run ledger and the findings of the runs that count as history.

Definitions (for the run being reported, R):
- A finding's key is (check_code, entity, record_id); `findings` holds one row per key and run.
- History = the runs with status 'completed', plus R whatever its status (its reports render
  while it is still 'running'), ordered by as_of, then started_at, then run_id. Runs ordered
  after R are ignored (re-rendering an old run shows that run's view). Failed, running and
  'replacing' runs other than R never count: a failed run between two completed ones neither
  fixes nor reopens anything.
- The previous run P = the history run just before R.
- A finding is waived in a run when a clinic's answer "not an error" covered it there
  (`findings.waiver_id` set by that run's routing, flows/waivers.py): it was left out of that
  run's fix list. A warehouse without the column has no waived findings.
- status of each finding of R:
    `new`          never seen in any history run before R;
    `open`         present in P, and not waived in P unless it is waived in R too (on P's
                   list and on R's, or waived in both);
    `waiver_ended` not waived in R, but present in P and waived there: the clinic's answer
                   covered it on P's night and no longer does on R's (the waiver expired,
                   `until` < R's as_of date, or was removed), so it is back on the clinic's
                   list although the clinic never saw it there as open. Only the stored
                   findings decide it (each run's waiver_id is what its list showed), not the
                   waivers' or events' times: a waiver added after P and ended before R never
                   took a finding off a list (P's list had it, R's has it: `open`), and a key
                   absent in P is `reopened` whatever waived it earlier;
    `reopened` absent in P but present in some earlier history run.
- streak = the longest run of consecutive history runs ending at R in which the key is present
  and, for a key not waived in R, not waived (days on the clinic's list: the nights it was
  answered do not count, so a `waiver_ended` finding starts again at R and is `open` with its
  days counted from R the night after; a key waived in R counts every presence, as before).
  first_seen = as_of of the first run of that streak (so a reopened finding starts again at R),
  first_seen_ever = as_of of the first history run that had the key at all,
  days_open = (date of R's as_of) - (date of first_seen), in days; 0 for new, reopened and
  waiver_ended.
- fixed = keys present in P, not waived there, and absent in R (listed with P's row: clinic,
  severity, value...): a key P had waived was on no list, so its going is no fix of a clinic's.
  A key that moved to another clinic is not fixed (it is still present).
- trend = number of findings (open findings: not waived) per run of the history up to R, by
  check or clinic.
"""
from __future__ import annotations

import duckdb
import polars as pl

STATUSES = ("new", "open", "reopened", "waiver_ended")
WAIVER_ENDED = "waiver_ended"
FIXED = "fixed"
KEY = ("check_code", "entity", "record_id")

#: Which runs are history besides the reported one ($run_id). One place to change it.
HISTORY_PREDICATE = "status = 'completed'"

_HISTORY = f"""
hist AS (
    SELECT run_id, as_of, started_at,
           row_number() OVER (ORDER BY as_of, started_at, run_id) AS pos
    FROM runs WHERE {HISTORY_PREDICATE} OR run_id = $run_id
),
cur AS (SELECT pos AS cur_pos, as_of AS cur_as_of FROM hist WHERE run_id = $run_id),
h AS (SELECT hist.* FROM hist, cur WHERE hist.pos <= cur.cur_pos)
"""

_STATUS_SQL = f"""
WITH {_HISTORY},
cur_keys AS (  -- the reported run's keys, numbered: the heavy steps below work on integers
    SELECT *, row_number() OVER () AS kid
    FROM (SELECT check_code, entity, record_id, bool_or({{waived}}) AS waived
          FROM findings WHERE run_id = $run_id GROUP BY ALL)
),
before AS (  -- appearances of those keys in the history runs before R, waived or not
    SELECT k.kid, h.pos, h.as_of, bool_or({{f_waived}}) AS waived,
           any_value(k.waived) AS cur_waived
    FROM findings f
    JOIN h ON h.run_id = f.run_id
    JOIN cur_keys k ON k.check_code = f.check_code AND k.entity = f.entity
                   AND k.record_id = f.record_id
    CROSS JOIN cur
    WHERE h.pos < cur.cur_pos AND f.run_id <> $run_id  -- (implied; lets the scan drop R's rows)
    GROUP BY k.kid, h.pos, h.as_of
),
seen AS (  -- the appearances that make a streak (a key open in R: those on a list), R's own
    SELECT kid, pos, as_of FROM before WHERE cur_waived OR NOT waived
    UNION ALL
    SELECT DISTINCT kid, cur.cur_pos, cur.cur_as_of FROM before CROSS JOIN cur
),
islands AS (  -- consecutive appearances share pos - rank (gaps and islands)
    SELECT kid, pos, as_of, pos - row_number() OVER (PARTITION BY kid ORDER BY pos) AS grp
    FROM seen
),
streaks AS (
    SELECT kid, min(pos) AS start_pos, max(pos) AS end_pos, min(as_of) AS start_as_of
    FROM islands GROUP BY kid, grp
),
ever AS (  -- every appearance before R, waived ones too; P's: waived there?
    SELECT kid, min(pos) AS first_pos, min(as_of) AS first_seen_ever,
           bool_or(waived AND NOT cur_waived) FILTER (WHERE pos = cur.cur_pos - 1) AS ended
    FROM before CROSS JOIN cur GROUP BY kid
),
known AS (  -- the streak ending at R of each key seen before R
    SELECT s.kid, s.start_pos, s.start_as_of, e.first_pos, e.first_seen_ever, e.ended
    FROM streaks s JOIN ever e USING (kid) CROSS JOIN cur
    WHERE s.end_pos = cur.cur_pos
)
-- A key not seen before R (no `known` row) is new: its streak and first sighting are R itself.
-- Only the keys seen before go through the gaps and islands: a first night's findings (all of
-- them) or a night's new ones no longer join R's own rows back to its keys and number every
-- appearance (dense 1M region, 503k findings, no earlier ones: 0.54 -> 0.25 CPU s; with three
-- earlier runs of 213k-478k findings each: 1.03 -> 0.89 CPU s).
SELECT k.check_code, k.entity, k.record_id,
       CASE WHEN n.start_pos < cur.cur_pos THEN 'open'
            WHEN n.ended THEN 'waiver_ended'
            WHEN n.first_pos < cur.cur_pos THEN 'reopened'
            ELSE 'new' END AS status,
       coalesce(n.start_as_of, cur.cur_as_of) AS first_seen,
       coalesce(n.first_seen_ever, cur.cur_as_of) AS first_seen_ever,
       date_diff('day', CAST(coalesce(n.start_as_of, cur.cur_as_of) AS DATE),
                 CAST(cur.cur_as_of AS DATE)) AS days_open
FROM cur_keys k
LEFT JOIN known n USING (kid)
CROSS JOIN cur
ORDER BY k.check_code, k.entity, k.record_id
"""

_PREVIOUS_SQL = f"""
WITH {_HISTORY}
SELECT h.run_id, h.as_of FROM h, cur WHERE h.pos = cur.cur_pos - 1
"""

_FIXED_SQL = f"""
WITH {_HISTORY},
prev AS (SELECT h.run_id FROM h, cur WHERE h.pos = cur.cur_pos - 1)
SELECT p.run_id AS previous_run_id, p.check_code, p.severity, p.entity, p.record_id,
       p.mo_code, p.unassigned_reason, p.field, p.value, p.value_masked, p.patient_id
FROM findings p
JOIN prev ON prev.run_id = p.run_id{{open}}
WHERE NOT EXISTS (SELECT 1 FROM findings c
                  WHERE c.run_id = $run_id AND c.check_code = p.check_code
                    AND c.entity = p.entity AND c.record_id = p.record_id)
ORDER BY p.check_code, p.entity, p.record_id
"""

_TREND_SQL = f"""
WITH {_HISTORY}
SELECT h.run_id, h.as_of, h.pos, f.{{by}} AS {{by}}, count(f.check_code) AS n
FROM h CROSS JOIN cur
JOIN findings f ON f.run_id = h.run_id{{open}}
WHERE h.pos > cur.cur_pos - $last
GROUP BY ALL
ORDER BY h.pos, {{by}} NULLS LAST
"""

_RUNS_SQL = f"""
WITH {_HISTORY}
SELECT h.run_id, h.as_of, h.pos FROM h CROSS JOIN cur
WHERE h.pos > cur.cur_pos - $last ORDER BY h.pos
"""

STATUS_SCHEMA = {"check_code": pl.String, "entity": pl.String, "record_id": pl.String,
                 "status": pl.String, "first_seen": pl.Datetime("us"),
                 "first_seen_ever": pl.Datetime("us"), "days_open": pl.Int64}
FIXED_COLUMNS = ("previous_run_id", "check_code", "severity", "entity", "record_id", "mo_code",
                 "unassigned_reason", "field", "value", "value_masked", "patient_id")
TREND_BY = ("check_code", "mo_code")


def _require_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    if not con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]:
        raise ValueError(f"run {run_id!r} is not in the warehouse's run ledger")


def previous_run(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The history run just before `run_id` (None for the first run)."""
    _require_run(con, run_id)
    rows = con.sql(_PREVIOUS_SQL, params={"run_id": run_id}).fetchall()
    return rows[0][0] if rows else None


def has_waivers(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `findings` has waiver_id (a warehouse from before the waivers of issue 13 has
    none): the one test of it for the lifecycle, the reports and delivery."""
    return any(r[0] == "waiver_id" for r in con.execute("DESCRIBE findings").fetchall())


def waived_sql(con: duckdb.DuckDBPyConnection, alias: str = "") -> str:
    """SQL true for a waived finding (`alias`: its table's, if any); "FALSE" before the
    warehouse had waivers."""
    column = f"{alias}.waiver_id" if alias else "waiver_id"
    return f"({column} IS NOT NULL)" if has_waivers(con) else "FALSE"


def open_sql(con: duckdb.DuckDBPyConnection, alias: str = "") -> str:
    """` AND <alias.>waiver_id IS NULL`, to keep open findings only in SQL over `findings`: a
    waived one (a clinic's answer "not an error", flows/waivers.py) is not open ("" before the
    warehouse had waivers)."""
    column = f"{alias}.waiver_id" if alias else "waiver_id"
    return f" AND {column} IS NULL" if has_waivers(con) else ""


def finding_status(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """One row per finding of `run_id`: check_code, entity, record_id, status (new | open |
    reopened | waiver_ended), first_seen, first_seen_ever (TIMESTAMP, as_of of those runs), days_open."""
    _require_run(con, run_id)
    sql = _STATUS_SQL.format(waived=waived_sql(con), f_waived=waived_sql(con, "f"))
    frame = con.sql(sql, params={"run_id": run_id}).pl()
    return frame.cast(STATUS_SCHEMA) if frame.height else pl.DataFrame(schema=STATUS_SCHEMA)


def fixed_findings(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Open findings of the previous run absent from `run_id` (the previous run's rows, so
    `mo_code` is the clinic that was asked to fix them; a finding the previous run had waived
    was on no list, so it is not "fixed"). Empty for the first run."""
    _require_run(con, run_id)
    frame = con.sql(_FIXED_SQL.format(open=open_sql(con, "p")), params={"run_id": run_id}).pl()
    return frame.cast({c: pl.String for c in FIXED_COLUMNS}).select(FIXED_COLUMNS)


def trend_runs(con: duckdb.DuckDBPyConnection, run_id: str, last: int = 30) -> pl.DataFrame:
    """The last `last` history runs up to and including `run_id`: run_id, as_of, pos."""
    _require_run(con, run_id)
    return con.sql(_RUNS_SQL, params={"run_id": run_id, "last": last}).pl()


def open_trend(con: duckdb.DuckDBPyConnection, run_id: str, by: str, last: int = 30) -> pl.DataFrame:
    """Findings per history run (the last `last` up to `run_id`) and `by` (check_code or
    mo_code; NULL mo_code = unassigned): run_id, as_of, pos, <by>, n. Zero counts are absent."""
    if by not in TREND_BY:
        raise ValueError(f"trend by {by!r}: use one of {TREND_BY}")
    _require_run(con, run_id)
    return con.sql(_TREND_SQL.format(by=by, open=open_sql(con, "f")),
                   params={"run_id": run_id, "last": last}).pl()


def status_counts(status: pl.DataFrame, fixed: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """Counts of open (all current), new, reopened, waiver_ended (back on the list: their
    answer "not an error" ended) and fixed findings, overall or per `by`.

    `status` must carry the `by` column (join it onto the findings first); `fixed` has it.
    """
    keys = [by] if by else []
    agg = [pl.len().alias("open_now"),
           (pl.col("status") == "new").sum().alias("new"),
           (pl.col("status") == "reopened").sum().alias("reopened"),
           (pl.col("status") == WAIVER_ENDED).sum().alias("waiver_ended")]
    if keys:
        current = status.group_by(keys).agg(agg)
        gone = fixed.group_by(keys).agg(pl.len().alias("fixed"))
        both = current.join(gone, on=keys, how="full", coalesce=True, nulls_equal=True)
    else:
        both = status.select(agg).with_columns(pl.lit(fixed.height).alias("fixed"))
    return both.with_columns(pl.col(c).fill_null(0).cast(pl.Int64)
                             for c in ("open_now", "new", "reopened", "waiver_ended", "fixed"))
