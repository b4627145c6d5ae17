"""The auditors' offline report: `OUT/index.html`, `OUT/clinic/<mo>.html`, `OUT/check/<code>.html`.

The run at a glance: findings by severity, check and clinic, and the booking impact — distinct
patients (findings.patient_id) with at least one blocker — per clinic and per check, ranked.
Auditors never see a full value: the `value` and `suggested_value` columns are dropped as soon
as the findings are read, and examples show `value_masked` and `suggested_masked` (no names,
SNILS, ENP, policy numbers or birth dates); a record id that is an ENP (entity `insured`, a
register row) is masked too.

The register section (issue 12) shows, when the run had an insured-persons register, how many
patients were linked to it per tier (reg_links), how many were not found, and the booking
impact of the REG findings per clinic; otherwise a note that there was no register.

Waivers (issue 13, flows/waivers.py): findings a clinic answered "not an error" are left out of
every count and table here, the booking impact included; `OUT/waivers.html` lists every waiver
per clinic and check (reports/waivers.py) and the index says how many findings they cover.

History (checks/lifecycle.py): each example shows its status (new / open / reopened) and days
open; the index shows the trend of open findings per check and per clinic over the last runs,
and per check and clinic what is new and what was fixed since the last run.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from markupsafe import Markup

from checks import lifecycle
from flows import parallel
from reports import charts, data, trends
from reports.clinic import UNASSIGNED, clinic_stems
from reports.feed import PAGE as FEED_PAGE, FeedPage, prepare_feed_page, write_feed_page
from reports.feed_texts import FeedTexts
from reports.html import Page, escaped
from reports.i18n import ENTITY, LIFECYCLE, SEVERITY, Texts
from reports.safe import safe_stem
from reports.waivers import PAGE as WAIVERS_PAGE, WaiverTexts, write_waivers_page

EXAMPLES_PER_CLINIC_CHECK = 10
EXAMPLES_PER_CHECK = 50
TOP_CLINICS_CHART = 30
GX_INDEX = Path("gx") / "index.html"
FINDINGS_CSV = Path("findings.csv")
#: Columns of full values: the clinic's own lists show them, auditors' pages never do.
FULL_VALUES = ("value", "suggested_value")


def _stem_expr(column: str, stems: dict, none_stem: str | None = None) -> pl.Expr:
    known = {k: v for k, v in stems.items() if k is not None}
    mapped = pl.col(column).replace_strict(known, default=None, return_dtype=pl.String)
    return mapped if none_stem is None else mapped.fill_null(pl.lit(none_stem))


def _name_expr(names: dict, t: Texts) -> pl.Expr:
    """A clinic's F003 name ("" when it has none), the unassigned list's title for None
    (`replace_strict` maps a null to its default, so the null is tested first)."""
    return (pl.when(pl.col("mo_code").is_null()).then(pl.lit(t.unassigned_title))
            .otherwise(pl.col("mo_code").replace_strict(names, default="",
                                                        return_dtype=pl.String))
            .alias("name"))


def _clinic_columns(frame: pl.DataFrame, stems: dict, names: dict, t: Texts) -> pl.DataFrame:
    return frame.with_columns(
        _stem_expr("mo_code", stems, UNASSIGNED).alias("clinic_stem"),
        pl.col("mo_code").fill_null(pl.lit(t.unassigned_name)).alias("clinic_label"),
        pl.col("mo_code").replace_strict(names, default="", return_dtype=pl.String)
          .fill_null("").alias("clinic_name"))


def _check_table(frame: pl.DataFrame, check_stems: dict) -> list[dict]:
    meta = frame.select("check_code", "title", "severity").unique("check_code", keep="first")
    table = (data.impact(frame, "check_code").join(meta, on="check_code", how="left")
             .join(frame.group_by("check_code").agg(pl.col("mo_code").n_unique().alias("clinics")),
                   on="check_code", how="left")
             .with_columns(_stem_expr("check_code", check_stems).alias("stem")))
    return table.to_dicts()


def _clinic_table(frame: pl.DataFrame, stems: dict, names: dict, t: Texts) -> list[dict]:
    table = data.impact(frame, "mo_code").with_columns(
        _stem_expr("mo_code", stems, UNASSIGNED).alias("stem"),
        pl.col("mo_code").fill_null(pl.lit(t.unassigned_name)).alias("label"),
        _name_expr(names, t))
    return table.to_dicts()


def _register(con, run_id: str, findings: pl.DataFrame, stems: dict, names: dict,
              t: Texts) -> dict | None:
    """The register section of the index (None: the run had no register): counts per linking
    tier with their share of the extract's patients, and the REG findings' booking impact per
    clinic, ranked like the other impact tables."""
    summary = data.register_summary(con, run_id, findings)
    if summary is None:
        return None
    patients = summary["patients"]

    def share(n: int) -> str:  # one decimal, with the language's decimal mark
        text = f"{100 * n / patients:.1f}" if patients else ""
        return text.replace(".", ",") if t.lang == "ru" else text

    tiers = [{"tier": tier, "label": t[f"register_tier_{tier}"], "patients": n,
              "share": share(n)} for tier, n in summary["tiers"].items()]
    by_clinic = summary.pop("by_clinic").with_columns(
        _stem_expr("mo_code", stems, UNASSIGNED).alias("stem"),
        pl.col("mo_code").fill_null(pl.lit(t.unassigned_name)).alias("label"),
        _name_expr(names, t))
    cards = {"register_patients": patients, "register_linked": summary["linked"],
             "register_not_found": summary["not_found"], "register_blocked": summary["blocked"],
             "register_suggestions": summary["suggestions"]}
    return summary | {"cards": cards, "tier_rows": tiers, "linked_share": share(summary["linked"]),
                      "not_found_share": share(summary["not_found"]),
                      "by_clinic": by_clinic.to_dicts()}


def _summary(frame: pl.DataFrame, fixed: pl.DataFrame) -> dict[str, int]:
    s = data.summary(frame) | data.lifecycle_summary(frame, fixed)
    s["clinics_with_findings"] = frame["mo_code"].drop_nulls().n_unique()
    s["unassigned_count"] = frame.filter(pl.col("mo_code").is_null()).height
    return s


def _chart_recipes(frame: pl.DataFrame, history: pl.DataFrame, t: Texts) -> dict:
    """The index's charts (charts.draw recipes) of the open findings `frame`."""
    labelled = frame.select(pl.col("mo_code").fill_null(pl.lit(t.unassigned_name))
                            .alias("clinic"), "severity")
    per_clinic = labelled.group_by("clinic", "severity").len("n")
    top = (per_clinic.group_by("clinic").agg(pl.col("n").sum())
           .sort(["n", "clinic"], descending=[True, False]).head(TOP_CLINICS_CHART)["clinic"])
    per_clinic = per_clinic.filter(pl.col("clinic").is_in(top.implode()))
    per_check = frame.group_by("check_code", "severity").len("n")
    return {
        "clinic": (charts.stacked_bars_spec, (per_clinic, "clinic", t, t.chart_clinic)),
        "check": (charts.stacked_bars_spec, (per_check, "check_code", t, t.chart_check)),
        "trend": (charts.trend_spec, (history, t)),
    }


