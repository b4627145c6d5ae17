"""Clinic fix lists as work lists: `OUT/clinics/<mo_code>.html|.xlsx|.csv` per clinic, and
`OUT/clinics/unassigned.*` for the data steward.

A clinic's files hold only the findings routed to it (`findings.mo_code`) that it has not
answered as "not an error" (waived findings, `findings.waiver_id IS NOT NULL`, are left out; a
warehouse without that column has none). They show the full current value and, beside it, the
full value the insured-persons register suggests (issue 12), and identify every record the way
the clerk finds it in the clinic's system (reports/identity.py: the patient's name, birth date
and policy, the attachment's area, the slot's doctor, specialty, date and time): the clinic owns
those records. Auditors' outputs stay masked.

Order: the findings are grouped by check; blockers first, then by booking impact (distinct
patients with a blocker of that check who cannot book), findings, code. Within a group: by
patient, doctor, slot date and time, record id.

- HTML: a table of contents of the groups with their counts, then each group stating once what
  is wrong (the catalogue's message: it says what the patient meets on the portal), how to fix
  it and the official rule, followed by a compact table of its records (status, the record and
  its identity, the current and suggested values). The status is the lifecycle's
  (checks/lifecycle.py); a `waiver_ended` finding (back on the list because the clinic's
  answer "not an error" expired or was removed) says which and its date, and the summary
  counts and explains them; the XLSX and CSV status columns carry the same labels. It fits a 1400-px window and prints on A4
  landscape (reports/static/talon.css).
- XLSX: a summary sheet (how to use the workbook and how to answer, the run's counts, the checks
  in order with their counts, booking impact and texts, each text once), then one findings sheet
  per kind of record (Patients, Policies, Attachments, Schedule; Files in the steward's list).
  Sheets per kind of record rather than per check: a clerk fixes records in the MIS screen of
  their kind (patient card, policy, attachment, schedule), so one sheet holds everything to do
  in one screen, and a patient's several findings sit side by side (sort or filter by the
  patient); the columns of a sheet are the identity of its kind, the same for every row; the
  check code and title columns filter it down to one check; and the number of sheets stays at
  most five where per-check sheets would be ~50 tabs of a few rows. Each findings sheet is one
  Excel table with one header row carrying the answer columns of design13.md (the waiver import
  reads them back), and the workbook has the custom properties talon_fixlist, talon_mo_code and
  talon_run_id (a clinic code too long for one property, over 255 characters, is stored in
  parts instead: flows/waivers.py `fixlist_mo_properties`).
- CSV: one row per finding for machine import (UTF-8 with BOM, `;` in Russian, `,` in English)
  with the identity and suggested-value columns. The catalogue's message and fix paragraphs are
  not repeated on every row (they would be most of the file): the check_code column keys them,
  and the HTML and XLSX state each once.

Which clinics get files: every clinic with findings in this run (open or waived) and every
clinic that had findings in an earlier run of the history (checks.lifecycle): a clinic whose
findings were all fixed or answered gets its list saying so and thanking it, so "all clear" is
never confused with "lost". The steward's unassigned list is always written.
"""
from __future__ import annotations

import os
from collections import namedtuple
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl
from markupsafe import Markup, escape

from checks import lifecycle
from flows import parallel
from flows import waivers as wv
from reports import data, identity
from reports.html import escaped, num, render
from reports.i18n import (CSV_SEPARATOR, ENTITY, LIFECYCLE, REASON, SEVERITY, WAIVER_END,
                          Texts)
from reports.safe import inside, neutralise_frame, neutralise_text, safe_stem
from reports.xlsx import (Page, Rows, Sheet, Summary, Table, bulk_rows, longest_by,
                          write_workbook)

UNASSIGNED = "unassigned"

#: Which sheet of the workbook an entity's findings go to (unknown entities: the file sheet).
SHEET_OF = {"patient": "patient", "policy": "policy", "attachment": "attachment",
            "slot": "schedule", "doctor": "schedule", "mo_specialty": "schedule", "file": "file",
            "mo": "feed"}
#: Sheet order; an MO's own feed findings (FEED.MO.*, entity mo) come first, as in FEED_FIRST.
SHEETS = ("feed", "patient", "policy", "attachment", "schedule", "file")
CLINIC_SHEETS = SHEETS[:5]
#: An MO's own feed findings lead its list, before any blocker (its schedule did not arrive or
#: shrank: its patients see an empty calendar; catalogue v1.3): group rank, the rest after.
FEED_FIRST = {"FEED.MO.SILENT": 0, "FEED.MO.SHRUNK": 1}

#: The identity columns shown for each entity, in this canonical order (HTML groups).
IDENTITY_ORDER = ("patient_id", "person", "birth", "policy", "area", "doctor_id", "specialty",
                  "slot_date", "slot_time")
ENTITY_IDENTITY = {
    "patient": ("person", "birth", "policy"),  # the record id is the patient id
    "policy": ("patient_id", "person", "birth", "policy"),
    "attachment": ("patient_id", "person", "birth", "policy", "area"),
    "slot": ("doctor_id", "specialty", "slot_date", "slot_time"),
    "doctor": ("specialty",),  # the record id is the doctor id
    "mo_specialty": ("specialty",),
}
#: The record id column's header in an HTML group of one entity (i18n key).
RECORD_HEADER = {"patient": "patient_id", "policy": "policy_id", "attachment": "attachment_id",
                 "slot": "slot_id", "doctor": "doctor_id", "file": "file_line", "mo": "mo_code"}
