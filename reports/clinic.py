"""Clinic fix lists: `OUT/clinics/<mo_code>.xlsx`, `.csv`, `.html` per clinic with findings, and
`OUT/clinics/unassigned.*` for the data steward.

A clinic's files hold only the findings routed to it (`findings.mo_code`) and show the full
current value and, beside it, the full value the insured-persons register suggests (issue 12;
empty where the register has none): the clinic owns those records. Rows: blockers first, then by check and record.
Each row carries its lifecycle status (new / open / reopened) and days open; the summary counts
what the clinic fixed since the last run, and the HTML lists those fixed records.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl

from checks import lifecycle
from reports import data, parallel
from reports.html import records, render
from reports.i18n import CSV_SEPARATOR, ENTITY, LIFECYCLE, REASON, SEVERITY, Texts
from reports.safe import inside, neutralise_frame, neutralise_text, safe_stem
from reports.xlsx import write_workbook

UNASSIGNED = "unassigned"

#: Which sheet of the workbook an entity's findings go to (unknown entities: the file sheet).
SHEET_OF = {"patient": "patient", "policy": "policy", "attachment": "attachment",
            "slot": "schedule", "doctor": "schedule", "mo_specialty": "schedule", "file": "file"}
CLINIC_SHEETS = ("patient", "policy", "attachment", "schedule")

#: Display columns in order: (finding column, i18n key of its header).
COLUMNS = (("severity", "severity"), ("status", "status"), ("days_open", "days_open"),
           ("message", "message"), ("entity", "entity"),
           ("record_id", "record_id"), ("field", "field"), ("value", "value"),
           ("suggested_value", "suggested"), ("fix", "fix"),
           ("rule", "rule"), ("check_code", "check_code"), ("patient_id", "patient_id"))
REASON_COLUMN = ("unassigned_reason", "reason")
WIDTHS = {"severity": 110, "status": 90, "days_open": 80, "message": 380, "entity": 120,
          "record_id": 150, "field": 130, "value": 200, "suggested_value": 200, "fix": 440,
          "rule": 110,
          "check_code": 190, "patient_id": 110, "unassigned_reason": 320, "title": 320,
          "count": 90}
WRAP = ("message", "fix", "title", "unassigned_reason", "value", "suggested_value")


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
    """`frame` is already neutralised (see `_fix_lists`)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        frame.write_csv(fh, include_bom=True, separator=CSV_SEPARATOR[lang])
    return path


SUMMARY_KEYS = ("findings_total", "blockers", "warnings", "patients_affected", "new_count",
                "reopened_count", "fixed_since_last")


def _summary_frame(t: Texts, run: data.Run, mo_code: str | None, name: str,
                   summary: dict[str, int], previous: str | None) -> pl.DataFrame:
    rows = [(t.mo_code, mo_code or ""), (t.clinic_name, name), (t.run_id, run.run_id),
            (t.run_date, run.run_date), (t.as_of, run.as_of_text)]
    rows += [(t[k], str(summary[k])) for k in SUMMARY_KEYS]
    rows.append((t.previous_run, previous or t.no_previous_run))
    # neutralised here, as `neutralise_frame` would (a clinic's name comes from the registry)
    return pl.DataFrame([(neutralise_text(k), neutralise_text(v)) for k, v in rows],
                        schema=[t.metric, t.value_col], orient="row")


@dataclass(frozen=True)
class Common:
    """What every clinic's files share."""
    folder: Path  # absolute: a worker process may have another working directory
    run: data.Run
    previous: str | None
    lang: str


@dataclass(frozen=True)
class FixList:
    """One clinic's fix list as plain data, cut from frames prepared once for all clinics:
    `write_fix_list` turns it into the three files without DuckDB or the catalogue, so a
    worker process can do it."""
    stem: str
    mo_code: str | None
    name: str
    summary: dict[str, int]
    display: pl.DataFrame  # CSV rows: localised headers and labels, neutralised
    sheets: dict[str, pl.DataFrame]  # sheet key -> its rows, as `display`
    by_check: pl.DataFrame  # localised, neutralised
    rows: pl.DataFrame  # the findings as stored, for the HTML
    fixed: pl.DataFrame


