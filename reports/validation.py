"""`OUT/gx/index.html`: what Great Expectations validated in the run, rendered as Talon's own
page, and `OUT/gx/feed_suite.json`.

Two parts, each shown when the run has it:
- the feed-health suite (checks/feed.py, catalogue v1.3; every run that ran its checks has one):
  each bound with the history it was learned from and GX's verdict (reports/feed_suite.py), and
  the suite's JSON written beside the page exactly as `feed_suites` stores it;
- the cross-check of the SQL set rules (opt-in, `talon run --gx-crosscheck`): per expectation,
  GX's verdict and count beside the uncapped count Talon found with the same SQL, read from the
  `gx_results` table of the run; without it the page says the cross-check did not run.

GX's own Data Docs pull bootstrap, jquery and vega from CDNs and a logo from S3, and their
result pages list raw unexpected rows (full SNILS, names): neither may reach auditors.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from reports import data, feed_suite
from reports.feed_texts import FeedTexts
from reports.html import render
from reports.i18n import Texts

GX_INDEX = Path("gx") / "index.html"


def write_gx_page(con: duckdb.DuckDBPyConnection, run_id: str, out: Path, lang: str = "ru") -> Path | None:
    """Render the page (and write the feed suite's JSON); None when the run has neither a feed
    suite nor GX cross-check results."""
    rows = con.sql("SELECT * FROM gx_results WHERE run_id = ? ORDER BY suite, check_code",
                   params=[run_id]).pl()
    suite_text = feed_suite.stored_suite(con, run_id)
    if rows.height == 0 and suite_text is None:
        return None
    feed = None
    if suite_text is not None:
        feed_suite.write_suite_json(out, suite_text)
        feed = feed_suite.suite_context(con, run_id, suite_text, lang)
    titles = dict(data.catalogue_texts(lang).select("check_code", "title").iter_rows())
    items = [{**r, "title": titles.get(r["check_code"], ""),
              "match": r["error"] is None and r["unexpected_count"] == r["talon_count"]}
             for r in rows.iter_rows(named=True)]
    return render("gx_page.html.j2", Path(out) / GX_INDEX, T=Texts(lang), F=FeedTexts(lang),
                  lang=lang, run=data.load_run(con, run_id), rows=items,
                  all_agree=all(i["match"] for i in items), feed=feed, titles=titles)
