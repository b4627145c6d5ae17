"""The auditors' waivers page, `OUT/waivers.html`: every clinic's answer "not an error"
(flows/waivers.py) per clinic and check, so that an auditor can judge it.

Each waiver shows its reason, author, since, until, status (active / removed / expired) and
whether its finding was still seen in the reported run (a waiver whose finding disappeared is
kept, and shown as such, until it expires or is removed); then the audit trail. Record ids are
masked where they are personal (reports.data.mask_record_ids); no finding's value is read.

Waived findings are left out of everything else the auditors' report counts (booking impact,
tables per clinic and check): the index says how many there were and links this page.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from checks import lifecycle
from flows import waivers as wv
from reports import data
from reports.html import render
from reports.i18n import Texts

PAGE = Path("waivers.html")
#: The audit trail shown (newest first); the warehouse keeps all of it.
EVENTS_SHOWN = 500

_STRINGS: dict[str, tuple[str, str]] = {
    "title": ("Ответы МО: «не ошибка»", "Clinics' answers: not an error"),
    "link": ("Ответы МО «не ошибка» (исключения)", "Clinics' answers \"not an error\" (waivers)"),
    "intro": (
        "Медицинская организация может ответить, что замечание — не ошибка (например, у "
        "иностранного гражданина нет СНИЛС). Такое замечание остаётся в хранилище, но со "
        "следующего запуска не попадает в список исправлений МО и не учитывается во влиянии на "
        "запись; исключение действует до даты «до» или до отмены. Проверьте обоснованность "
        "каждой причины.",
        "A clinic can answer that a finding is not an error (e.g. a foreign citizen has no "
        "SNILS). The finding stays in the warehouse but, from the next run on, leaves the "
        "clinic's fix list and the booking impact, until the waiver's until date or until it "
        "is removed. Judge whether each reason holds."),
    "index_note": (
        "Замечания, на которые МО ответила «не ошибка», в таблицах выше не учитываются.",
        "Findings a clinic answered \"not an error\" are not counted in the tables above."),
    "active": ("Действующих исключений", "Active waivers"),
    "waived_findings": ("Замечаний исключено в этом запуске", "Findings waived in this run"),
    "waived_patients": ("Пациентов с исключёнными блокирующими", "Patients with waived blockers"),
    "not_seen": ("Действующих, замечание не найдено", "Active, finding not seen"),
    "expired": ("Истекших", "Expired"),
    "removed": ("Отменённых", "Removed"),
    "per_clinic_check": ("По МО и проверкам", "Per clinic and check"),
    "all_waivers": ("Все исключения", "All waivers"),
    "record": ("ID записи", "Record id"),
    "reason": ("Причина (ответ МО)", "Reason (the clinic's answer)"),
    "by": ("Кто", "By"),
    "since": ("С", "Since"),
    "until": ("До", "Until"),
    "status": ("Статус", "Status"),
    "seen": ("В этом запуске", "In this run"),
    "seen_waived": ("найдено, исключено", "seen, waived"),
    "seen_open": ("найдено, в списке", "seen, on the list"),
    "not_seen_row": ("не найдено", "not seen"),
    "last_change": ("Изменено", "Last change"),
    "events": ("Журнал изменений", "Audit trail"),
    "events_note": (
        "Последние {n} событий, новые сверху; хранилище хранит все, ничего не удаляется.",
        "The last {n} events, newest first; the warehouse keeps them all, nothing is deleted."),
    "when": ("Когда", "When"),
    "event": ("Событие", "Event"),
    "waiver": ("Исключение", "Waiver"),
    "none": ("Исключений нет.", "No waivers."),
    "n_active": ("Действующих", "Active"),
    "n_seen": ("Найдено в запуске", "Seen in this run"),
    "n_not_seen": ("Не найдено", "Not seen"),
    "unassigned": ("Нераспределённые", "Unassigned"),
}
STATUS = {"active": ("действует", "active"), "removed": ("отменено", "removed"),
          "expired": ("истекло", "expired")}
EVENT = {"added": ("добавлено", "added"), "changed": ("изменено", "changed"),
         "expired": ("истекло", "expired"), "removed": ("отменено", "removed")}


class WaiverTexts(Texts):
    """This page's strings in one language (`W.title`, `W.status_of("active")`)."""

    STRINGS = _STRINGS

    def status_of(self, status: str | None) -> str:
        return self._of(STATUS, status)

    def event_of(self, event: str | None) -> str:
        return self._of(EVENT, event)


def _run_keys(con: duckdb.DuckDBPyConnection, run_id: str, none: bool = False) -> pl.DataFrame:
    """(check_code, entity, record_id, waived) of every finding of the run; with `none`, of
    none (the same columns: no waiver to look up, so no need to read the run's findings)."""
    waived = lifecycle.waived_sql(con)
    return data.query(con, f"SELECT DISTINCT check_code, entity, record_id, {waived} AS waived "
                           f"FROM findings WHERE run_id = ?{' LIMIT 0' if none else ''}",
                      [run_id])


