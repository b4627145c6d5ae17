"""What the reports read: one run's ledger row, its findings, clinic names, catalogue texts,
the history of runs and each finding's lifecycle (checks/lifecycle.py). Only reads; every
number is counted from the stored findings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from checks import catalogue, lifecycle
from checks.masking import mask_enp

FINDING_COLUMNS = ("run_id", "check_code", "severity", "entity", "record_id", "mo_code",
                   "unassigned_reason", "field", "value", "value_masked", "patient_id",
                   "suggested_value", "suggested_masked", "waiver_id")
#: Columns a warehouse written before contract v1.2 lacks until `warehouse.ensure_schema` adds
#: them (a read-only connection, e.g. `talon deliver`'s, does not): read as "" (no suggestion).
V12_COLUMNS = ("suggested_value", "suggested_masked")
#: The waiver that covers a finding (issue 13, flows/waivers.py); NULL: the finding is open. A
#: warehouse written before issue 13 has no such column: read as NULL (no waivers).
WAIVER_COLUMN = "waiver_id"
SEVERITY_ORDER = {"blocker": 0, "warning": 1}
#: Entities whose record_id is itself personal data: entity -> its mask for auditors' outputs.
#: A row of the insured-persons register (ROW.DUPLICATE_ID on registry.csv) is keyed on its ENP.
PERSONAL_RECORD_IDS = {"insured": mask_enp}
#: The codes of the register reconciliation (issue 12) and the one that counts the not found.
REG_PREFIX = "REG."
REG_NOT_FOUND = "REG.PERSON.NOT_FOUND"
REG_TIERS = (1, 2, 3, 4)  # 1 enp, 2 snils, 3 name + birth date, 4 near match


@dataclass(frozen=True)
class Run:
    run_id: str
    as_of: datetime
    started_at: datetime | None
    status: str
    region_code: str | None

    @property
    def run_date(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M}" if self.started_at else ""

    @property
    def as_of_text(self) -> str:
        return f"{self.as_of:%Y-%m-%d %H:%M:%S}"


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """A query's result as a polars frame (DuckDB 2's connection has no `.pl()`)."""
    return con.sql(sql, params=params or []).pl()


def load_run(con: duckdb.DuckDBPyConnection, run_id: str) -> Run:
    rows = query(con, "SELECT run_id, as_of, started_at, status, region_code FROM runs "
                      "WHERE run_id = ?", [run_id]).rows()
    if not rows:
        raise ValueError(f"run {run_id!r} is not in the warehouse's run ledger")
    return Run(*rows[0])


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}


def load_findings(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """The run's findings, blockers first, then by check, record id. A finding without a
    suggested value has "" in suggested_value and suggested_masked (never NULL). Waived
    findings are included, with their `waiver_id` (`open_findings` drops them)."""
    have = _columns(con, "findings")
    select = ", ".join(f"coalesce({c}, '') AS {c}" if c in V12_COLUMNS and c in have
                       else f"'' AS {c}" if c in V12_COLUMNS
                       else f"NULL AS {c}" if c == WAIVER_COLUMN and c not in have
                       else c for c in FINDING_COLUMNS)
    # Ordered by DuckDB first (in parallel, a third of polars' CPU for a dense region's 500k
    # findings), then by `sort_findings` as ever: the order stays polars', and polars sorts
    # rows that are in order already ~8 times faster than the same rows unordered.
    rank = " ".join(f"WHEN '{s}' THEN {r}" for s, r in SEVERITY_ORDER.items())
    frame = query(con, f"SELECT {select} FROM findings WHERE run_id = ? ORDER BY CASE "
                       f"severity {rank} ELSE 9 END, check_code NULLS FIRST, "
                       "entity NULLS FIRST, record_id NULLS FIRST", [run_id])
    frame = frame.cast({c: pl.String for c in FINDING_COLUMNS})
    return sort_findings(frame)


def open_findings(frame: pl.DataFrame) -> pl.DataFrame:
    """The findings no waiver covers (`waiver_id` null): what fix lists show and booking impact
    counts. A waived finding stays in the warehouse (and in findings.csv)."""
    if WAIVER_COLUMN not in frame.columns:
        return frame
    return frame.filter(pl.col(WAIVER_COLUMN).is_null())


def mask_record_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """record_id masked where it is personal data (PERSONAL_RECORD_IDS): for every output an
    auditor reads (findings.csv, the auditors' pages). Call it after anything that joins on
    record_id (the lifecycle's keys)."""
    if "entity" not in frame.columns or not frame.height:
        return frame
    record_id = pl.col("record_id")
    for entity, mask in PERSONAL_RECORD_IDS.items():
        record_id = pl.when(pl.col("entity") == entity).then(mask("record_id")).otherwise(record_id)
    return frame.with_columns(record_id.alias("record_id"))


def severity_rank() -> pl.Expr:
    return pl.col("severity").replace_strict(SEVERITY_ORDER, default=9, return_dtype=pl.Int8)


def sort_findings(frame: pl.DataFrame) -> pl.DataFrame:
    """Blockers first, then by check, entity, record id (the order of every list)."""
    return frame.sort(severity_rank(), *[c for c in ("check_code", "entity", "record_id")
                                         if c in frame.columns])


def clinic_count(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """How many fix lists the run's findings make: one per clinic, one for the unassigned."""
    return query(con, "SELECT count(DISTINCT mo_code) + max((mo_code IS NULL)::INT) "
                      "FROM findings WHERE run_id = ?", [run_id]).rows()[0][0] or 0


def clinic_names(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, str]:
    """mcod -> name from the run's F003 (the latest inclusion period's name where they differ)."""
    rows = query(con,
        """SELECT mcod, arg_max(name, coalesce(d_begin, DATE '0001-01-01'))
           FROM ref_f003 WHERE run_id = ? AND mcod IS NOT NULL GROUP BY mcod""",
        [run_id]).rows()
    return {mcod: name or "" for mcod, name in rows}


def catalogue_texts(lang: str) -> pl.DataFrame:
    """check_code -> title, message, fix, rule in `lang` (empty frame when none declared)."""
    checks = catalogue.CHECKS
    return pl.DataFrame({
        "check_code": [c.code for c in checks],
        "title": [c.title(lang) for c in checks],
        "message": [c.message(lang) for c in checks],
        "fix": [c.fix(lang) for c in checks],
        "rule": [c.rule for c in checks],
    }, schema={k: pl.String for k in ("check_code", "title", "message", "fix", "rule")})


def with_texts(findings: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Join the catalogue's texts; an undeclared code shows its code as its message."""
    joined = findings.join(catalogue_texts(lang), on="check_code", how="left",
                           maintain_order="left")
    return joined.with_columns(
        pl.coalesce("title", "check_code").alias("title"),
        pl.coalesce("message", "check_code").alias("message"),
        pl.col("fix").fill_null(""), pl.col("rule").fill_null(""))


def history(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Completed runs up to the one being reported (that one whatever its status), in the
    lifecycle's order (checks.lifecycle: as_of, then start), with counts of open findings
    (waived ones are not counted). Runs after it (a past night run again with its own as_of)
    are left out, as the lifecycle leaves them out."""
    return con.sql(
        f"""WITH {lifecycle._HISTORY}
           SELECT h.run_id, h.as_of, h.started_at,
                  count(f.check_code) AS findings,
                  count(f.check_code) FILTER (WHERE f.severity = 'blocker') AS blockers,
                  count(f.check_code) FILTER (WHERE f.severity = 'warning') AS warnings
           FROM h LEFT JOIN findings f ON f.run_id = h.run_id{lifecycle.open_sql(con, "f")}
           GROUP BY h.run_id, h.as_of, h.started_at, h.pos ORDER BY h.pos""",
        params={"run_id": run_id}).pl()


def summary(findings: pl.DataFrame) -> dict[str, int]:
    """Counts shown at the top of every report."""
    blockers = findings.filter(pl.col("severity") == "blocker")
    return {
        "findings_total": findings.height,
        "blockers": blockers.height,
        "warnings": findings.filter(pl.col("severity") == "warning").height,
        "patients_affected": findings["patient_id"].drop_nulls().n_unique(),
        "patients_blocked": blockers["patient_id"].drop_nulls().n_unique(),
    }


def summaries(findings: pl.DataFrame, fixed_rows: pl.DataFrame, by: str) -> dict:
    """`summary(part) | lifecycle_summary(part, fixed part)` of every `by` group at once (a
    loop over groups costs a few polars calls each)."""
    blocker = pl.col("severity") == "blocker"
    counts = findings.group_by(by).agg(
        pl.len().alias("findings_total"), blocker.sum().alias("blockers"),
        (pl.col("severity") == "warning").sum().alias("warnings"),
        pl.col("patient_id").drop_nulls().n_unique().alias("patients_affected"),
        pl.col("patient_id").filter(blocker).drop_nulls().n_unique().alias("patients_blocked"),
        (pl.col("status") == "new").sum().alias("new_count"),
        (pl.col("status") == "reopened").sum().alias("reopened_count"),
        (pl.col("status") == lifecycle.WAIVER_ENDED).sum().alias("waiver_ended_count"))
    fixed_counts = dict(fixed_rows.group_by(by).len().iter_rows())
    out = {}
    for row in counts.iter_rows(named=True):
        key = row.pop(by)
        out[key] = row | {"fixed_since_last": fixed_counts.get(key, 0)}
    return out


def impact(findings: pl.DataFrame, by: str, within: str | None = None,
           extra: tuple[pl.Expr, ...] = ()) -> pl.DataFrame:
    """Per `by` group: findings, blockers, warnings, distinct patients with a blocker; ranked.
    `within`: per (`within`, `by`) group instead, ranked alike (`partition_by(within)` then
    gives each `within` group's own table); `extra`: more aggregations."""
    return (findings.group_by(*([within] if within else []), by).agg(
                pl.len().alias("findings"),
                (pl.col("severity") == "blocker").sum().alias("blockers"),
                (pl.col("severity") == "warning").sum().alias("warnings"),
                pl.col("patient_id").filter(pl.col("severity") == "blocker")
                  .drop_nulls().n_unique().alias("patients_blocked"),
                pl.col("patient_id").drop_nulls().n_unique().alias("patients_affected"),
                *extra)
            .sort(["patients_blocked", "blockers", "findings", by],
                  descending=[True, True, True, False], nulls_last=True))


LIFECYCLE_COLUMNS = ("status", "first_seen", "days_open")


def with_lifecycle(con: duckdb.DuckDBPyConnection, run_id: str,
                   findings: pl.DataFrame) -> pl.DataFrame:
    """Add status (new | open | reopened | waiver_ended), first_seen and days_open to the run's findings,
    keeping their order."""
    status = lifecycle.finding_status(con, run_id).select(*lifecycle.KEY, *LIFECYCLE_COLUMNS)
    joined = findings.join(status, on=list(lifecycle.KEY), how="left", maintain_order="left")
    # Every finding of the run has its status; a gap would be a bug, shown as "new".
    return joined.with_columns(pl.col("status").fill_null("new"),
                               pl.col("days_open").fill_null(0))


def load_with_lifecycle(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """`load_findings` with `with_lifecycle`'s columns: every finding of the run, waived ones
    too, in `load_findings`' order. The clinic lists, the auditor report and the feed page each
    start from it; written together (pipeline.write_lists_and_pages) they share one read, as
    the join keeps every row and its order (`open_findings` of it is `with_lifecycle` of the
    open findings)."""
    return with_lifecycle(con, run_id, load_findings(con, run_id))


ENDED_SCHEMA = {"check_code": pl.String, "entity": pl.String, "record_id": pl.String,
                "ended_how": pl.String, "ended_until": pl.Date, "ended_on": pl.Date}


def ended_answers(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """The answers that covered the previous run's waived findings (checks.lifecycle: a
    `waiver_ended` finding of `run_id` is one of those keys, not waived now): per key, how its
    waiver ended (`ended_how`: the waiver's status, expired | removed; active where the key
    left the waiver behind, e.g. moved entity), its `until` (`ended_until`, the last day it
    applied) and the day of its latest expired or removed event (`ended_on`). One query over
    the previous run's waived findings only (a few per clinic); empty without a previous run,
    the waiver column or the waiver tables."""
    previous = lifecycle.previous_run(con, run_id)
    if (previous is None or not lifecycle.has_waivers(con)
            or not con.execute("SELECT count(*) FROM information_schema.tables "
                               "WHERE table_name = 'waivers'").fetchall()[0][0]):
        return pl.DataFrame(schema=ENDED_SCHEMA)
    frame = query(con, """
        SELECT p.check_code, p.entity, p.record_id, min(w.status) AS ended_how,
               max(w.until) AS ended_until,
               CAST(max(e."at") FILTER (WHERE e.event IN ('expired', 'removed')) AS DATE)
                 AS ended_on
        FROM findings p
        JOIN waivers w ON w.waiver_id = p.waiver_id
        LEFT JOIN waiver_events e ON e.waiver_id = w.waiver_id
        WHERE p.run_id = ? AND p.waiver_id IS NOT NULL
        GROUP BY ALL""", [previous])
    return frame.cast(ENDED_SCHEMA) if frame.height else pl.DataFrame(schema=ENDED_SCHEMA)


def fixed(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Findings of the previous run that this run no longer has (checks.lifecycle)."""
    return sort_findings(lifecycle.fixed_findings(con, run_id))


def lifecycle_summary(findings: pl.DataFrame, fixed_rows: pl.DataFrame) -> dict[str, int]:
    """new / reopened / waiver_ended counts of `findings` (with_lifecycle) and the fixed
    count."""
    return {
        "new_count": findings.filter(pl.col("status") == "new").height,
        "reopened_count": findings.filter(pl.col("status") == "reopened").height,
        "waiver_ended_count": findings.filter(pl.col("status") == lifecycle.WAIVER_ENDED).height,
        "fixed_since_last": fixed_rows.height,
    }


def had_register(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the run read an insured-persons register (registry.csv or .parquet)."""
    return bool(query(con, "SELECT count(*) FROM run_files WHERE run_id = ? AND entity = 'insured'",
                      [run_id]).rows()[0][0])


def register_summary(con: duckdb.DuckDBPyConnection, run_id: str,
                     findings: pl.DataFrame) -> dict | None:
    """The run's reconciliation with the insured-persons register, or None when it had none.

    `patients`: patients loaded from the extract (each one is linked or not found); `tiers`:
    {tier: patients linked by it} for tiers 1..4 (reg_links); `not_found`: patients with
    REG.PERSON.NOT_FOUND; `blocked`: distinct patients with a REG blocker; `suggestions`:
    findings with a suggested value (`findings` needs suggested_masked only); `by_clinic`: `impact` of the REG findings per mo_code
    (None: unassigned). Counts only: no value, no identifier."""
    if not had_register(con, run_id):
        return None
    patients = query(con, "SELECT coalesce(sum(rows_loaded), 0) FROM run_files "
                          "WHERE run_id = ? AND entity = 'patient'", [run_id]).rows()[0][0]
    tiers = dict(query(con, "SELECT tier, count(DISTINCT patient_id) FROM reg_links "
                            "WHERE run_id = ? GROUP BY tier", [run_id]).rows())
    reg = findings.filter(pl.col("check_code").str.starts_with(REG_PREFIX))
    blocked = reg.filter(pl.col("severity") == "blocker")["patient_id"].drop_nulls().n_unique()
    not_found = (reg.filter(pl.col("check_code") == REG_NOT_FOUND)["patient_id"]
                 .drop_nulls().n_unique())
    # (suggested_masked: the auditor's frame has no full values; a mask is empty iff its value is)
    suggestions = findings.filter(pl.col("suggested_masked").fill_null("") != "").height
    return {
        "patients": int(patients),
        "tiers": {tier: int(tiers.get(tier, 0)) for tier in REG_TIERS},
        "linked": int(sum(tiers.values())),
        "not_found": not_found,
        "blocked": blocked,
        "findings": reg.height,
        "suggestions": suggestions,
        "by_clinic": impact(reg, "mo_code"),
    }
