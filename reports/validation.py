"""`OUT/gx/index.html`: the Great Expectations suite's verdicts, rendered as Talon's own page.

GX's own Data Docs pull bootstrap, jquery and vega from CDNs and a logo from S3, and their
result pages list raw unexpected rows (full SNILS, names): neither may reach auditors. This
page shows, per expectation, GX's verdict and count beside the uncapped count Talon found with
the same SQL, read from the `gx_results` table of the run.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from reports import data
from reports.html import render
from reports.i18n import Texts

GX_INDEX = Path("gx") / "index.html"


def write_gx_page(con: duckdb.DuckDBPyConnection, run_id: str, out: Path, lang: str = "ru") -> Path | None:
    """Render the page; None when the run has no GX results (suite not run)."""
    rows = con.sql("SELECT * FROM gx_results WHERE run_id = ? ORDER BY suite, check_code",
                   params=[run_id]).pl()
    if rows.height == 0:
        return None
    titles = dict(data.catalogue_texts(lang).select("check_code", "title").iter_rows())
    items = [{**r, "title": titles.get(r["check_code"], ""),
              "match": r["error"] is None and r["unexpected_count"] == r["talon_count"]}
             for r in rows.iter_rows(named=True)]
    return render("gx_page.html.j2", Path(out) / GX_INDEX, T=Texts(lang), lang=lang,
                  run=data.load_run(con, run_id), rows=items,
                  all_agree=all(i["match"] for i in items))