def write_fix_list(common: Common, job: FixList) -> list[Path]:
    """Write one clinic's XLSX, CSV and HTML; return their paths in that order."""
    t = Texts(common.lang)
    folder, run, previous = common.folder, common.run, common.previous
    mo_code, name, summary, stem = job.mo_code, job.name, job.summary, job.stem
    unassigned = mo_code is None
    heading = t.unassigned_title if unassigned else (name or mo_code)
    csv = _write_csv(job.display, inside(folder, f"{stem}.csv"), t.lang)

    keys = list(CLINIC_SHEETS) + (["file"] if unassigned or "file" in job.sheets else [])
    empty = job.display.clear()
    sheets = [(t[f"sheet_{k}"], f"findings_{k}", job.sheets.get(k, empty)) for k in keys]
    widths = {t[k]: WIDTHS[c] for c, k in COLUMNS + (REASON_COLUMN,)}
    widths |= {t.title_col: WIDTHS["title"], t.count: WIDTHS["count"]}
    xlsx = write_workbook(
        inside(folder, f"{stem}.xlsx"), title=f"{heading} — {t.fixlist_title}",
        summary_sheet=t.sheet_summary,
        summary=_summary_frame(t, run, mo_code, name, summary, previous),
        by_check=job.by_check, sheets=sheets, severity_column=t.severity,
        blocker_label=t.severity_of("blocker"), widths=widths,
        new_column=t.status, new_label=t.status_of("new"),
        wrap=tuple(t[k] for c, k in COLUMNS + (REASON_COLUMN,) if c in WRAP) + (t.title_col,),
        neutralised=True)

    html = render("fixlist.html.j2", inside(folder, f"{stem}.html"), T=t, lang=t.lang, run=run,
                  heading=heading, mo_code=mo_code, unassigned=unassigned, summary=summary,
                  rows=records(job.rows), sev_label=t.mapping(SEVERITY),
                  fixed=job.fixed.to_dicts(), previous=previous,
                  entity_label=t.mapping(ENTITY), reason_label=t.mapping(REASON))
    return [xlsx, csv, html]


_MO, _SHEET = "\x00mo_code", "\x00sheet"  # key columns no localised header can equal


def _fix_lists(findings: pl.DataFrame, fixed: pl.DataFrame, names: dict[str, str],
               t: Texts) -> list[FixList]:
    """Every clinic's fix list (the unassigned one last), each frame cut from one frame built
    for all clinics: a handful of polars calls in all instead of dozens per clinic."""
    reason = t[REASON_COLUMN[1]]
    keyed = neutralise_frame(_display(findings, t, unassigned=True)).with_columns(
        findings["mo_code"].alias(_MO),
        findings["entity"].replace_strict(SHEET_OF, default="file", return_dtype=pl.String)
        .alias(_SHEET))
    display = keyed.partition_by(_MO, as_dict=True, maintain_order=True, include_key=False)
    sheets = keyed.partition_by([_MO, _SHEET], as_dict=True, maintain_order=True,
                                include_key=False)
    counts = data.sort_findings(
        findings.group_by("mo_code", "check_code", "title", "severity").len("count"))
    by_check = neutralise_frame(counts.select(
        pl.col("check_code").alias(t.check_code), pl.col("title").alias(t.title_col),
        pl.col("severity").replace(t.mapping(SEVERITY)).alias(t.severity),
        pl.col("count").alias(t.count))).with_columns(counts["mo_code"].alias(_MO))
    by_check = by_check.partition_by(_MO, as_dict=True, maintain_order=True, include_key=False)
    rows = findings.partition_by("mo_code", as_dict=True, maintain_order=True)
    fixed_parts = fixed.partition_by("mo_code", as_dict=True, maintain_order=True)
    summaries = data.summaries(findings, fixed, "mo_code")
    stems = clinic_stems([key[0] for key in rows])

    def cut(frame: pl.DataFrame, unassigned: bool) -> pl.DataFrame:
        if not unassigned:
            frame.drop_in_place(reason)  # a fresh frame from partition_by: ours to change
        return frame

    no_fixed = fixed.clear()
    jobs = []
    for (mo_code,) in sorted(rows, key=lambda k: (k[0] is None, k[0] or "")):
        unassigned = mo_code is None
        part = cut(display[(mo_code,)], unassigned)
        part.drop_in_place(_SHEET)
        jobs.append(FixList(
            stem=stems[mo_code], mo_code=mo_code,
            name=names.get(mo_code, "") if not unassigned else "",
            summary=summaries[mo_code], display=part,
            sheets={k: cut(sheets[(mo_code, k)], unassigned) for k in (*CLINIC_SHEETS, "file")
                    if (mo_code, k) in sheets},
            by_check=by_check[(mo_code,)], rows=rows[(mo_code,)],
            fixed=fixed_parts.get((mo_code,), no_fixed)))
    return jobs


def write_clinic_reports(con, run_id: str, out: Path, lang: str = "ru",
                         workers: int | None = None) -> list[Path]:
    """Write every clinic's fix list (and the unassigned list) of `run_id` under OUT/clinics.

    `workers`: processes writing the files (default: one per core; runs with fewer than
    `parallel.MIN_JOBS` clinics are written in this process)."""
    t = Texts(lang)
    run = data.load_run(con, run_id)
    parallel.warm_up(data.clinic_count(con, run_id), workers)
    findings = data.with_texts(data.with_lifecycle(con, run_id, data.load_findings(con, run_id)),
                               lang)
    fixed = data.with_texts(data.fixed(con, run_id), lang)
    previous = lifecycle.previous_run(con, run_id)
    names = data.clinic_names(con, run_id)
    folder = Path(out) / "clinics"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    jobs = _fix_lists(findings, fixed, names, t)
    common = Common(folder.resolve(), run, previous, t.lang)
    with parallel.Pool(parallel.use_pool(len(jobs), workers)) as pool:
        files = pool.map(partial(write_fix_list, common), jobs, [j.rows.height for j in jobs])
    return [path for paths in files for path in paths]
