"""The feed-health suite of a run as the GX page shows it, and its JSON in the run folder.

checks/feed.py stores each run's plan (`feed_suites.suite_json`: the expectations with their GX
arguments, the history runs, the thresholds, and per expectation the `basis`, the history
figures its bound was learned from). Here it becomes:

- `OUT/gx/feed_suite.json`: the stored row's text as it is, byte for byte;
- one row per bound (a file, an MO, a file's column): the code, what it is about, the GX
  expectation, the bound in words with its GX argument, where the bound comes from (the figures
  and the arithmetic), this run's figure (the run's own `feed_stats`) and GX's verdict;
- the expectations as given to GX (type, asset, arguments) and the assets' SQL.

GX's verdict is read from the run's findings: checks/feed.py raises a FEED finding exactly for
each object GX reported failing (a missing MO of a value set, an MO row under its bound, a file
under its row count, a column under its `mostly`), so an object passed iff it has no finding of
its code. Nothing here is personal: file names, column names, MO codes and counts.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import duckdb

from reports.feed_texts import FeedTexts
from reports.html import write_private

SUITE_JSON = Path("gx") / "feed_suite.json"
FEED_CODES = ("FEED.VOLUME.DROP", "FEED.MO.SILENT", "FEED.MO.SHRUNK", "FEED.COLUMN.EMPTY")
PARAMS = ("volume_drop", "mo_silent_min", "mo_shrunk", "column_empty_points", "horizon_days")


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the warehouse has `table` (a read-only connection to a warehouse written before
    catalogue v1.3 has no feed tables)."""
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                            "AND database_name = current_database()", [table]).fetchall()[0][0])