def waiver_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Every waiver with `seen` (in the run: 'waived', 'open' or 'no'), record ids masked
    where personal; by clinic (unassigned last), check, record."""
    waivers = wv.list_waivers(con)
    keys = _run_keys(con, run_id, none=waivers.is_empty())
    joined = waivers.join(keys, on=["check_code", "entity", "record_id"], how="left",
                          maintain_order="left")
    joined = joined.with_columns(
        pl.when(pl.col("waived").is_null()).then(pl.lit("no"))
          .when(pl.col("waived")).then(pl.lit("waived")).otherwise(pl.lit("open"))
          .alias("seen")).drop("waived")
    return data.mask_record_ids(joined)


def summary(findings: pl.DataFrame, rows: pl.DataFrame) -> dict[str, int]:
    """Counts for the index and the page. `findings`: the run's findings with waiver_id."""
    # (the three columns it needs; the patients' sets counted by polars, not in Python sets
    # of a dense region's ~100k blocked patients)
    keys = findings.select(pl.col(data.WAIVER_COLUMN).is_not_null().alias("waived"),
                           (pl.col("severity") == "blocker").alias("blocker"), "patient_id")
    waived, blocker = pl.col("waived"), pl.col("blocker")
    waived_blocked = keys.filter(waived & blocker)["patient_id"].drop_nulls().unique()
    if waived_blocked.len():  # patients whom only waived blockers keep from booking
        still_blocked = keys.filter(~waived & blocker)["patient_id"]
        waived_patients = (~waived_blocked.is_in(still_blocked.implode())).sum()
    else:
        waived_patients = 0
    active = rows.filter(pl.col("status") == wv.ACTIVE)
    return {
        "active": active.height,
        "waived_findings": int(keys["waived"].sum()),
        # patients whom only waived blockers keep from booking: no longer counted as blocked
        "waived_patients": int(waived_patients),
        "not_seen": active.filter(pl.col("seen") == "no").height,
        "expired": rows.filter(pl.col("status") == wv.EXPIRED).height,
        "removed": rows.filter(pl.col("status") == wv.REMOVED).height,
    }


def _per_clinic_check(rows: pl.DataFrame, names: dict, titles: dict, W: WaiverTexts
                      ) -> list[dict]:
    active = rows.filter(pl.col("status") == wv.ACTIVE)
    table = (active.group_by("mo_code", "check_code").agg(
        pl.len().alias("active"), (pl.col("seen") != "no").sum().alias("seen"),
        (pl.col("seen") == "no").sum().alias("not_seen"))
        .sort(pl.col("mo_code").is_null(), "mo_code", "check_code"))
    return [r | {"label": r["mo_code"] or W.unassigned, "name": names.get(r["mo_code"], ""),
                 "title": titles.get(r["check_code"], "")} for r in table.to_dicts()]


def write_waivers_page(con: duckdb.DuckDBPyConnection, run_id: str, out: Path, lang: str,
                       findings: pl.DataFrame, names: dict[str, str]) -> tuple[Path, dict]:
    """Render OUT/waivers.html; return it and the counts for the index (`summary`)."""
    t, W = Texts(lang), WaiverTexts(lang)
    rows = waiver_rows(con, run_id)
    counts = summary(findings, rows)
    titles = dict(data.catalogue_texts(lang).select("check_code", "title").iter_rows())
    order = pl.col("status").replace_strict({wv.ACTIVE: 0, wv.EXPIRED: 1, wv.REMOVED: 2},
                                            default=3, return_dtype=pl.Int8)
    detail = rows.sort(order, pl.col("mo_code").is_null(), "mo_code", "check_code", "record_id",
                       maintain_order=True)
    items = [r | {"label": r["mo_code"] or W.unassigned, "name": names.get(r["mo_code"], ""),
                  "title": titles.get(r["check_code"], ""),
                  "since": f"{r['created_at']:%Y-%m-%d}",
                  "until_text": f"{r['until']:%Y-%m-%d}" if r["until"] else "",
                  "last": f"{r['last_change']:%Y-%m-%d %H:%M}" if r["last_change"] else ""}
             for r in detail.to_dicts()]
    events = wv.list_events(con)
    events = data.mask_record_ids(events.sort("event_id", descending=True).head(EVENTS_SHOWN))
    event_items = [r | {"when": f"{r['at']:%Y-%m-%d %H:%M}", "label": r["mo_code"] or W.unassigned}
                   for r in events.to_dicts()]
    path = render("waivers.html.j2", Path(out) / PAGE, T=t, W=W, lang=lang,
                  run=data.load_run(con, run_id), counts=counts,
                  per_check=_per_clinic_check(rows, names, titles, W), rows=items,
                  events=event_items, events_note=W.events_note.format(n=EVENTS_SHOWN))
    return path, counts
