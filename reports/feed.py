"""The auditors' feed-health page, `OUT/feed.html` (catalogue v1.3, checks/feed.py): night by
night, how many rows each extract file loaded (`run_files.rows_loaded`) and how many future slots
each MO had (`feed_stats`, metric future_slots), over the completed runs up to this run (those
whose data date is earlier, the last FEED_NIGHTS of them) and this run; and the run's feed
findings (FEED.VOLUME.DROP, FEED.COLUMN.EMPTY on files, FEED.MO.SILENT, FEED.MO.SHRUNK on MOs).

Charts are drawn offline (reports/charts.py: inline SVG, nothing fetched). Rows: one small chart
per file, each with its own scale (a patients file of a million rows beside a register of a
few thousand). Slots: a region has hundreds of MOs, so the chart shows MO_CHART of them, the
MOs with feed findings first (silent, then shrunk), then those whose future slots fell most
since the previous run; the table below has every MO. A run that stored no feed_stats (before
v1.3) is left out of the slots (its MOs are unknown, not zero); in a run that did, an MO with
no future slot counts 0.

Nothing here is personal: file names, MO codes and names, counts. Findings show value_masked.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
from markupsafe import Markup

from flows.extract.contract import ALL_FILES
from reports import charts, data
from reports.feed_suite import FEED_CODES, _has_table, stored_suite
from reports.feed_texts import FeedTexts
from reports.html import render
from reports.i18n import Texts
from reports.safe import safe_stem

PAGE = Path("feed.html")
GX_INDEX = Path("gx") / "index.html"
#: Nights shown (the checks learn from 7; a month shows what is usual).
FEED_NIGHTS = 30
#: MOs drawn in the slots chart (all are in the table).
MO_CHART = 24
_RANK = {"FEED.MO.SILENT": 0, "FEED.MO.SHRUNK": 1}


def runs(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """The runs shown, oldest first: the last FEED_NIGHTS completed runs with data earlier than
    this run's, and this run (whatever its status: reports are written before it completes);
    `run`: the label on the charts (the data date, the run id where two share one)."""
    frame = data.query(con, f"""
        SELECT r.run_id, r.as_of, r.started_at FROM runs r,
               (SELECT as_of FROM runs WHERE run_id = ?) me
        WHERE r.run_id = ? OR (r.status = 'completed' AND r.as_of < me.as_of)
        ORDER BY (r.run_id = ?) DESC, r.as_of DESC, r.started_at DESC, r.run_id DESC
        LIMIT {FEED_NIGHTS + 1}""", [run_id, run_id, run_id])
    frame = frame.sort("as_of", "started_at", "run_id")
    label = pl.col("as_of").dt.strftime("%Y-%m-%d %H:%M")
    twice = label.is_duplicated()
    return frame.with_columns(
        pl.when(twice).then(pl.concat_str(label, pl.lit(" "), pl.col("run_id")))
        .otherwise(label).alias("run"))


def file_rows(con: duckdb.DuckDBPyConnection, shown: pl.DataFrame) -> pl.DataFrame:
    """run_id, run, file_name, rows_loaded of the extract files (not the classifiers)."""
    frame = data.query(con, "SELECT run_id, file_name, coalesce(rows_loaded, 0) AS rows_loaded "
                            "FROM run_files WHERE list_contains(?, run_id) "
                            "AND list_contains(?, entity)",
                       [shown["run_id"].to_list(), [f.entity for f in ALL_FILES]])
    return (frame.join(shown.select("run_id", "run"), on="run_id")
            .with_columns(pl.col("rows_loaded").cast(pl.Int64)))


def mo_slots(con: duckdb.DuckDBPyConnection, shown: pl.DataFrame) -> pl.DataFrame:
    """run_id, run, mo_code, slots: future slots per MO in every shown run that stored
    feed_stats (0 where the MO had none)."""
    empty = pl.DataFrame(schema={"run_id": pl.String, "run": pl.String, "mo_code": pl.String,
                                 "slots": pl.Int64})
    if not _has_table(con, "feed_stats"):
        return empty
    ids = shown["run_id"].to_list()
    stats = data.query(con, "SELECT run_id, mo_code, value AS slots FROM feed_stats "
                            "WHERE list_contains(?, run_id) AND metric = 'future_slots' "
                            "AND mo_code IS NOT NULL", [ids])
    with_stats = data.query(con, "SELECT DISTINCT run_id FROM feed_stats "
                                 "WHERE list_contains(?, run_id)", [ids])
    if stats.is_empty():
        return empty
    grid = (shown.with_row_index("_shown").join(with_stats, on="run_id")
            .select("_shown", "run_id", "run")
            .join(stats.select("mo_code").unique(), how="cross"))
    # in the shown runs' order, then by MO: the page's bytes must not depend on hash order
    return (grid.join(stats, on=["run_id", "mo_code"], how="left")
            .with_columns(pl.col("slots").fill_null(0).cast(pl.Int64))
            .sort("_shown", "mo_code").drop("_shown"))


def feed_findings(con: duckdb.DuckDBPyConnection, run_id: str, lang: str,
                  loaded: pl.DataFrame | None = None) -> pl.DataFrame:
    """The run's FEED findings (waived ones too, marked), no full value, with texts and
    lifecycle status; MO findings first, then by code and record. `loaded`: the run's
    `data.load_with_lifecycle` where the caller read it already (full values may be dropped)."""
    if loaded is None:
        loaded = data.load_with_lifecycle(con, run_id)
    found = loaded.filter(pl.col("check_code").is_in(FEED_CODES))
    found = data.with_texts(found.drop("value", "suggested_value", strict=False), lang)
    return found.sort(pl.col("check_code").replace_strict(_RANK, default=9, return_dtype=pl.Int8),
                      "check_code", "record_id")


def _mo_table(slots: pl.DataFrame, shown: pl.DataFrame, run_id: str, found: pl.DataFrame,
              names: dict, F: FeedTexts) -> list[dict]:
    """Every MO: previous run's and this run's future slots, change, its FEED.MO finding; in
    chart order (findings first, then the largest relative fall, then the code)."""
    if slots.is_empty():
        return []
    runs_with = [r for r in shown["run_id"].to_list() if r in set(slots["run_id"].to_list())]
    now = dict(slots.filter(pl.col("run_id") == run_id).select("mo_code", "slots").iter_rows())
    before = [r for r in runs_with if r != run_id]
    prev = (dict(slots.filter(pl.col("run_id") == before[-1]).select("mo_code", "slots")
                 .iter_rows()) if before else {})
    codes = dict(found.filter(pl.col("entity") == "mo").select("record_id", "check_code")
                 .iter_rows())
    rows = []
    for mo in slots["mo_code"].unique().to_list():
        p, n = prev.get(mo), now.get(mo)
        change = (n - p) * 100 / p if p and n is not None else None
        rows.append({"mo_code": mo, "name": names.get(mo, ""), "previous": p, "now": n,
                     "change": change, "finding": codes.get(mo, ""),
                     "change_text": "" if change is None else
                     ("+" if change > 0 else "") + F.number(round(change, 1), 1)})
    rows.sort(key=lambda r: (_RANK.get(r["finding"], 9),
                             r["change"] if r["change"] is not None else 0.0, r["mo_code"]))
    return rows


def _rows_table(rows: pl.DataFrame, shown: pl.DataFrame) -> tuple[list[str], list[dict]]:
    """Files (columns) and one row per run: its loaded rows per file (None: not in that run)."""
    files = sorted(rows["file_name"].unique().to_list())
    per = {(r, f): n for r, f, n in rows.select("run_id", "file_name", "rows_loaded").iter_rows()}
    out = [{"run_id": r, "run": label, "counts": [per.get((r, f)) for f in files]}
           for r, label in shown.select("run_id", "run").iter_rows()]
    return files, out


def chart_recipes(rows: pl.DataFrame, slots: pl.DataFrame, order: list[str],
                  shown: pl.DataFrame, t: Texts, F: FeedTexts) -> list[tuple | None]:
    """The two charts' charts.draw recipes (None: nothing to draw)."""
    labels = shown["run"].to_list()
    rows_recipe = (charts.trend_small_multiples_spec, (
        rows.select("run", pl.col("file_name").alias("series"), pl.col("rows_loaded").alias("n")),
        labels, sorted(rows["file_name"].unique().to_list()), t, F.chart_rows,
        4)) if rows.height else None
    chart_mos = order[:MO_CHART]
    part = slots.filter(pl.col("mo_code").is_in(chart_mos))
    slot_labels = [r for r in labels if r in set(part["run"].to_list())]
    slots_recipe = (charts.trend_small_multiples_spec, (
        part.select("run", pl.col("mo_code").alias("series"), pl.col("slots").alias("n")),
        slot_labels, chart_mos, t, F.chart_slots.format(n=MO_CHART),
        4)) if part.height else None
    return [rows_recipe, slots_recipe]


