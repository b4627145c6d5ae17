"""Clinic fix lists: `OUT/clinics/<mo_code>.xlsx`, `.csv`, `.html` per clinic with findings, and
`OUT/clinics/unassigned.*` for the data steward.

A clinic's files hold only the findings routed to it (`findings.mo_code`) and show the full
current value: the clinic owns those records. Rows: blockers first, then by check and record.
Each row carries its lifecycle status (new / open / reopened) and days open; the summary counts
what the clinic fixed since the last run, and the HTML lists those fixed records.
"""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from checks import lifecycle
from reports import data
from reports.html import render
from reports.i18n import CSV_SEPARATOR, ENTITY, LIFECYCLE, REASON, SEVERITY, Texts
from reports.safe import inside, neutralise_frame, safe_stem
from reports.xlsx import write_workbook

UNASSIGNED = "unassigned"

#: Which sheet of the workbook an entity's findings go to (unknown entities: the file sheet).
SHEET_OF = {"patient": "patient", "policy": "policy", "attachment": "attachment",
            "slot": "schedule", "doctor": "schedule", "mo_specialty": "schedule", "file": "file"}
CLINIC_SHEETS = ("patient", "policy", "attachment", "schedule")

#: Display columns in order: (finding column, i18n key of its header).
COLUMNS = (("severity", "severity"), ("status", "status"), ("days_open", "days_open"),
           ("message", "message"), ("entity", "entity"),
           ("record_id", "record_id"), ("field", "field"), ("value", "value"), ("fix", "fix"),
           ("rule", "rule"), ("check_code", "check_code"), ("patient_id", "patient_id"))
REASON_COLUMN = ("unassigned_reason", "reason")
WIDTHS = {"severity": 110, "status": 90, "days_open": 80, "message": 380, "entity": 120,
          "record_id": 150, "field": 130, "value": 200, "fix": 440, "rule": 110,
          "check_code": 190, "patient_id": 110, "unassigned_reason": 320, "title": 320,
          "count": 90}
WRAP = ("message", "fix", "title", "unassigned_reason", "value")


def clinic_stems(codes: list[str]) -> dict[str | None, str]:
    """mo_code -> file stem (None -> `unassigned`); distinct codes get distinct stems."""
    stems: dict[str | None, str] = {c: safe_stem(c, reserved=(UNASSIGNED,)) for c in codes
                                    if c is not None}
    stems[None] = UNASSIGNED
    if len(set(stems.values())) != len(stems):
        raise ValueError("two clinic codes map to the same file name")
    return stems


def _display(frame: pl.DataFrame, t: Texts, unassigned: bool) -> pl.DataFrame:
    """The rows as a clerk reads them: localised labels and column headers (CSV/XLSX)."""
    columns = COLUMNS + ((REASON_COLUMN,) if unassigned else ())
    labelled = frame.with_columns(
        pl.col("severity").replace(t.mapping(SEVERITY)),
        pl.col("status").replace(t.mapping(LIFECYCLE)),
        pl.col("entity").replace(t.mapping(ENTITY)),
        pl.col("unassigned_reason").replace(t.mapping(REASON)))
    return labelled.select(pl.col(c).alias(t[k]) for c, k in columns)