#: Each findings sheet's identity columns (i18n keys of the headers).
SHEET_IDENTITY = {
    "patient": ("person", "birth_date", "policy"),
    "policy": ("patient_id", "person", "birth_date", "policy"),
    "attachment": ("patient_id", "person", "birth_date", "policy", "area"),
    "schedule": ("entity", "doctor_id", "specialty", "slot_date", "slot_time"),
    "file": ("entity",),
    "feed": ("entity",),
}
SHEET_HEAD = ("severity", "status", "days_open", "check_code", "check", "record_id")
SHEET_TAIL = ("field", "value", "suggested")
ANSWERS = ("answer_reason", "answer_until")
#: CSV columns (i18n keys of the headers; `reason` only in the steward's list).
CSV_COLUMNS = ("severity", "status", "days_open", "check_code", "entity", "record_id",
               "patient_id", "person", "birth_date", "policy", "area", "doctor_id", "specialty",
               "slot_date", "slot_time", "field", "value", "suggested")
#: Width caps (pixels) of the workbook's columns; the others: reports.xlsx.MAX_WIDTH.
CAPS = {"check": 260, "person": 240, "policy": 190, "value": 320, "suggested": 280,
        "reason": 320, "answer_reason": 300, "answer_until": 130, "specialty": 240,
        "field": 200, "record_id": 170, "message": 420, "fix": 420, "title_col": 260,
        "rule": 170, "metric": 300, "value_col": 360}
WRAP = ("check", "person", "value", "suggested", "reason", "answer_reason", "specialty",
        "field", "message", "fix", "title_col", "rule", "value_col", "policy")

_TEXT = pl.String


def clinic_stems(codes: list[str]) -> dict[str | None, str]:
    """mo_code -> file stem (None -> `unassigned`); distinct codes get distinct stems."""
    stems: dict[str | None, str] = {c: safe_stem(c, reserved=(UNASSIGNED,)) for c in codes
                                    if c is not None}
    stems[None] = UNASSIGNED
    if len(set(stems.values())) != len(stems):
        raise ValueError("two clinic codes map to the same file name")
    return stems


# ---------------------------------------------------------------------------------------------
# Reading: the open findings with their lifecycle, texts and identity; the clinics to write


def listed_clinics(con, run_id: str) -> list[str]:
    """Clinics with findings in this run or in an earlier history run (checks.lifecycle)."""
    rows = con.sql(f"""WITH {lifecycle._HISTORY}
        SELECT DISTINCT f.mo_code FROM findings f JOIN h ON h.run_id = f.run_id
        WHERE f.mo_code IS NOT NULL ORDER BY 1""", params={"run_id": run_id}).fetchall()
    return [r[0] for r in rows]


def work_findings(con, run_id: str, run: data.Run, lang: str,
                  loaded: pl.DataFrame | None = None,
                  texts: bool = True) -> tuple[pl.DataFrame, dict[str | None, int]]:
    """The run's open findings (`data.open_findings`: no waiver covers them) with lifecycle,
    catalogue texts (unless not `texts`: `data.with_texts` adds them later) and identity; and
    how many findings each clinic answered (waived). `loaded`: the run's
    `data.load_with_lifecycle` where the caller read it already."""
    if loaded is None:
        loaded = data.load_with_lifecycle(con, run_id)
    waived = loaded.filter(pl.col(data.WAIVER_COLUMN).is_not_null())
    waived_counts = dict(waived.group_by("mo_code").len().iter_rows())
    findings = _with_ended(con, run_id, data.open_findings(loaded))
    if texts:
        findings = data.with_texts(findings, lang)
    found = identity.identities(con, run_id, findings.select("entity", "record_id"), run.as_of)
    findings = findings.join(found, on=["entity", "record_id"], how="left",
                             maintain_order="left")
    return findings, waived_counts


_ENDED = ("ended_how", "ended_until", "ended_on")


def _with_ended(con, run_id: str, findings: pl.DataFrame) -> pl.DataFrame:
    """`findings` with how the answer of each `waiver_ended` one ended (data.ended_answers:
    ended_how, ended_until, ended_on; null on every other finding), in their order. The
    previous run's waivers are read only where the run has such findings."""
    ended = pl.col("status") == lifecycle.WAIVER_ENDED
    if not findings.height or not findings.select(ended.any()).item():
        return findings.with_columns(pl.lit(None, data.ENDED_SCHEMA[c]).alias(c)
                                     for c in _ENDED)
    answers = data.ended_answers(con, run_id)
    joined = findings.join(answers, on=list(lifecycle.KEY), how="left", maintain_order="left")
    return joined.with_columns(pl.when(ended).then(pl.col(c)).alias(c) for c in _ENDED)


def _groups(findings: pl.DataFrame) -> pl.DataFrame:
    """One row per (mo_code, check): its texts and counts, `order` 1.. within the clinic:
    its own feed findings first (FEED_FIRST), then blockers, then by patients who cannot book,
    findings, code."""
    blocker = pl.col("severity") == "blocker"
    return (findings.group_by("mo_code", "check_code").agg(
                pl.col("severity", "title", "message", "fix", "rule").first(),
                pl.len().alias("count"),
                pl.col("patient_id").filter(blocker).drop_nulls().n_unique().alias("blocked"),
                (pl.col("status") == "new").sum().alias("new"),
                (pl.col("status") == lifecycle.WAIVER_ENDED).sum().alias("back"),
                pl.col("entity").unique().sort().alias("entities"),
                pl.col("field").unique().alias("fields"),
                (pl.col("suggested_value").fill_null("") != "").any().alias("suggests"))
            .sort("mo_code", pl.col("check_code").replace_strict(FEED_FIRST, default=9,
                                                                  return_dtype=pl.Int8),
                  data.severity_rank(), "blocked", "count", "check_code",
                  descending=[False, False, False, True, True, False], nulls_last=True)
            .with_columns(pl.int_range(1, pl.len() + 1).over("mo_code").alias("order")))