def stored_suite(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The run's `feed_suites.suite_json`, as stored (None: the run has none)."""
    if not _has_table(con, "feed_suites"):
        return None
    rows = con.execute("SELECT suite_json FROM feed_suites WHERE run_id = ?", [run_id]).fetchall()
    return rows[0][0] if rows else None


def write_suite_json(out: Path, text: str) -> Path:
    """OUT/gx/feed_suite.json: the stored suite's text, unchanged."""
    path = Path(out) / SUITE_JSON
    write_private(path, text)
    return path


def _failed(con: duckdb.DuckDBPyConnection, run_id: str) -> set[tuple[str, str]]:
    """(code, record_id) of the run's FEED findings (waived ones too: GX failed them)."""
    return set(con.execute(
        "SELECT DISTINCT check_code, record_id FROM findings WHERE run_id = ? "
        "AND list_contains(?, check_code)", [run_id, list(FEED_CODES)]).fetchall())


def _stats(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[tuple, int]:
    """This run's feed_stats: (metric, mo_code or file:column) -> value."""
    if not _has_table(con, "feed_stats"):
        return {}
    rows = con.execute(
        "SELECT metric, coalesce(mo_code, file_name || ':' || column_name), value "
        "FROM feed_stats WHERE run_id = ?", [run_id]).fetchall()
    return {(m, k): int(v) for m, k, v in rows}


def _exact(n, x: Fraction) -> str:
    """A product before rounding: whole as it is, else with two decimals."""
    return n(int(x)) if x.denominator == 1 else n(float(x), 2)


def _pct(part: int | Fraction, whole: int) -> Fraction:
    return Fraction(part) * 100 / whole if whole else Fraction(0)


def bound_rows(suite: dict, failed: set, stats: dict, F: FeedTexts) -> list[dict]:
    """One row per bound of the suite (see the module docstring), in the suite's order."""
    params = suite.get("params", {})
    days = params.get("horizon_days", "")
    prev = suite.get("previous") or ""
    n = F.number
    rows = []
    for index, e in enumerate(suite.get("expectations", []), start=1):
        code, basis, kwargs = e["code"], e.get("basis", {}), e.get("kwargs", {})
        base = {"index": index, "code": code, "gx_type": e["gx_type"]}
        if code == "FEED.VOLUME.DROP":
            share = basis.get("volume_drop", params.get("volume_drop"))
            history = basis.get("history_rows", [])
            median = basis.get("median", 0)
            exact = Fraction(str(share)) * Fraction(median)
            for record in e["record_ids"]:
                rows.append(base | {
                    "record": record, "failed": (code, record) in failed,
                    "bound": F.bound_volume.format(min=n(kwargs["min_value"])),
                    "basis": F.basis_volume.format(
                        n=len(history), rows=", ".join(n(r) for r in history),
                        median=n(median), share=n(share), exact=_exact(n, exact)),
                    "tonight": F.tonight_rows.format(rows=n(basis.get("rows_loaded", 0)))})
        elif code == "FEED.MO.SILENT":
            previous = basis.get("previous_future_slots", {})
            run = basis.get("previous_run", prev)
            for mo in e["record_ids"]:
                rows.append(base | {
                    "record": mo, "failed": (code, mo) in failed, "mo": mo,
                    "bound": F.bound_silent,
                    "basis": F.basis_silent.format(run=run, n=n(previous.get(mo, 0)),
                                                   min=n(basis.get("mo_silent_min", 0))),
                    "tonight": F.tonight_future.format(
                        n=n(stats.get(("future_slots", mo), 0)))})
        elif code == "FEED.MO.SHRUNK":
            previous = basis.get("previous_horizon_slots", {})
            bounds = basis.get("bounds", {})
            share = basis.get("mo_shrunk", params.get("mo_shrunk"))
            run = basis.get("previous_run", prev)
            for mo in e["record_ids"]:
                exact = Fraction(str(share)) * previous.get(mo, 0)
                rows.append(base | {
                    "record": mo, "failed": (code, mo) in failed, "mo": mo,
                    "bound": F.bound_shrunk.format(bound=n(bounds.get(mo, 0)), days=days),
                    "basis": F.basis_shrunk.format(run=run, n=n(previous.get(mo, 0)),
                                                   share=n(share), exact=_exact(n, exact)),
                    "tonight": F.tonight_horizon.format(
                        n=n(stats.get(("horizon_slots", mo), 0)))})
        elif code == "FEED.COLUMN.EMPTY":
            record = e["record_ids"][0]
            before, empty = basis.get("previous_rows", 0), basis.get("previous_empty", 0)
            points = basis.get("column_empty_points", params.get("column_empty_points"))
            limit = _pct(empty, before) + Fraction(str(points))
            rows_now = basis.get("rows_loaded", 0)
            empty_now = stats.get(("empty", record))
            rows.append(base | {
                "record": record, "failed": (code, record) in failed,
                "bound": F.bound_empty.format(mostly=repr(kwargs.get("mostly")),
                                              limit=n(float(limit), 2)),
                "basis": F.basis_empty.format(run=basis.get("previous_run", prev),
                                              empty=n(empty), rows=n(before),
                                              pct=n(float(_pct(empty, before)), 2),
                                              points=n(points), limit=n(float(limit), 2)),
                "tonight": (F.tonight_empty.format(empty=n(empty_now), rows=n(rows_now),
                                                   pct=n(float(_pct(empty_now, rows_now)), 2))
                            if empty_now is not None else F.tonight_rows.format(rows=n(rows_now)))})
        else:  # a code this page does not know yet: its objects and arguments as they are
            for record in e.get("record_ids", []):
                rows.append(base | {"record": record, "failed": (code, record) in failed,
                                    "bound": json.dumps(kwargs, ensure_ascii=False),
                                    "basis": json.dumps(basis, ensure_ascii=False, default=str),
                                    "tonight": ""})
    return rows


def expectation_rows(suite: dict, failed: set) -> list[dict]:
    """The expectations as given to GX, with GX's verdict (failed: any of its objects)."""
    out = []
    for index, e in enumerate(suite.get("expectations", []), start=1):
        records = e.get("record_ids", [])
        out.append({"index": index, "code": e["code"], "gx_type": e["gx_type"],
                    "asset": e.get("asset", ""), "records": len(records),
                    "kwargs": json.dumps(e.get("kwargs", {}), ensure_ascii=False),
                    "failed": any((e["code"], r) in failed for r in records)})
    return out


def suite_context(con: duckdb.DuckDBPyConnection, run_id: str, text: str, lang: str) -> dict:
    """What the GX page's feed section shows of the stored suite `text`."""
    F = FeedTexts(lang)
    suite = json.loads(text)
    failed = _failed(con, run_id)
    params = suite.get("params", {})
    # failed bounds first (a steward reads why they failed), else in the suite's order
    rows = sorted(bound_rows(suite, failed, _stats(con, run_id), F), key=lambda r: not r["failed"])
    return {
        "json_href": SUITE_JSON.name,
        "params": [(F[f"param_{k}"], F.number(params[k])) for k in PARAMS if k in params],
        "history": suite.get("history", []),
        "previous": suite.get("previous"),
        "bounds": rows,
        "expectations": expectation_rows(suite, failed),
        "assets": sorted(suite.get("assets", {}).items()),
        "failed": sum(r["failed"] for r in rows),
    }