@dataclass
class Charts:
    """The report's charts and what they show, read before the pages are prepared, so that
    one worker job (`submit`) draws them all while this process prepares the rest: the
    index's (`recipes`, then the trends') and the feed page's. Drawing them here held this
    process, the one that alone reads DuckDB, for seconds (vl-convert's start, altair's
    schema validation of every spec, the drawing: ~3 CPU s) while the workers waited for
    their jobs or, in a dense region, were done already."""
    history: pl.DataFrame
    check_trend: trends.Trend
    clinic_trend: trends.Trend
    recipes: dict  # `_chart_recipes`
    feed: FeedPage
    drawn: object = None  # the future of charts.draw of them all (`submit`)

    def submit(self, pool: parallel.Pool) -> "Charts":
        """Hand the drawing to `pool` (in this process at `svgs()` where it has no workers)."""
        if self.drawn is None:
            self.drawn = pool.submit(charts.draw, [
                *self.recipes.values(), self.check_trend.recipe, self.clinic_trend.recipe,
                *self.feed.recipes])
        return self

    def svgs(self) -> tuple[dict, list[str]]:
        """The index's charts by name (the trends' set on them) and the feed page's."""
        drawn = [Markup(svg) for svg in self.drawn.result()]
        n = len(self.recipes)
        self.check_trend.chart, self.clinic_trend.chart = drawn[n:n + 2]
        return dict(zip(self.recipes, drawn[:n])), drawn[n + 2:]