def _ordered(findings: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """Findings in work order: by clinic, group order, then patient / doctor / slot / record."""
    order = groups.select("mo_code", "check_code", "order")
    return (findings.join(order, on=["mo_code", "check_code"], how="left", nulls_equal=True)
            .sort("mo_code", "order", "person", "birth_date", "doctor_id", "slot_date",
                  "slot_time", "record_id", nulls_last=True, multithreaded=False))


# ---------------------------------------------------------------------------------------------
# One clinic's list as plain data (a worker process writes it)


@dataclass(frozen=True)
class Common:
    """What every clinic's files share."""
    folder: Path  # absolute: a worker process may have another working directory
    run: data.Run
    previous: str | None
    lang: str


@dataclass(frozen=True)
class FixList:
    """One clinic's fix list as plain data: `write_fix_list` turns it into the three files
    without DuckDB or the catalogue, so a worker process can do it."""
    stem: str
    mo_code: str | None
    name: str
    summary: dict[str, int]
    groups: list  # this clinic's checks in order, as the HTML shows them (`_html_groups`)
    csv: str  # the CSV file's text (`_csv_texts`)
    #: sheet key -> (rows as `csv`, their longest texts, their XML: xlsx.bulk_rows)
    sheets: dict[str, tuple[pl.DataFrame, dict, Rows]]
    checks: tuple[pl.DataFrame, dict]  # the summary sheet's checks table, longest
    fixed: list[dict]  # the previous run's findings fixed since


SUMMARY_KEYS = ("findings_total", "blockers", "warnings", "patients_affected",
                "patients_blocked", "new_count", "reopened_count", "waiver_ended_count",
                "fixed_since_last", "waived_count")
_ZERO = dict.fromkeys(SUMMARY_KEYS, 0)


def _labelled(rows: pl.DataFrame, t: Texts) -> pl.DataFrame:
    """Display texts: labels, dates DD.MM.YYYY (the raw text where one does not parse), the
    lifecycle status with its days."""
    ended_status = pl.col("status") == lifecycle.WAIVER_ENDED
    removed = ended_status & (pl.col("ended_how") == "removed")
    expired = ended_status & (pl.col("ended_how") == "expired")
    status = (pl.when(ended_status & pl.col("ended_how").is_in(list(WAIVER_END)))
              .then(pl.col("ended_how").replace_strict(t.mapping(WAIVER_END), default=None))
              .otherwise(pl.col("status").replace_strict(t.mapping(LIFECYCLE),
                                                         default=pl.col("status"))))
    before, after = t.open_days.split("{n}")
    open_days = pl.concat_str(pl.lit(before), pl.col("days_open").cast(pl.String), pl.lit(after))

    def dated(text: str, day: str) -> pl.Expr:  # `text` with {d}: the day as DD.MM.YYYY
        head, tail = text.split("{d}")
        return pl.concat_str(pl.lit(head), pl.col(day).dt.strftime("%d.%m.%Y"), pl.lit(tail))

    # a waiver_ended finding's cell says how its answer ended and when (null: the label only)
    ended = (pl.when(removed).then(dated(t.answer_removed_on, "ended_on"))
             .when(expired).then(dated(t.answer_expired_until, "ended_until")))
    status_days = (pl.when(pl.col("status") == "open").then(open_days)
                   .when(pl.col("status") == lifecycle.WAIVER_ENDED)
                   .then(pl.coalesce(ended, status)).otherwise(status))
    return rows.with_columns(
        pl.col("severity").replace_strict(t.mapping(SEVERITY), default=pl.col("severity"))
        .alias("severity_label"),
        status.alias("status_label"),
        status_days.alias("status_days"),
        pl.col("entity").replace_strict(t.mapping(ENTITY), default=pl.col("entity"))
        .alias("entity_label"),
        pl.col("unassigned_reason").replace_strict(t.mapping(REASON),
                                                   default=pl.col("unassigned_reason"))
        .alias("reason_label"),
        pl.coalesce(pl.col("birth_date").dt.strftime("%d.%m.%Y"), pl.col("birth_text"))
        .alias("birth"),
        pl.coalesce(pl.col("slot_date").dt.strftime("%d.%m.%Y"), pl.col("slot_text"))
        .alias("slot_day"),
        pl.when(pl.col("entity") == "doctor").then(pl.col("record_id"))
        .otherwise(pl.col("doctor_id")).alias("doctor_id"),
    )


def _csv_frame(rows: pl.DataFrame, t: Texts, unassigned: bool) -> pl.DataFrame:
    source = {"severity": "severity_label", "status": "status_label", "days_open": "days_open",
              "entity": "entity_label", "birth_date": "birth", "slot_date": "slot_day",
              "suggested": "suggested_value"}
    keys = CSV_COLUMNS + (("reason",) if unassigned else ())
    source["reason"] = "reason_label"
    return rows.select(pl.col(source.get(k, k)).alias(t[k]) for k in keys)


#: `_csv_texts` writes each clinic's CSV by its own `write_csv` where the clinics have this
#: many rows each on average (a call costs ~0.13 ms, cutting one write of all ~0.7 us a row).
CSV_ROWS_PER_WRITE = 200


def _csv_texts(keyed: pl.DataFrame, lang: str) -> dict:
    """{(mo_code,): CSV text, header first} of a frame keyed by clinic (`_by_clinic`): each
    clinic's own `write_csv` where the clinics have CSV_ROWS_PER_WRITE rows each or more
    (a dense region: ~0.4 CPU s less than cutting); else its rows written by one `write_csv`
    for all clinics and cut at row ends (a row takes one line plus one for each line break in
    its values: a value with one is quoted whole), as each clinic's own would write them."""
    separator = CSV_SEPARATOR[lang]
    if keyed.height and keyed.height >= CSV_ROWS_PER_WRITE * keyed[_MO].n_unique():
        return {key: part.write_csv(separator=separator) for key, part in _cut(keyed).items()}
    keyed = keyed.sort(_MO, maintain_order=True, nulls_last=True)  # each clinic's rows together
    frame = keyed.drop(_MO)
    header = frame.clear().write_csv(separator=separator)
    if not frame.height:
        return {}
    lines = frame.write_csv(include_header=False, separator=separator).split("\n")
    breaks = [pl.col(c).str.count_matches("\n", literal=True).fill_null(0)
              for c, dtype in frame.schema.items() if dtype == pl.String]
    counts = keyed.group_by(_MO, maintain_order=True).agg(
        (pl.sum_horizontal(breaks) + 1).sum() if breaks else pl.len())
    out, at = {}, 0
    for mo_code, n in counts.iter_rows():
        out[(mo_code,)] = header + "\n".join(lines[at:at + n]) + "\n"
        at += n
    return out


def _write_csv(text: str, path: Path) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\xef\xbb\xbf")  # a BOM (Excel reads the file as UTF-8)
        fh.write(text.encode("utf-8"))
    return path


def _sheet_frame(rows: pl.DataFrame, key: str, t: Texts) -> pl.DataFrame:
    """A findings sheet's columns (with the steward's reason: a clinic's list drops it)."""
    source = {"severity": "severity_label", "status": "status_label", "check": "title",
              "entity": "entity_label", "suggested": "suggested_value", "reason": "reason_label",
              "birth_date": "birth_date", "slot_date": "slot_date"}
    keys = SHEET_HEAD + SHEET_IDENTITY[key] + SHEET_TAIL + ("reason",)
    columns = [pl.col(source.get(k, k)).alias(t[k]) for k in keys]
    # the answer columns, empty: a reason as text, the last day as a date (DD.MM.YYYY)
    columns += [pl.lit(None, dtype=_TEXT).alias(t.answer_reason),
                pl.lit(None, dtype=pl.Date).alias(t.answer_until)]
    # where a date does not parse, its text (xlsx.Table.text_for; not a column of its own)
    columns += [pl.col("birth_text").alias("\x00birth"), pl.col("slot_text").alias("\x00slot")]
    return rows.select(columns)


def _facts(t: Texts, run: data.Run, mo_code: str | None, name: str, summary: dict,
           previous: str | None) -> pl.DataFrame:
    facts = [(t.mo_code, mo_code or ""), (t.clinic_name, name), (t.run_id, run.run_id),
             (t.run_date, run.run_date), (t.as_of, run.as_of_text)]
    facts += [(t[k], str(summary[k])) for k in SUMMARY_KEYS]
    facts.append((t.previous_run, previous or t.no_previous_run))
    # neutralised here, as `neutralise_frame` would (a clinic's name comes from the registry)
    facts = [(neutralise_text(k), neutralise_text(v)) for k, v in facts]
    return pl.DataFrame(facts, schema=[t.metric, t.value_col], orient="row")


def _checks_frame(groups: pl.DataFrame, t: Texts) -> pl.DataFrame:
    rank = {e: SHEETS.index(k) for e, k in SHEET_OF.items()}
    names = {i: t[f"sheet_{k}"] for i, k in enumerate(SHEETS)}
    sheet = pl.col("entities").list.eval(  # (ROW.DUPLICATE_ID: on several sheets)
        pl.element().replace_strict(rank, default=SHEETS.index("file"), return_dtype=pl.Int8)
        .unique().sort().replace_strict(names, return_dtype=pl.String))
    return groups.select(
        pl.col("order").alias(t.order_col),
        pl.col("severity").replace_strict(t.mapping(SEVERITY), default=pl.col("severity"))
        .alias(t.severity),
        pl.col("check_code").alias(t.check_code), pl.col("title").alias(t.title_col),
        sheet.list.join(", ").alias(t.sheet_col),
        pl.col("count").alias(t.group_findings), pl.col("blocked").alias(t.group_blocked),
        pl.col("new").alias(t.new_count),
        pl.col("back").alias(t.waiver_ended_col),  # dropped from a list without any
        pl.col("message").alias(t.message), pl.col("fix").alias(t.fix),
        pl.when(pl.col("rule") == "").then(pl.lit(t.rule_none)).otherwise(pl.col("rule"))
        .alias(t.rule))


def _caps(t: Texts) -> dict[str, int]:
    return {t[k]: px for k, px in CAPS.items()}


def _page_date(run: data.Run) -> str:
    moment = run.started_at or run.as_of
    return f"{moment:%d.%m.%Y}"


def _write_xlsx(path: Path, job: FixList, common: Common, t: Texts, heading: str) -> Path:
    run, unassigned = common.run, job.mo_code is None
    caps, wrap = _caps(t), tuple(t[k] for k in WRAP)
    until = {"validate": "date", "criteria": ">=", "value": run.as_of.date(),
             "input_title": t.answer_until[:32], "input_message": t.answer_until_tip,
             "error_title": t.answer_until[:32], "error_message": t.answer_until_error}
    reason = {"validate": "any", "input_title": t.answer_reason[:32],
              "input_message": t.answer_reason_tip}
    sheets = []
    for key in SHEETS:
        if key not in job.sheets:
            continue
        frame, longest, rows = job.sheets[key]
        table = Table(frame, f"findings_{key}", wrap=wrap, caps=caps,
                      text_for={d: c for d, c in _date_text(t).items() if d in frame.columns},
                      minimums={t.answer_reason: 260, t.answer_until: 130}, longest=longest,
                      rows=rows)
        sheets.append(Sheet(t[f"sheet_{key}"], table,
                            blocker=(t.severity, t.severity_of("blocker")),
                            new=(t.status, t.status_of("new")),
                            inputs={t.answer_reason: reason, t.answer_until: until}))
    facts = _facts(t, run, job.mo_code, job.name, job.summary, common.previous)
    blocks: list = [(t.howto_title, t.howto_xlsx), (t.howto_answer_title, t.howto_answer),
                    (t.summary, Table(facts, "summary", wrap=wrap, caps=caps, longest={
                        c: max(map(len, facts[c])) for c in facts.columns}))]
    if job.groups:
        checks, longest = job.checks
        if not job.summary["waiver_ended_count"]:
            checks = checks.drop(t.waiver_ended_col)
        blocks.append((t.checks_table, Table(checks, "checks", wrap=wrap, caps=caps,
                                             longest=longest)))
    else:
        blocks.append((t.all_clear_title,
                       t.unassigned_clear if unassigned else t.all_clear))
    summary = Summary(t.sheet_summary, f"{heading} — {t.fixlist_title}", blocks)
    page = Page(left=heading if unassigned else f"{job.mo_code} {job.name}".strip(),
                right=f"{t.run_date}: {_page_date(run)}", footer=t.page_of)
    return write_workbook(
        path, summary=summary, sheets=sheets, page=page, neutralised=True,
        properties={"title": "Talon fix list", "subject": heading, "author": "Talon",
                    "comments": f"{t.fixlist_title}: {heading}; {t.run_id} {run.run_id}"},
        custom={wv.PROP_FIXLIST: "1", **wv.fixlist_mo_properties(job.mo_code),
                wv.PROP_RUN: run.run_id})


def _date_text(t: Texts) -> dict[str, str]:
    """A sheet's date column -> its hidden text column (shown where the date is null)."""
    return {t.birth_date: "\x00birth", t.slot_date: "\x00slot"}


# --- HTML: one section per check group

_COLUMN_HEADER = {"status": "status", "patient_id": "patient_id", "person": "person",
                  "birth": "birth_date", "policy": "policy", "area": "area",
                  "doctor_id": "doctor_id", "specialty": "specialty", "slot_date": "slot_date",
                  "slot_time": "slot_time", "field": "field", "value": "value",
                  "suggested": "suggested", "reason": "reason"}
_SOURCE = {"status": "status_days", "slot_date": "slot_day", "suggested": "suggested_value",
           "reason": "reason_label"}


_HTML_COLUMNS = ("status", "record_id", *IDENTITY_ORDER, "field", "value", "suggested",
                 "reason")


def _cell(key: str, value: pl.Expr, empty: str) -> pl.Expr:
    """One column's `<td>` of every row: every text escaped; the current value keeps an empty
    value visible, the suggestion has its own class. The cell's end tag is left out (HTML
    ends a cell at the next cell, row or the table body's end): ~40 bytes a row of a list of
    tens of thousands, the same table."""
    text = escaped(value)
    if key == "value":
        return (pl.when(value.is_null()).then(pl.lit('<td class="v">'))
                .when(value == "").then(pl.lit(f'<td class="v"><span class="empty">{empty}'
                                               f'</span>'))
                .otherwise(pl.concat_str(pl.lit('<td class="v">'), text)))
    if key == "suggested":
        return pl.concat_str(pl.lit('<td class="s">'), text.fill_null(""))
    return pl.when(value.is_null()).then(pl.lit("<td>")).otherwise(
        pl.concat_str(pl.lit("<td>"), text))


#: A group as the template shows it (attributes: a template reads them without a failed
#: dictionary-attribute lookup each): what its line of the table of contents shows (texts
#: escaped already: Markup), that line (`_toc_row`) and its whole section (`_section`).
Group = namedtuple("Group",
                   "order check_code severity title count blocked new back anchor section toc")


def _escape_once(cache: dict):
    """markupsafe's `escape` of a text, each distinct text escaped once (`cache`: text ->
    Markup): the sections' labels are the same few texts in every group."""
    def e(text: str) -> Markup:
        found = cache.get(text)
        if found is None:
            found = cache[text] = escape(text)
        return found
    return e


def _section(g: dict, t: Texts, severity: str, headers: tuple, field: str | None,
             body: str, e=escape, heads: dict | None = None) -> Markup:
    """A group's section of the page: what is wrong, how to fix it, the rule (`g`'s texts
    escaped already) and its table. Written here rather than by the template: a list has
    thousands of groups, and the template would escape and join some fifty values each.
    `e`: the escape to use (`_escape_once`); `heads`: the table heads built so far, by
    `headers`."""
    anchor, code, count = g["anchor"], g["check_code"], num(g["count"])
    counts = f'<span>{e(t.group_findings)}: <b>{count}</b></span>'
    if g["severity"] == "blocker":
        counts += f' <span>{e(t.group_blocked)}: <b>{num(g["blocked"])}</b></span>'
    if g["new"]:
        counts += f' <span>{e(t.new_count)}: <b>{num(g["new"])}</b></span>'
    if g["back"]:
        counts += f' <span>{e(t.waiver_ended_col)}: <b>{num(g["back"])}</b></span>'
    rule = f'<code>{g["rule"]}</code>' if g["rule"] else e(t.rule_none)
    shown_field = (f'<dt>{e(t.field_once)}</dt><dd class="field"><code>{e(field)}</code></dd>'
                   if field else "")
    head = heads.get(headers) if heads is not None else None
    if head is None:
        head = "".join(f'<th class="c-{key}">{e(header)}</th>' for key, header in headers)
        if heads is not None:
            heads[headers] = head
    sev = e(g["severity"])
    return Markup(
        f'<section class="group {sev}" id="{anchor}" data-code="{code}" '
        f'data-count="{g["count"]}" data-blocked="{g["blocked"]}">\n'
        f'<div class="group-head">\n'
        f'<h2><span class="order">{g["order"]}.</span> {g["title"]} <code>{code}</code></h2>\n'
        f'<p class="group-counts"><span class="sev-tag {sev}">{e(severity)}</span> {counts}'
        f'</p>\n<dl class="texts">\n'
        f'<dt>{e(t.message)}</dt><dd class="message">{g["message"]}</dd>\n'
        f'<dt>{e(t.fix)}</dt><dd class="fix">{g["fix"]}</dd>\n'
        f'<dt>{e(t.rule)}</dt><dd class="rule">{rule}</dd>\n{shown_field}</dl>\n</div>\n'
        f'<table class="worklist" id="table-{anchor}">\n'
        f'<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n</section>')


def _html_groups(rows: pl.DataFrame, groups: pl.DataFrame, t: Texts) -> dict:
    """Each clinic's groups (mo_code -> [Group]; the unassigned list: None) as the template
    shows them: their texts and counts once, the columns their records need (identity of
    their entities; the field only where it varies; the suggestion only where one exists;
    the reason in the unassigned list) and their sections (`_section`). Built for all clinics
    at once (tens of thousands of rows, thousands of groups): the table bodies by polars, each
    row's cells of its group's columns, its class its lifecycle status; without the optional
    end tags of rows and cells and with nothing between rows (a text there would end up in a
    pre-wrapped value cell); the texts escaped by polars a column at a time."""
    empty = escape(t.empty_value)
    texts = ("title", "message", "fix", "rule", "check_code")
    heads = groups.select("mo_code", "order", "severity", "count", "blocked", "new", "back",
                          "entities", "fields", "suggests",
                          *[escaped(pl.col(k)).alias(f"\x00{k}") for k in texts])
    specs, shown_by_group = [], []  # (group, its headers, its field shown once)
    layouts: dict = {}  # a group's columns and headers, by what decides them (few distinct)
    for g in heads.iter_rows(named=True):
        fields = [f for f in g["fields"] if f is not None]
        key = (tuple(g["entities"]), len(fields) > 1, g["suggests"], g["mo_code"] is None)
        layout = layouts.get(key)
        if layout is None:
            layout = layouts[key] = _layout(*key, t)
        shown_by_group.append(layout[0])
        specs.append((g, layout[1], fields[0] if len(fields) == 1 else None))
    if not specs:
        return {}
    flags = pl.DataFrame({
        "mo_code": heads["mo_code"], "order": heads["order"],
        **{f"\x00{k}": [k in columns for columns in shown_by_group] for k in _HTML_COLUMNS}},
        schema_overrides={"mo_code": rows.schema["mo_code"], "order": rows.schema["order"]})
    cells = [pl.when(pl.col(f"\x00{k}")).then(
                 _cell(k, pl.col(_SOURCE.get(k, k)).cast(pl.String), empty))
             .otherwise(pl.lit("")) for k in _HTML_COLUMNS]
    row = pl.concat_str(pl.lit('<tr class="st-'), escaped(pl.col("status")), pl.lit('">'),
                        *cells)
    bodies = {(mo_code, order): body for mo_code, order, body in
              rows.join(flags, on=["mo_code", "order"], how="left", nulls_equal=True)
              .group_by("mo_code", "order", maintain_order=True).agg(row.str.join(""))
              .iter_rows()}
    out: dict = {}
    severities = t.mapping(SEVERITY)
    # the lists with findings back on them (answer ended) have a column for them in the TOC
    with_back = set(groups.filter(pl.col("back") > 0)["mo_code"].unique().to_list())
    e, heads, marks = _escape_once({}), {}, {}  # marks: escaped text -> Markup (a check's
    for g, headers, field in specs:            # texts are the same in every clinic)
        for k in texts:
            text = g[f"\x00{k}"]
            mark = marks.get(text)
            if mark is None:
                mark = marks[text] = Markup(text)
            g[k] = mark
        g["anchor"] = f"g{g['order']}"
        severity = severities.get(g["severity"], g["severity"])
        section = _section(g, t, severity, headers, field,
                           bodies.get((g["mo_code"], g["order"]), ""), e, heads)
        out.setdefault(g["mo_code"], []).append(Group(
            **{k: g[k] for k in Group._fields if k not in ("section", "toc")}, section=section,
            toc=_toc_row(g, severity, e, g["mo_code"] in with_back)))
    return out


def _layout(entities: tuple, fields: bool, suggests: bool, unassigned: bool,
            t: Texts) -> tuple[list[str], tuple]:
    """An HTML group's columns and their (key, header) pairs: the identity of its `entities`,
    the field where `fields` (several) vary, the suggestion where it `suggests` one, the reason
    in the `unassigned` list."""
    shown = {k for e in entities for k in ENTITY_IDENTITY.get(e, ())}
    record = RECORD_HEADER.get(entities[0], "record_id") if len(entities) == 1 else "record_id"
    columns = ["status", "record_id"] + [k for k in IDENTITY_ORDER if k in shown]
    if fields:
        columns.append("field")
    columns.append("value")
    if suggests:
        columns.append("suggested")
    if unassigned:
        columns.append("reason")
    return columns, tuple((k, t[record] if k == "record_id" else t[_COLUMN_HEADER[k]])
                          for k in columns)


def _toc_row(g: dict, severity: str, e, back: bool = False) -> Markup:
    """A group's row of the table of contents (as the template wrote it: every value
    escaped, counts by `num`, the blocked count only of a blocker check; `back`: the list
    has a column of findings back on it because their answer ended)."""
    blocked = num(g["blocked"]) if g["severity"] == "blocker" else ""
    return Markup(
        f'<tr class="t-{e(g["severity"])}"><td class="num">{g["order"]}</td>'
        f'<td><a href="#{e(g["anchor"])}">{g["title"]}</a></td><td><code>{g["check_code"]}'
        f'</code></td><td class="sev">{e(severity)}</td><td class="num">{num(g["count"])}</td>'
        f'<td class="num">{blocked}</td><td class="num">{num(g["new"])}</td>'
        + (f'<td class="num">{num(g["back"])}</td>' if back else "") + '</tr>')


def write_fix_list(common: Common, job: FixList) -> list[Path]:
    """Write one clinic's XLSX, CSV and HTML; return their paths in that order."""
    t = Texts(common.lang)
    folder, run = common.folder, common.run
    unassigned = job.mo_code is None
    heading = t.unassigned_title if unassigned else (job.name or job.mo_code)

    xlsx = _write_xlsx(inside(folder, f"{job.stem}.xlsx"), job, common, t, heading)
    csv = _write_csv(job.csv, inside(folder, f"{job.stem}.csv"))
    html = render("fixlist.html.j2", inside(folder, f"{job.stem}.html"), T=t, lang=t.lang,
                  run=run, heading=heading, mo_code=job.mo_code, unassigned=unassigned,
                  summary=job.summary, groups=job.groups,
                  sev_label=t.mapping(SEVERITY), fixed=job.fixed,
                  previous=common.previous, entity_label=t.mapping(ENTITY),
                  empty_label=t.empty_value)
    return [xlsx, csv, html]


_MO = "\x00mo_code"  # a key column no localised header can equal


def _by_clinic(frame: pl.DataFrame, mo_code: pl.Series,
               steward: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`frame` keyed by clinic (_MO) in two: the clinics' rows without the column `steward`
    (a clinic's list leaves it out), the unassigned list's rows with it."""
    keyed = frame.with_columns(mo_code.alias(_MO))
    unassigned = pl.col(_MO).is_null()
    return keyed.filter(~unassigned).drop(steward), keyed.filter(unassigned)


def _cut(keyed: pl.DataFrame) -> dict:
    """{(mo_code,): its rows} of a frame keyed by clinic (`_by_clinic`)."""
    return keyed.partition_by(_MO, as_dict=True, maintain_order=True, include_key=False)


#: Parts of the fix lists per report worker: the lists are built from frames of many clinics
#: at once (cheap per clinic), in parts so that every worker builds some (a dense region's
#: 500k findings would keep the parent busy for seconds while the workers wait) and the last
#: parts still even out the workers' ends.
PARTS_PER_WORKER = 4


@dataclass(frozen=True)
class _Part:
    """Some clinics' lists as data (each clinic's rows whole in one part): a worker process
    builds their FixLists (`_lists_of`) and writes them (`_write_part`)."""
    #: work_findings of these clinics without the catalogue texts: `_lists_of` joins them
    #: (a check's texts on each of its findings were ~80% of the bytes sent to the workers)
    findings: pl.DataFrame
    waived: dict
    fixed: pl.DataFrame  # data.fixed of these clinics, with texts
    names: dict
    codes: list  # these clinics in list order (None: the unassigned list)
    stems: dict  # clinic_stems of every clinic of the run


def _parts(con, run_id: str, run: data.Run, lang: str, loaded: pl.DataFrame | None,
           count: int) -> list[_Part]:
    """What the fix lists need from DuckDB, read here once, cut into about `count` parts of
    consecutive clinics with about as many findings each (the unassigned list last)."""
    findings, waived = work_findings(con, run_id, run, lang, loaded, texts=False)
    fixed = data.with_texts(data.fixed(con, run_id), lang)
    names = data.clinic_names(con, run_id)
    codes = sorted(set(listed_clinics(con, run_id)) | {c for c in waived if c is not None}
                   | {c for c in findings["mo_code"].unique() if c is not None})
    stems = clinic_stems(codes)
    order = [*codes, None]
    sizes = dict(findings.group_by("mo_code").len().iter_rows())
    share = max(1, -(-(findings.height + len(order)) // max(1, count)))
    chunks, chunk, size = [], [], 0
    for code in order:
        chunk.append(code)
        size += sizes.get(code, 0) + 1
        if size >= share:
            chunks.append(chunk)
            chunk, size = [], 0
    if chunk:
        chunks.append(chunk)
    parts = []
    for chunk in chunks:
        known = [c for c in chunk if c is not None]
        mine = pl.col("mo_code").is_in(known)
        if None in chunk:
            mine = mine | pl.col("mo_code").is_null()
        parts.append(_Part(findings.filter(mine), {c: waived[c] for c in chunk if c in waived},
                           fixed.filter(mine), {c: names[c] for c in known if c in names},
                           chunk, stems))
    return parts


def _lists_of(part: _Part, lang: str) -> list[FixList]:
    """The part's clinics' fix lists, cut from frames built once for all of them (labels, CSV
    rows, each kind of sheet, neutralised, with their column widths' lengths): a handful of
    polars calls in all instead of dozens per clinic."""
    t = Texts(lang)
    findings, waived, fixed, names = part.findings, part.waived, part.fixed, part.names
    findings = data.with_texts(findings, lang)
    codes, stems = part.codes, part.stems
    groups = _groups(findings)
    rows = _labelled(_ordered(findings, groups), t)
    summaries = data.summaries(findings, fixed, "mo_code")
    fixed_counts = dict(fixed.group_by("mo_code").len().iter_rows())

    all_csv = neutralise_frame(_csv_frame(rows, t, unassigned=True))
    csv_parts = {k: v for keyed in _by_clinic(all_csv, rows["mo_code"], t.reason)
                 for k, v in _csv_texts(keyed, t.lang).items()}
    sheet_of = rows["entity"].replace_strict(SHEET_OF, default="file", return_dtype=pl.String)
    sheet_parts: dict = {}
    for key in SHEETS:
        part = rows.filter(sheet_of == key)
        if not part.height:
            continue
        frame = neutralise_frame(_sheet_frame(part, key, t))
        text_for = {d: c for d, c in _date_text(t).items() if d in frame.columns}
        frame = frame.drop([c for c in _date_text(t).values() if c not in text_for.values()])
        longest = longest_by(frame.with_columns(part["mo_code"].alias(_MO)), _MO, text_for)
        for keyed in _by_clinic(frame, part["mo_code"], t.reason):
            prepared = bulk_rows(keyed, _MO, text_for)
            for (mo_code,), cut in _cut(keyed).items():
                sheet_parts.setdefault(mo_code, {})[key] = (cut, longest[mo_code],
                                                            prepared[mo_code])
    checks = neutralise_frame(_checks_frame(groups, t)).with_columns(
        groups["mo_code"].alias(_MO))
    checks_longest = longest_by(checks, _MO)
    checks_parts = checks.partition_by(_MO, as_dict=True, maintain_order=True,
                                       include_key=False)

    group_parts = _html_groups(rows, groups, t)
    fixed_parts: dict = {}
    for row in fixed.iter_rows(named=True):
        fixed_parts.setdefault(row["mo_code"], []).append(row)
    no_csv = {None: all_csv.clear().write_csv(separator=CSV_SEPARATOR[t.lang]),
              "clinic": all_csv.clear().drop(t.reason).write_csv(
                  separator=CSV_SEPARATOR[t.lang])}
    no_checks = checks.drop(_MO).clear()
    jobs = []
    for mo_code in codes:
        summary = summaries.get(mo_code) or {**_ZERO,
                                             "fixed_since_last": fixed_counts.get(mo_code, 0)}
        summary = {**_ZERO, **summary, "waived_count": waived.get(mo_code, 0)}
        key = (mo_code,)
        jobs.append(FixList(
            stem=stems[mo_code], mo_code=mo_code,
            name=names.get(mo_code, "") if mo_code is not None else "",
            summary=summary,
            groups=group_parts.get(mo_code, []),
            csv=csv_parts.get(key, no_csv[None if mo_code is None else "clinic"]),
            sheets=sheet_parts.get(mo_code, {}),
            checks=(checks_parts.get(key, no_checks), checks_longest.get(mo_code, {})),
            fixed=fixed_parts.get(mo_code, [])))
    return jobs


def _write_part(common: Common, part: _Part) -> list[Path]:
    """Build and write the part's fix lists (in a worker process)."""
    return [path for job in _lists_of(part, common.lang) for path in write_fix_list(common, job)]


def write_clinic_reports(con, run_id: str, out: Path, lang: str = "ru",
                         workers: int | None = None) -> list[Path]:
    """Write every clinic's fix list (and the unassigned list) of `run_id` under OUT/clinics.

    `workers`: processes writing the files (default: one per core; runs with fewer than
    `parallel.MIN_JOBS` clinics are written in this process)."""
    jobs = data.clinic_count(con, run_id)
    parallel.warm_up(jobs, workers)
    with parallel.Pool(parallel.use_pool(jobs, workers)) as pool:
        files = submit_clinic_reports(con, run_id, out, lang, pool)
        return [path for future in files for path in future.result()]


def submit_clinic_reports(con, run_id: str, out: Path, lang: str, pool: parallel.Pool,
                          loaded: pl.DataFrame | None = None) -> list:
    """Read what every clinic's fix list of `run_id` needs here (this process reads DuckDB)
    and hand building and writing them to `pool` in parts of consecutive clinics, the largest
    parts first; the futures of their paths (in list order), so the caller can prepare
    something else meanwhile (pipeline.render_outputs: the auditor report).
    `loaded`: the run's `data.load_with_lifecycle`, where the caller shares it."""
    t = Texts(lang)
    run = data.load_run(con, run_id)
    previous = lifecycle.previous_run(con, run_id)
    folder = Path(out) / "clinics"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    parts = _parts(con, run_id, run, t.lang, loaded, PARTS_PER_WORKER * pool.workers)
    common = Common(folder.resolve(), run, previous, t.lang)
    return pool.submit_all(partial(_write_part, common), parts,
                           [p.findings.height + len(p.codes) for p in parts])

