"""The national summary `OUT/index.html`: every region's run at a glance, read back from each
region's own warehouse (nothing recomputed), linking to `OUT/<region>/latest/index.html`.

Per region: findings, blockers, warnings and the booking impact (distinct patients with a
blocker); per check: the same summed over regions; per region and check: the long table the
auditor filters. Only counts, check codes and region codes and names: the findings are read
without their values, patient ids are only counted. Patients are counted per region and summed
(each region's extract lists its own insured people).

Each region's warehouse is read under its lock (flows/lock.py; the one a run holds from start
to end), waiting up to the run's lock timeout, so a run of the region started meanwhile is
never read half-way. A region whose lock stays taken, or whose warehouse cannot be read, is
listed with the regions that could not be processed, saying why, and the page still renders.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from checks import lifecycle
from flows import warehouse
from flows.errors import InputError
from flows.lock import WarehouseBusy, warehouse_lock
from flows.publish import LATEST
from reports import charts, data
from reports.html import render
from reports.i18n import Texts
from reports.safe import safe_stem

_STRINGS: dict[str, tuple[str, str]] = {
    # (ru, en)
    "national_title": ("Национальная сводка качества данных для онлайн-записи",
                       "National data quality summary for online booking"),
    "national_intro": (
        "Каждый регион проверен отдельно, в собственном хранилище; числа ниже прочитаны из "
        "хранилищ регионов. Пациенты считаются по регионам и суммируются.",
        "Each region was checked on its own, in its own warehouse; the numbers below are read "
        "from the regions' warehouses. Patients are counted per region and summed."),
    "regions_total": ("Регионов", "Regions"),
    "regions_failed": ("Регионов с ошибкой", "Regions failed"),
    "region": ("Регион", "Region"),
    "region_code": ("Код ТФОМС", "TFOMS code"),
    "region_name": ("Субъект РФ", "Federal subject"),
    "region_report": ("Отчёт региона", "Region report"),
    "open_report": ("открыть", "open"),
    "impact_region": ("Влияние на запись: регионы по числу пациентов, которые не могут записаться",
                      "Booking impact: regions ranked by patients who cannot book"),
    "national_by_check": ("Замечания по проверкам (все регионы)", "Findings by check (all regions)"),
    "regions_col": ("Регионов", "Regions"),
    "region_check": ("Замечания по регионам и проверкам", "Findings per region and check"),
    "failed_title": ("Регионы, которые не удалось обработать", "Regions that could not be processed"),
    "failed_note": ("Чисел этих регионов нет в сводке: их запуск не удался или их хранилище "
                    "было занято, когда сводка его читала; исправьте причину и запустите снова.",
                    "These regions are missing from this summary: their run failed, or their "
                    "warehouse was in use when the summary read it; fix the cause and run "
                    "again."),
    "region_locked": ("хранилище региона занято другим запуском, числа региона не прочитаны "
                      "(его собственный отчёт сформирован)",
                      "the region's warehouse is in use by another run; its numbers were not "
                      "read (its own report was written)"),
    "region_unreadable": ("хранилище региона не удалось прочитать",
                          "the region's warehouse could not be read"),
    "error": ("Причина", "Cause"),
    "status_completed": ("выполнен", "completed"),
    "status_failed": ("ошибка", "failed"),
    "status_locked": ("хранилище занято", "warehouse in use"),
    "status_unreadable": ("не прочитано", "not read"),
    "chart_region": ("Замечания по регионам", "Findings per region"),
    "generated": ("Сформировано из хранилищ регионов Talon; ничего не пересчитывалось.",
                           "Rendered from the regions' Talon warehouses; nothing recomputed."),
}


class NationalTexts(Texts):
    """The report frame's strings plus the national page's own."""

    def __getitem__(self, key: str) -> str:
        if key in _STRINGS:
            pair = _STRINGS[key]
            return pair[1] if self.lang == "en" else pair[0]
        return super().__getitem__(key)

    def __getattr__(self, key: str) -> str:
        if key in _STRINGS:
            return self[key]
        return super().__getattr__(key)


@dataclass(frozen=True)
class RegionEntry:
    """One region of the national run: its warehouse and run, or why it has none."""

    name: str
    warehouse: Path
    run_id: str | None
    error: str | None = None


_FINDINGS = "SELECT check_code, severity, mo_code, patient_id FROM findings WHERE run_id = ?"
_REGION_NAME = """SELECT name FROM ref_f010 WHERE run_id = ? AND kod_tf = ?
                  ORDER BY date_end IS NULL DESC, date_end DESC, date_begin DESC LIMIT 1"""
COUNTS = ("findings", "blockers", "warnings", "patients_blocked", "patients_affected")


@dataclass(frozen=True)
class Unread:
    """A region that ran but is not on the page: why (one line, no data values)."""

    status: str  # locked (its warehouse's lock stayed taken) | unreadable
    error: str
    exit_code: int  # 4 locked (warehouse busy), else as the error's


@dataclass(frozen=True)
class NationalPage:
    index: Path  # OUT/index.html
    unread: dict[str, Unread]  # by region name


def read_region(entry: RegionEntry, lock_timeout: float = 0.0) -> tuple[dict, pl.DataFrame]:
    """A region's totals and its per-check counts, from its warehouse (values never read),
    under the warehouse's lock (WarehouseBusy after `lock_timeout` seconds)."""
    with warehouse_lock(entry.warehouse, lock_timeout), \
            warehouse.connect(entry.warehouse, read_only=True) as con:
        run = data.load_run(con, entry.run_id)
        # booking impact counts open findings: a waived one (issue 13) is not a defect
        frame = data.query(con, _FINDINGS + lifecycle.open_sql(con),
                           [entry.run_id]).cast(pl.String)
        names = con.execute(_REGION_NAME, [entry.run_id, run.region_code]).fetchall()
    s = data.summary(frame)
    totals = {
        "region": entry.name, "region_code": run.region_code or "",
        "region_name": (names[0][0] or "") if names else "", "run_id": run.run_id,
        "as_of": run.as_of_text, "status": "completed", "error": "",
        "link": f"{entry.name}/{LATEST}/index.html",
        "findings": s["findings_total"], "blockers": s["blockers"], "warnings": s["warnings"],
        "patients_blocked": s["patients_blocked"], "patients_affected": s["patients_affected"],
        "clinics": frame["mo_code"].drop_nulls().n_unique(),
    }
    severity = frame.group_by("check_code").agg(pl.col("severity").first())
    per_check = (data.impact(frame, "check_code").join(severity, on="check_code", how="left")
                 .with_columns(pl.lit(entry.name).alias("region")))
    return totals, per_check