def prepare_charts(con, run_id: str, lang: str, loaded: pl.DataFrame) -> Charts:
    """The report's `Charts` of `run_id`, not drawn yet (`loaded`: data.load_with_lifecycle)."""
    t = Texts(lang)
    names = data.clinic_names(con, run_id)
    titles = dict(data.catalogue_texts(t.lang).select("check_code", "title").iter_rows())
    check_trend = trends.trend(con, run_id, "check_code", t,
                               label_of=lambda key, series: titles.get(key, ""), draw=False)
    clinic_trend = trends.trend(con, run_id, "mo_code", t, label_of=lambda key, series: (
        names.get(key, "") if key is not None else t.unassigned_title), draw=False)
    history = data.history(con, run_id)
    return Charts(history, check_trend, clinic_trend,
                  _chart_recipes(data.open_findings(loaded), history, t),
                  prepare_feed_page(con, run_id, lang, loaded))


_STATUS_SORT = {"new": "0", "reopened": "1", "waiver_ended": "1", "open": "2"}


def _text(name: str) -> pl.Expr:
    """A template's `{{ r.name }}` of every row: escaped, None shown as "None"."""
    return escaped(pl.col(name).cast(pl.String)).fill_null("None")


def _of(name: str, table: dict, t: Texts) -> pl.Expr:
    """A template's `{{ T.*_of(r.name) }}` of every row (None: "")."""
    return escaped(pl.col(name).replace(t.mapping(table))).fill_null("")


def _by_check_cells(t: Texts) -> list[pl.Expr]:
    """A row of a clinic page's checks table as clinic_page.html.j2's loop wrote it (its
    sev_cell macro's line break included): severity, stem, check_code, title,
    patients_blocked, findings."""
    severity = pl.col("severity")
    return [pl.lit('<tr class="'), _text("severity"),
            pl.lit('"><td class="mono"><a href="../check/'), _text("stem"), pl.lit('.html">'),
            _text("check_code"), pl.lit("</a></td><td>"), _text("title"),
            pl.lit('</td><td class="sev" data-sort="'),
            pl.when(severity == "blocker").then(pl.lit("0")).otherwise(pl.lit("1")),
            pl.lit('">'), _of("severity", SEVERITY, t), pl.lit('</td>\n<td class="num">'),
            _text("patients_blocked"), pl.lit('</td><td class="num">'), _text("findings"),
            pl.lit("</td></tr>\n")]


def _by_clinic_cells() -> list[pl.Expr]:
    """A row of a check page's clinics table as check_page.html.j2's loop wrote it: stem,
    label, name, patients_blocked, findings."""
    return [pl.lit('<tr><td class="mono"><a href="../clinic/'), _text("stem"),
            pl.lit('.html">'), _text("label"), pl.lit("</a></td><td>"), _text("name"),
            pl.lit('</td><td class="num">'), _text("patients_blocked"),
            pl.lit('</td><td class="num">'), _text("findings"), pl.lit("</td></tr>\n")]


def _table_bodies(rows: pl.DataFrame, key: str, cells: list[pl.Expr]) -> dict:
    """{`key` value: its rows' `cells` joined} (Markup): a page table's body built by polars
    for every page at once, byte for byte what a template loop over its rows wrote (the
    loops escaped some ten values and called a macro per row, ~10k rows a run)."""
    bodies = rows.group_by(key, maintain_order=True).agg(pl.concat_str(cells).str.join(""))
    return {k: Markup(body) for k, body in bodies.iter_rows()}


