"""Charts rendered offline: altair specs turned into inline SVG by vl-convert (no JavaScript,
no fonts or scripts fetched). Labels are text escaped by the SVG renderer."""
from __future__ import annotations

import re

import altair as alt
import polars as pl
import vl_convert as vlc
from markupsafe import Markup

from reports.i18n import SEVERITY, Texts
from reports.safe import defang_urls

COLOURS = {"blocker": "#b3261e", "warning": "#e0a020"}
_XMLNS = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')
FONT = "DejaVu Sans"


def svg(spec: dict | None) -> Markup:
    """SVG markup of a Vega-Lite spec for inlining in HTML (the HTML parser puts <svg> in the
    SVG namespace); no spec, no chart. vl-convert holds the GIL while it draws, so a caller
    that wants to do something else meanwhile runs this in another process (flows.parallel).
    """
    if spec is None:
        return Markup("")
    text = vlc.vegalite_to_svg(spec)
    text = _XMLNS.sub("", text, count=2)
    return Markup(defang_urls(text))


def draw(recipes: list[tuple | None]) -> list[str]:
    """The SVG of each recipe, `(a *_spec function of this module, its arguments)` (None: no
    chart), as plain strings: a worker process's job. The spec
    is built there too, from the recipe's small frames: altair validates every spec against
    the Vega-Lite schema, which costs about as much CPU as vl-convert's drawing."""
    return [str(svg(None if recipe is None else recipe[0](*recipe[1]))) for recipe in recipes]


def _spec(chart: alt.TopLevelMixin) -> dict:
    return chart.configure(font=FONT).to_dict()


def _severity_scale(t: Texts) -> alt.Scale:
    return alt.Scale(domain=[t.severity_of(s) for s in SEVERITY],
                     range=[COLOURS[s] for s in SEVERITY])


def _label_severity(frame: pl.DataFrame, t: Texts) -> pl.DataFrame:
    return frame.with_columns(pl.col("severity").replace(t.mapping(SEVERITY)))


def _count_axis(top: int | None) -> alt.Axis:
    """Whole-number ticks only (counts): never more ticks than the largest count."""
    return alt.Axis(format="d", tickCount=max(1, min(int(top or 1), 10)))


def stacked_bars(counts: pl.DataFrame, label: str, t: Texts, title: str) -> Markup:
    return svg(stacked_bars_spec(counts, label, t, title))


def stacked_bars_spec(counts: pl.DataFrame, label: str, t: Texts, title: str) -> dict:
    """Horizontal bars per `label`, stacked by severity; `counts` has label, severity, n.
    Its rows are sorted first: they come from a group_by, whose order varies from run to run,
    and the SVG draws the bars in data order."""
    counts = counts.sort(label, "severity")
    totals = counts.group_by(label).agg(pl.col("n").sum()).sort(
        ["n", label], descending=[True, False])
    chart = alt.Chart(_label_severity(counts, t)).mark_bar().encode(
        y=alt.Y(f"{label}:N", sort=totals[label].to_list(), title=None,
                axis=alt.Axis(labelLimit=260)),
        x=alt.X("n:Q", title=t.chart_axis_findings, axis=_count_axis(totals["n"].max())),
        color=alt.Color("severity:N", scale=_severity_scale(t), title=t.severity),
        order=alt.Order("severity:N"),
    ).properties(title=title, width=460, height=alt.Step(16))
    return _spec(chart)


def trend(history: pl.DataFrame, t: Texts) -> Markup:
    return svg(trend_spec(history, t))


def trend_spec(history: pl.DataFrame, t: Texts) -> dict:
    """Findings per run over time: blockers, warnings; one run shows as single points."""
    long = history.select("as_of", "run_id", "blockers", "warnings").unpivot(
        index=["as_of", "run_id"], on=["blockers", "warnings"], variable_name="severity",
        value_name="n").with_columns(
        pl.col("severity").replace({"blockers": "blocker", "warnings": "warning"}))
    data = _label_severity(long, t).with_columns(
        pl.col("as_of").dt.strftime("%Y-%m-%d %H:%M").alias("run"))
    runs = data.sort("as_of")["run"].unique(maintain_order=True).to_list()
    # Ordinal axis: one evenly spaced tick per run, so a single run is a single clear point.
    chart = alt.Chart(data.drop("as_of")).mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        x=alt.X("run:O", sort=runs, title=t.chart_axis_run,
                axis=alt.Axis(labelAngle=-40, labelOverlap="greedy")),
        y=alt.Y("n:Q", title=t.chart_axis_findings, axis=_count_axis(long["n"].max())),
        color=alt.Color("severity:N", scale=_severity_scale(t), title=t.severity),
    ).properties(title=t.chart_trend, width=460, height=220)
    return _spec(chart)


def _run_axis(runs: list[str], title: str | None, short: bool = False) -> alt.X:
    """One evenly spaced tick per run (labels are unique per run); `short` shows the date only."""
    axis = alt.Axis(labelAngle=-40, labelOverlap="greedy", labelLimit=120)
    if short:
        axis = alt.Axis(labelAngle=-40, labelOverlap="greedy", labelLimit=80,
                        labelExpr="slice(datum.label, 0, 10)")
    return alt.X("run:O", sort=runs, title=title, axis=axis)


def trend_small_multiples(counts: pl.DataFrame, runs: list[str], order: list[str], t: Texts,
                          title: str, columns: int = 4) -> Markup:
    return svg(trend_small_multiples_spec(counts, runs, order, t, title, columns))


def trend_small_multiples_spec(counts: pl.DataFrame, runs: list[str], order: list[str],
                               t: Texts, title: str, columns: int = 4) -> dict | None:
    """One small line chart per series (e.g. per check), each with its own y scale, in `order`;
    `counts` has run, series, n for every run and series (zeros included)."""
    if counts.is_empty():
        return None
    base = alt.Chart(counts).mark_line(point=alt.OverlayMarkDef(size=25), color="#1f4e79").encode(
        x=_run_axis(runs, None, short=True),
        y=alt.Y("n:Q", title=None, axis=alt.Axis(format="d", tickCount=3, minExtent=28)),
        tooltip=["series:N", "run:O", "n:Q"],
    ).properties(width=190, height=80)
    chart = base.facet(
        facet=alt.Facet("series:N", sort=order, title=None,
                        header=alt.Header(labelFontSize=11, labelFontWeight="bold",
                                          labelLimit=170)),
        columns=columns,
    ).resolve_scale(y="independent").properties(title=title)
    return _spec(chart)


def trend_lines(counts: pl.DataFrame, runs: list[str], order: list[str], t: Texts,
                title: str, legend: str) -> Markup:
    return svg(trend_lines_spec(counts, runs, order, t, title, legend))


def trend_lines_spec(counts: pl.DataFrame, runs: list[str], order: list[str], t: Texts,
                     title: str, legend: str) -> dict | None:
    """One line per series (e.g. the top clinics) on a shared scale; colours by `order`."""
    if counts.is_empty():
        return None
    chart = alt.Chart(counts).mark_line(point=alt.OverlayMarkDef(size=40)).encode(
        x=_run_axis(runs, t.chart_axis_run),
        y=alt.Y("n:Q", title=t.chart_axis_findings, axis=_count_axis(counts["n"].max())),
        color=alt.Color("series:N", sort=order, scale=alt.Scale(scheme="tableau10"),
                        title=legend, legend=alt.Legend(labelLimit=220)),
        tooltip=["series:N", "run:O", "n:Q"],
    ).properties(title=title, width=520, height=240)
    return _spec(chart)
