"""The auditors' view of the defect lifecycle: open findings per check and per clinic over the
last runs (charts and the figures behind them) and what changed since the last run.

All counts come from checks/lifecycle.py (SQL over the `findings` table of the history runs).
Only codes, names and counts appear here: no value of any finding.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl
from markupsafe import Markup

from checks import lifecycle
from reports import charts
from reports.i18n import Texts

TREND_RUNS = 30  # runs shown in the trend charts and tables
TOP_CHECKS = 24  # small multiples of the per-check trend
TOP_CLINICS = 10  # lines of the per-clinic trend


@dataclass
class Trend:
    """One trend (per check or per clinic): chart, the runs' labels and a row per series."""

    chart: Markup  # empty until drawn (see `trend`'s `draw`)
    runs: list[str]
    rows: list[dict]  # {"key": code or None, "label": str, "counts": [n per run]}
    shown: list[str]  # series drawn in the chart, in order
    recipe: tuple | None = None  # the chart's charts.draw recipe (None: nothing to draw)


def run_labels(runs: pl.DataFrame) -> pl.DataFrame:
    """run_id -> `run`: as_of to the minute, with " (2)", " (3)" for runs sharing it."""
    label = pl.col("as_of").dt.strftime("%Y-%m-%d %H:%M")
    dup = pl.int_range(pl.len()).over(label)
    return runs.sort("pos").with_columns(
        pl.when(dup == 0).then(label).otherwise(label + " (" + (dup + 1).cast(pl.String) + ")")
        .alias("run"))


def _grid(counts: pl.DataFrame, runs: pl.DataFrame, by: str, none_label: str) -> pl.DataFrame:
    """Every (run, series) of the window with its count, zeros included: run_id, run, pos,
    key, series, n."""
    counts = counts.rename({by: "key"})
    keys = counts.select("key").unique()
    grid = runs.select("run_id", "run", "pos").join(keys, how="cross")
    grid = grid.join(counts.select("run_id", "key", "n"), on=["run_id", "key"], how="left",
                     nulls_equal=True)
    # sorted: a join's row order varies from run to run, and the charts draw in data order
    return grid.with_columns(pl.col("n").fill_null(0).cast(pl.Int64),
                             pl.col("key").fill_null(pl.lit(none_label)).alias("series")
                             ).sort("pos", "series")


def _ranked(grid: pl.DataFrame, run_id: str) -> list[str]:
    """Series by their count in the reported run, then their highest count, then name."""
    rank = grid.group_by("series").agg(
        pl.col("n").filter(pl.col("run_id") == run_id).sum().alias("now"),
        pl.col("n").max().alias("top"))
    return rank.sort(["now", "top", "series"], descending=[True, True, False])["series"].to_list()


def _rows(grid: pl.DataFrame, order: list[str], runs: list[str], label_of) -> list[dict]:
    wide = grid.sort("pos").group_by("series", maintain_order=True).agg(
        pl.col("key").first(), pl.col("n"))
    by_series = {r["series"]: r for r in wide.iter_rows(named=True)}
    return [{"key": by_series[s]["key"], "series": s, "label": label_of(by_series[s]["key"], s),
             "counts": by_series[s]["n"]} for s in order]


def trend(con: duckdb.DuckDBPyConnection, run_id: str, by: str, t: Texts,
          label_of=lambda key, series: series, draw: bool = True) -> Trend:
    """The trend of open findings per `by` (check_code or mo_code) over the last runs.
    `draw=False` leaves `chart` empty for the caller to draw `recipe` (charts.draw, e.g. in
    another process)."""
    runs = run_labels(lifecycle.trend_runs(con, run_id, TREND_RUNS))
    grid = _grid(lifecycle.open_trend(con, run_id, by, TREND_RUNS), runs, by, t.unassigned_name)
    run_order = runs["run"].to_list()
    order = _ranked(grid, run_id)
    if by == "check_code":
        shown = order[:TOP_CHECKS]
        recipe = (charts.trend_small_multiples_spec, (
            grid.filter(pl.col("series").is_in(shown)).select("run", "series", "n"), run_order,
            shown, t, t.chart_trend_check.format(n=TOP_CHECKS)))
    else:
        shown = order[:TOP_CLINICS]
        recipe = (charts.trend_lines_spec, (
            grid.filter(pl.col("series").is_in(shown)).select("run", "series", "n"), run_order,
            shown, t, t.chart_trend_clinic.format(n=TOP_CLINICS), t.mo_code))
    chart = Markup(charts.draw([recipe])[0]) if draw else Markup("")
    return Trend(chart, run_order, _rows(grid, order, run_order, label_of), shown, recipe)


def changes(status: pl.DataFrame, fixed: pl.DataFrame, by: str) -> list[dict]:
    """Per `by`: open now, new, reopened, fixed since the last run; most fixed first."""
    table = lifecycle.status_counts(status, fixed, by)
    return table.sort(["fixed", "new", "open_now", by],
                      descending=[True, True, True, False], nulls_last=True).to_dicts()