def _examples_bodies(rows: pl.DataFrame, key: str, t: Texts, show_clinic: bool,
                     show_check: bool, prefix: str) -> dict:
    """The examples table body of each page (`key`: the page's column), built by polars for
    every row at once: the rows the template loop of examples.html.j2 wrote, byte for byte
    (a template loop over every cell of 50 examples per check and 10 per clinic and check cost
    seconds in a dense region)."""
    def text(name: str) -> pl.Expr:  # {{ r.name }}: escaped, None shown as "None"
        return escaped(pl.col(name).cast(pl.String)).fill_null("None")

    def of(name: str, table: dict) -> pl.Expr:  # T.*_of(r.name)
        return escaped(pl.col(name).replace(t.mapping(table))).fill_null("")

    status, value = pl.col("status"), pl.col("value_masked")
    cells = [pl.lit('<tr class="'), text("severity"), pl.lit(" st-"), text("status"),
             pl.lit('">')]
    if show_check:
        cells += [pl.lit(f'<td class="mono"><a href="{prefix}check/'), text("check_stem"),
                  pl.lit('.html">'), text("check_code"), pl.lit('</a></td><td class="sev" '
                                                                'data-sort="'),
                  pl.when(pl.col("severity") == "blocker").then(pl.lit("0")).otherwise(
                      pl.lit("1")),
                  pl.lit('">'), of("severity", SEVERITY), pl.lit("</td>")]
    if show_clinic:
        cells += [pl.lit(f'<td class="mono"><a href="{prefix}clinic/'), text("clinic_stem"),
                  pl.lit('.html">'), text("clinic_label"), pl.lit("</a></td>")]
    cells += [pl.lit("<td>"), of("entity", ENTITY), pl.lit('</td><td class="mono">'),
              text("record_id"), pl.lit('</td><td class="mono">'),
              escaped(pl.col("field")).fill_null(""),
              pl.lit('</td><td class="status" data-sort="'),
              status.replace_strict(_STATUS_SORT, default="3", return_dtype=pl.String),
              pl.lit('"><span class="badge st-'), text("status"), pl.lit('">'),
              of("status", LIFECYCLE), pl.lit('</span></td>\n<td class="num">'),
              text("days_open"), pl.lit('</td><td class="value">'),
              pl.when(value.is_null()).then(pl.lit(""))
              .when(value == "").then(pl.lit(f'<span class="empty">'
                                             f'{Markup.escape(t.empty_value)}</span>'))
              .otherwise(escaped(value)),
              pl.lit('</td><td class="value">'),
              escaped(pl.col("suggested_masked")).fill_null(""), pl.lit("</td></tr>\n")]
    bodies = rows.group_by(key, maintain_order=True).agg(pl.concat_str(cells).str.join(""))
    return {k: Markup(body) for k, body in bodies.iter_rows()}


def _clinic_pages(findings: pl.DataFrame, fixed: pl.DataFrame, stems: dict, check_stems: dict,
                  names: dict, t: Texts, out: Path, common: dict) -> list[Page]:
    """Every clinic's page, each cut from frames computed once for all clinics (what `_summary`
    and `_check_table` give for one clinic's findings, and its first examples per check)."""
    summaries = data.summaries(findings, fixed, "mo_code")
    by_check = _table_bodies(
        data.impact(findings, "check_code", within="mo_code",
                    extra=(pl.col("title").first(), pl.col("severity").first()))
        .with_columns(_stem_expr("check_code", check_stems).alias("stem")), "mo_code",
        _by_check_cells(t))
    examples = findings.filter(
        pl.int_range(pl.len()).over("mo_code", "check_code") < EXAMPLES_PER_CLINIC_CHECK)
    bodies = _examples_bodies(examples, "mo_code", t, False, True, "../")
    examples = examples.partition_by("mo_code", as_dict=True, maintain_order=True)
    pages = []
    for (mo_code,), rows in examples.items():
        heading = t.unassigned_title if mo_code is None else (names.get(mo_code) or mo_code)
        summary = summaries[mo_code] | {
            "clinics_with_findings": 0 if mo_code is None else 1,
            "unassigned_count": summaries[mo_code]["findings_total"] if mo_code is None else 0}
        pages.append(Page("clinic_page.html.j2", out / "clinic" / f"{stems[mo_code]}.html", {
            **common, "heading": heading, "mo_code": mo_code, "summary": summary,
            "by_check_body": by_check[mo_code], "limit": EXAMPLES_PER_CLINIC_CHECK,
            "examples_body": bodies[mo_code], "weight": rows.height}))
    return pages