def _write_csv(frame: pl.DataFrame, path: Path, lang: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        neutralise_frame(frame).write_csv(fh, include_bom=True, separator=CSV_SEPARATOR[lang])
    return path


SUMMARY_KEYS = ("findings_total", "blockers", "warnings", "patients_affected", "new_count",
                "reopened_count", "fixed_since_last")


def _summary_frame(t: Texts, run: data.Run, mo_code: str | None, name: str,
                   summary: dict[str, int], previous: str | None) -> pl.DataFrame:
    rows = [(t.mo_code, mo_code or ""), (t.clinic_name, name), (t.run_id, run.run_id),
            (t.run_date, run.run_date), (t.as_of, run.as_of_text)]
    rows += [(t[k], str(summary[k])) for k in SUMMARY_KEYS]
    rows.append((t.previous_run, previous or t.no_previous_run))
    return pl.DataFrame(rows, schema=[t.metric, t.value_col], orient="row")


def _by_check(frame: pl.DataFrame, t: Texts) -> pl.DataFrame:
    counts = (frame.group_by("check_code", "title", "severity").len("count")
              .pipe(data.sort_findings))
    return counts.select(
        pl.col("check_code").alias(t.check_code), pl.col("title").alias(t.title_col),
        pl.col("severity").replace(t.mapping(SEVERITY)).alias(t.severity),
        pl.col("count").alias(t.count))


def _write_one(frame: pl.DataFrame, fixed: pl.DataFrame, folder: Path, stem: str,
               mo_code: str | None, name: str, run: data.Run, previous: str | None,
               t: Texts) -> list[Path]:
    unassigned = mo_code is None
    heading = t.unassigned_title if unassigned else (name or mo_code)
    summary = data.summary(frame) | data.lifecycle_summary(frame, fixed)
    display = _display(frame, t, unassigned)
    csv = _write_csv(display, inside(folder, f"{stem}.csv"), t.lang)

    sheet_key = frame["entity"].replace_strict(SHEET_OF, default="file", return_dtype=pl.String)
    keys = list(CLINIC_SHEETS) + (["file"] if unassigned or (sheet_key == "file").any() else [])
    sheets = [(t[f"sheet_{k}"], f"findings_{k}", display.filter(sheet_key == k)) for k in keys]
    widths = {t[k]: WIDTHS[c] for c, k in COLUMNS + (REASON_COLUMN,)}
    widths |= {t.title_col: WIDTHS["title"], t.count: WIDTHS["count"]}
    xlsx = write_workbook(
        inside(folder, f"{stem}.xlsx"), title=f"{heading} — {t.fixlist_title}",
        summary_sheet=t.sheet_summary,
        summary=_summary_frame(t, run, mo_code, name, summary, previous),
        by_check=_by_check(frame, t), sheets=sheets, severity_column=t.severity,
        blocker_label=t.severity_of("blocker"), widths=widths,
        new_column=t.status, new_label=t.status_of("new"),
        wrap=tuple(t[k] for c, k in COLUMNS + (REASON_COLUMN,) if c in WRAP) + (t.title_col,))

    html = render("fixlist.html.j2", inside(folder, f"{stem}.html"), T=t, lang=t.lang, run=run,
                  heading=heading, mo_code=mo_code, unassigned=unassigned, summary=summary,
                  rows=frame.iter_rows(named=True), sev_label=t.mapping(SEVERITY),
                  fixed=fixed.to_dicts(), previous=previous,
                  entity_label=t.mapping(ENTITY), reason_label=t.mapping(REASON))
    return [xlsx, csv, html]


def write_clinic_reports(con, run_id: str, out: Path, lang: str = "ru") -> list[Path]:
    """Write every clinic's fix list (and the unassigned list) of `run_id` under OUT/clinics."""
    t = Texts(lang)
    run = data.load_run(con, run_id)
    findings = data.with_texts(data.with_lifecycle(con, run_id, data.load_findings(con, run_id)),
                               lang)
    fixed = data.with_texts(data.fixed(con, run_id), lang)
    previous = lifecycle.previous_run(con, run_id)
    fixed_parts = fixed.partition_by("mo_code", as_dict=True, maintain_order=True)
    names = data.clinic_names(con, run_id)
    folder = Path(out) / "clinics"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    parts = findings.partition_by("mo_code", as_dict=True, maintain_order=True)
    stems = clinic_stems([key[0] for key in parts])
    written: list[Path] = []
    for (mo_code,) in sorted(parts, key=lambda k: (k[0] is None, k[0] or "")):
        written += _write_one(parts[(mo_code,)], fixed_parts.get((mo_code,), fixed.clear()),
                              folder, stems[mo_code], mo_code,
                              names.get(mo_code, "") if mo_code is not None else "", run,
                              previous, t)
    return written