_PER_CHECK_SCHEMA = {"check_code": pl.String, "severity": pl.String, "region": pl.String,
                     **{c: pl.Int64 for c in COUNTS}}


def _failed_row(entry: RegionEntry) -> dict:
    return {"region": entry.name, "region_code": "", "region_name": "", "run_id": "",
            "as_of": "", "status": "failed", "error": entry.error or "", "link": "",
            **{c: 0 for c in COUNTS}, "clinics": 0}


def _unread(exc: Exception, t: Texts) -> Unread:
    """WarehouseBusy (the lock, or DuckDB's own file lock, held by another process) or another
    error reading the warehouse (a run replaced meanwhile, a damaged file): an InputError's one
    line, any other error by type only (its text may quote anything)."""
    if isinstance(exc, WarehouseBusy):
        return Unread("locked", f"{t['region_locked']}: {exc.one_line()}"[:500], exc.exit_code)
    detail = exc.one_line() if isinstance(exc, InputError) else type(exc).__name__
    return Unread("unreadable", f"{t['region_unreadable']}: {detail}"[:500],
                  exc.exit_code if isinstance(exc, InputError) else 3)


def national_tables(entries: list[RegionEntry], lang: str, lock_timeout: float = 0.0
                    ) -> tuple[list[dict], pl.DataFrame]:
    """(one row per region, ranked by booking impact; per region and check counts). A region
    read under its lock; one that could not be read is a failed row with `unread` set."""
    t = NationalTexts(lang)
    rows, parts = [], []
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.run_id is None:
            rows.append(_failed_row(entry))
            continue
        try:
            totals, per_check = read_region(entry, lock_timeout)
        except (InputError, ValueError, duckdb.Error) as exc:
            unread = _unread(exc, t)
            rows.append({**_failed_row(RegionEntry(entry.name, entry.warehouse, entry.run_id,
                                                   unread.error)), "unread": unread})
            continue
        rows.append(totals)
        parts.append(per_check.select(list(_PER_CHECK_SCHEMA)).cast(_PER_CHECK_SCHEMA))
    per_check = pl.concat(parts) if parts else pl.DataFrame(schema=_PER_CHECK_SCHEMA)
    titles = data.catalogue_texts(lang).select("check_code", "title")
    per_check = (per_check.join(titles, on="check_code", how="left")
                 .with_columns(pl.coalesce("title", "check_code").alias("title"),
                               pl.col("check_code").replace_strict(
                                   {c: safe_stem(c) for c in per_check["check_code"].unique()},
                                   return_dtype=pl.String).alias("stem"))
                 .with_columns(pl.format(f"{{}}/{LATEST}/check/{{}}.html", "region", "stem")
                               .alias("link"))
                 .sort("region", data.severity_rank(), "check_code"))
    rows.sort(key=lambda r: (r["status"] != "completed", -r["patients_blocked"], -r["blockers"],
                             -r["findings"], r["region"]))
    return rows, per_check