def _check_pages(findings: pl.DataFrame, fixed: pl.DataFrame, stems: dict, check_stems: dict,
                 names: dict, t: Texts, out: Path, common: dict) -> list[Page]:
    """Every check's page, cut like `_clinic_pages`: its first finding's texts, `_summary`,
    `_clinic_table` and the first examples by clinic and record."""
    mo = pl.col("mo_code")
    summaries = data.summaries(findings, fixed, "check_code")
    spread = {code: (n, unassigned) for code, n, unassigned in findings.group_by("check_code").agg(
        mo.drop_nulls().n_unique(), mo.is_null().sum().alias("unassigned")).iter_rows()}
    heads = {row["check_code"]: row for row in findings.unique(
        "check_code", keep="first", maintain_order=True).iter_rows(named=True)}
    by_clinic = _table_bodies(
        data.impact(findings, "mo_code", within="check_code").with_columns(
            _stem_expr("mo_code", stems, UNASSIGNED).alias("stem"),
            mo.fill_null(pl.lit(t.unassigned_name)).alias("label"), _name_expr(names, t)),
        "check_code", _by_clinic_cells())
    # the first examples of each check by clinic and record (a stable sort on the keys, nulls
    # first, then the first rows per check): each check's first rows picked by bottom_k_by
    # (the row number breaks ties as the stable sort did) and only they sorted (a stable sort
    # of the dense region's 500k keys cost ~0.4 CPU s, this ~0.03)
    order = [mo.is_null(), mo, pl.col("record_id").is_not_null(), "record_id", "\x00i"]
    keys = findings.select("check_code", "mo_code", "record_id").with_row_index("\x00i")
    first = keys.group_by("check_code").agg(
        pl.col("\x00i").bottom_k_by(order, EXAMPLES_PER_CHECK)).explode("\x00i")
    chosen = keys.join(first.select("\x00i"), on="\x00i", how="semi").sort(order)
    examples = findings[chosen["\x00i"]]
    bodies = _examples_bodies(examples, "check_code", t, True, False, "../")
    weights = dict(examples.group_by("check_code").len().iter_rows())
    pages = []
    for code, head in heads.items():
        n_clinics, unassigned = spread[code]
        summary = summaries[code] | {"clinics_with_findings": n_clinics,
                                     "unassigned_count": unassigned}
        pages.append(Page("check_page.html.j2", out / "check" / f"{check_stems[code]}.html", {
            **common, "check": head, "summary": summary,
            "by_clinic_body": by_clinic[code], "limit": EXAMPLES_PER_CHECK,
            "examples_body": bodies[code], "weight": weights[code]}))
    return pages


def _history(drawn: Charts, findings: pl.DataFrame, fixed: pl.DataFrame, stems: dict,
             check_stems: dict, names: dict, t: Texts) -> dict:
    """The changes since the last run per check and per clinic, with page links, which
    `drawn`'s trends get too (a check or clinic with nothing open now has no page, so no
    link)."""
    with_page = set(findings["mo_code"].unique().to_list())  # stems also has None, always

    def clinic_link(key):
        return f"clinic/{stems[key]}.html" if key in with_page else None

    def check_link(key):
        return f"check/{check_stems[key]}.html" if key in check_stems else None

    titles = dict(data.catalogue_texts(t.lang).select("check_code", "title").iter_rows())
    for row in drawn.check_trend.rows:
        row["href"] = check_link(row["key"])
    for row in drawn.clinic_trend.rows:
        row["href"] = clinic_link(row["key"])
    per_check = trends.changes(findings, fixed, "check_code")
    for row in per_check:
        row |= {"title": titles.get(row["check_code"], ""), "href": check_link(row["check_code"])}
    per_clinic = trends.changes(findings, fixed, "mo_code")
    for row in per_clinic:
        key = row["mo_code"]
        row |= {"label": key if key is not None else t.unassigned_name,
                "name": names.get(key, "") if key is not None else t.unassigned_title,
                "href": clinic_link(key)}
    return {"check": per_check, "clinic": per_clinic}