@dataclass
class FeedPage:
    """The page's data, read before it is written: its template context but the charts, and
    the charts' recipes (the caller may have them drawn in a worker process meanwhile)."""
    context: dict
    recipes: list


def prepare_feed_page(con: duckdb.DuckDBPyConnection, run_id: str, lang: str = "ru",
                      loaded: pl.DataFrame | None = None) -> FeedPage:
    """What `write_feed_page` writes, read from the warehouse. `loaded`: see `feed_findings`."""
    t, F = Texts(lang), FeedTexts(lang)
    shown = runs(con, run_id)
    rows = file_rows(con, shown)
    slots = mo_slots(con, shown)
    found = feed_findings(con, run_id, lang, loaded)
    names = data.clinic_names(con, run_id)
    mo_rows = _mo_table(slots, shown, run_id, found, names, F)
    recipes = chart_recipes(rows, slots, [r["mo_code"] for r in mo_rows], shown, t, F)
    files, per_run = _rows_table(rows, shown)
    open_codes = set(data.open_findings(found)["check_code"].to_list())
    items = [r | {"label": t.entity_of(r["entity"]),
                  "mo_label": r["mo_code"] or t.unassigned_name,
                  "name": names.get(r["mo_code"], "") if r["mo_code"] else "",
                  "href": (f"check/{safe_stem(r['check_code'])}.html"
                           if r["check_code"] in open_codes else None)}
             for r in found.to_dicts()]
    return FeedPage(dict(
        T=t, F=F, lang=lang, run=data.load_run(con, run_id), files=files, per_run=per_run,
        mo_rows=mo_rows, findings=items, any_waived=any(r["waiver_id"] for r in items),
        gx_href=GX_INDEX.as_posix() if stored_suite(con, run_id) is not None else None),
        recipes)


def write_feed_page(con: duckdb.DuckDBPyConnection, run_id: str, out: Path,
                    lang: str = "ru", loaded: pl.DataFrame | None = None,
                    page: FeedPage | None = None, drawn: list[str] | None = None) -> Path:
    """Render OUT/feed.html for `run_id`; return its path. `loaded`: see `feed_findings`;
    `page`: its `prepare_feed_page` where the caller read it already, and `drawn`: its charts
    (charts.draw of its recipes) where the caller had them drawn."""
    page = page or prepare_feed_page(con, run_id, lang, loaded)
    if drawn is None:
        drawn = charts.draw(page.recipes)
    return render("feed.html.j2", Path(out) / PAGE, **page.context,
                  charts=[Markup(s) for s in drawn])