def _by_check(per_check: pl.DataFrame) -> list[dict]:
    return (per_check.group_by("check_code").agg(
                pl.col("title").first(), pl.col("severity").first(),
                *[pl.col(c).sum() for c in COUNTS], pl.col("region").n_unique().alias("regions"))
            .sort(["patients_blocked", "blockers", "findings", "check_code"],
                  descending=[True, True, True, False]).to_dicts())


def _charts(per_check: pl.DataFrame, t: Texts) -> dict:
    if per_check.height == 0:
        return {}
    long = per_check.select("region", "check_code", "severity", pl.col("findings").alias("n"))
    return {
        "region": charts.stacked_bars(long.group_by("region", "severity").agg(pl.col("n").sum()),
                                      "region", t, t["chart_region"]),
        "check": charts.stacked_bars(long.group_by("check_code", "severity")
                                     .agg(pl.col("n").sum()), "check_code", t, t.chart_check),
    }


def write_national_report(entries: list[RegionEntry], out: Path, lang: str = "ru",
                          lock_timeout: float = 0.0) -> Path:
    """Write OUT/index.html; see national_page."""
    return national_page(entries, out, lang, lock_timeout).index


def national_page(entries: list[RegionEntry], out: Path, lang: str = "ru",
                  lock_timeout: float = 0.0) -> NationalPage:
    """Write OUT/index.html (atomically: a reader sees the previous or the new page), reading
    each region under its warehouse's lock (waiting up to `lock_timeout` seconds for each);
    the page and the regions that ran but could not be read."""
    t = NationalTexts(lang)
    out = Path(out)
    regions, per_check = national_tables(entries, lang, lock_timeout)
    done = [r for r in regions if r["status"] == "completed"]
    summary = {k: sum(r[k] for r in done) for k in ("blockers", "warnings", "patients_blocked",
                                                     "patients_affected")}
    summary.update(findings_total=sum(r["findings"] for r in done),
                   clinics_with_findings=sum(r["clinics"] for r in done),
                   regions_total=len(regions), regions_failed=len(regions) - len(done))
    as_of = sorted({r["as_of"] for r in done})
    index = out / "index.html"
    tmp = out / ".index.html.national-tmp"
    render("national.html.j2", tmp, T=t, lang=lang, summary=summary, regions=done,
           failed=[r for r in regions if r["status"] != "completed"],
           by_check=_by_check(per_check), per_region_check=per_check.to_dicts(),
           charts=_charts(per_check, t), as_of=as_of)
    os.replace(tmp, index)  # replaces a symlink left by a single-region run, never its target
    return NationalPage(index, {r["region"]: r["unread"] for r in regions if "unread" in r})