def write_auditor_report(con, run_id: str, out: Path, lang: str = "ru",
                         workers: int | None = None, gx_page: bool | None = None,
                         pool: parallel.Pool | None = None,
                         loaded: pl.DataFrame | None = None,
                         drawn: Charts | None = None) -> Path:
    """Write OUT/index.html and the per-clinic and per-check pages of `run_id`; return index.

    `gx_page`: whether OUT/gx/index.html is or will be written (the flow writes it after the
    GX thread is done, so after this page); None: link it if the file is there.

    `workers`: processes rendering the clinic and check pages
    (default: one per core; small runs stay in this process, see flows.parallel); or
    `pool`, a pool the caller shares (its own jobs may still be running). `loaded`: the
    run's `data.load_with_lifecycle` where the caller shares it (read here otherwise);
    `drawn`: the report's `prepare_charts`, where the caller had them read (and submitted to
    `pool` first, `Charts.submit`)."""
    t = Texts(lang)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    run = data.load_run(con, run_id)
    if pool is None:
        parallel.warm_up(data.clinic_count(con, run_id), workers)  # (and a page per check)
    # Auditors never see a full value: drop it (and the register's suggested value) before
    # anything is counted or rendered, and mask record ids that are personal (an insured
    # person's ENP) once the lifecycle has been joined on them.
    # Waived findings (a clinic's answer "not an error", issue 13) stay in the warehouse but
    # are no defects here: every table and the booking impact count the open ones only; the
    # waivers page lists the waivers and counts what they cover.
    if loaded is None:
        loaded = data.load_with_lifecycle(con, run_id)
    if drawn is None:
        drawn = prepare_charts(con, run_id, lang, loaded)
        if pool is not None:  # the caller's jobs came first: drawn here, not queued behind them
            drawn.submit(parallel.Pool(0))
    loaded = loaded.drop(*FULL_VALUES)
    findings = data.mask_record_ids(data.with_texts(data.open_findings(loaded), lang))
    previous = lifecycle.previous_run(con, run_id)
    fixed = data.mask_record_ids(data.fixed(con, run_id).drop("value"))
    names = data.clinic_names(con, run_id)
    stems = clinic_stems(findings["mo_code"].unique().to_list())
    check_stems = {c: safe_stem(c) for c in findings["check_code"].unique().to_list()}
    if len(set(check_stems.values())) != len(check_stems):
        raise ValueError("two check codes map to the same file name")
    findings = _clinic_columns(findings, stems, names, t).with_columns(
        _stem_expr("check_code", check_stems).alias("check_stem"))
    history = drawn.history
    common = {"T": t, "lang": lang, "run": run}
    where = out.resolve()  # pages may be written by workers with another working directory
    changes = _history(drawn, findings, fixed, stems, check_stems, names, t)
    pages = findings["mo_code"].n_unique() + len(check_stems)

    with (nullcontext(pool) if pool is not None
          else parallel.Pool(parallel.use_pool(pages, workers))) as pool:
        drawn.submit(pool)  # (first, where the caller has not)
        pages = (_clinic_pages(findings, fixed, stems, check_stems, names, t, where, common)
                 + _check_pages(findings, fixed, stems, check_stems, names, t, where, common))
        rendered = pool.submit_all(Page.render, pages, [p.context["weight"] for p in pages])

        if gx_page is None:
            gx_page = (out / GX_INDEX).is_file()
        links = [(GX_INDEX.as_posix(), t.gx_docs)] if gx_page else []
        if (out / FINDINGS_CSV).is_file():
            links.append((FINDINGS_CSV.as_posix(), t.findings_csv))
        _, waiver_counts = write_waivers_page(con, run_id, out, lang,
                                              loaded.drop(*data.LIFECYCLE_COLUMNS), names)
        links.append((WAIVERS_PAGE.as_posix(), WaiverTexts(lang).link))
        # rows per file, slots per MO (issue 14)
        index_charts, feed_charts = drawn.svgs()
        write_feed_page(con, run_id, out, lang, page=drawn.feed, drawn=feed_charts)
        links.append((FEED_PAGE.as_posix(), FeedTexts(lang).link))
        by_severity = (findings.group_by("severity").agg(
            pl.len().alias("findings"),
            pl.col("patient_id").drop_nulls().n_unique().alias("patients"))
            .pipe(data.sort_findings).to_dicts())
        reasons = (findings.filter(pl.col("mo_code").is_null()).group_by("unassigned_reason")
                   .len("n").sort(["n", "unassigned_reason"], descending=[True, False])
                   .to_dicts())
        context = {
            **common, "links": links, "summary": _summary(findings, fixed),
            "previous": previous, "check_trend": drawn.check_trend,
            "clinic_trend": drawn.clinic_trend,
            "changes": changes, "by_clinic": _clinic_table(findings, stems, names, t),
            "by_check": _check_table(findings, check_stems), "by_severity": by_severity,
            "reasons": reasons, "register": _register(con, run_id, findings, stems, names, t),
            "waivers": waiver_counts, "W": WaiverTexts(lang), "waivers_href": WAIVERS_PAGE.as_posix(),
            "history": history.with_columns(pl.col("as_of").dt.strftime("%Y-%m-%d %H:%M"))
                              .to_dicts()}
        context["charts"] = index_charts
        index = Page("index.html.j2", out / "index.html", context).render()
        for page in rendered:
            page.result()
    return index
