"""Set-level and cross-table checks as DuckDB SQL over the typed staging tables of one run.

One SQL file per check code in checks/sql/. The same text runs here, uncapped, through DuckDB
and as a Great Expectations UnexpectedRowsExpectation (checks/gx_suite.py), so each template
names its entity table `$batch` (GX's `{batch}`) and takes the run parameters as SQL literals
(GX cannot bind parameters): `$as_of` TIMESTAMP, `$d` DATE (= as_of's date), `$stale_hours`,
`$horizon_days` integers, `$run_id` text. `render_sql` is the only place they are substituted.

Each query returns the raw-finding shape (checks/findings.py), one row per (check_code,
record_id): check_code, record_id, field, value, patient_id, route_mo, all VARCHAR.
"""
from __future__ import annotations

import string
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

SQL_DIR = Path(__file__).resolve().parent / "sql"

#: Columns of the raw-finding shape, in order.
FINDING_COLUMNS = ("check_code", "record_id", "field", "value", "patient_id", "route_mo")

#: The staging table whose rows a check is about (its `$batch` / GX table asset), by code prefix.
ENTITY_TABLES = {
    "PAT": "stg_patients",
    "POL": "stg_policies",
    "ATT": "stg_attachments",
    "SCH": "stg_slots",
}

#: Codes in catalogue order (patients, policies, attachments, schedule).
CODES = (
    "PAT.SNILS.DUPLICATE", "PAT.POLICY.NONE", "PAT.ATTACHMENT.NONE",
    "POL.SMO.UNKNOWN", "POL.ACTIVE.MULTIPLE", "POL.PATIENT.ORPHAN",
    "ATT.MO.UNKNOWN", "ATT.MO.EXCLUDED", "ATT.POLICY.REGION", "ATT.ACTIVE.MULTIPLE",
    "ATT.DATES.INVALID", "ATT.PATIENT.ORPHAN",
    "SCH.MO.UNKNOWN", "SCH.SPECIALTY.UNKNOWN", "SCH.OVERLAP", "SCH.DOUBLE_BOOKING",
    "SCH.BOOKED.ORPHAN", "SCH.STALE", "SCH.DOCTOR.SNILS", "SCH.HORIZON.EMPTY",
)

#: The order run_set_rules runs them in: the entity staged last first (slots, then
#: attachments, policies, patients), so each rule mostly finds its tables still in DuckDB's
#: memory. Past the memory limit (10M patients under 4 GB) the TEMP tables staged first have
#: been spilled to disk; the catalogue order read the patients back first and evicted the
#: slots for the schedule rules to read back last (10M: 50.7 -> 40.4 CPU s, 87 -> 56 s).
RUN_ORDER = tuple(code for prefix in ("SCH", "ATT", "POL", "PAT")
                  for code in CODES if code.startswith(prefix + "."))

#: code -> SQL template (text of checks/sql/<code>.sql).
SET_RULES: dict[str, str] = {code: (SQL_DIR / f"{code}.sql").read_text(encoding="utf-8")
                             for code in CODES}


def entity_table(code: str) -> str:
    """The staging table a check's `$batch` stands for."""
    return ENTITY_TABLES[code.split(".", 1)[0]]


def _text_literal(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"run_id must be str, not {type(value).__name__}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"run_id contains a control character: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def _int_literal(name: str, value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, not {value!r}")
    return str(value)


#: Reading 11, declared once for every doctor check: a doctor's findings go to the most
#: frequent mo_code among the doctor's future slots (CTE `f` of the query), ties to the
#: smallest. Templates use it as `route AS ($doctor_route)`.
DOCTOR_ROUTE = """
    SELECT doctor_id, mo_code
    FROM (SELECT doctor_id, mo_code, count(*) AS n FROM f GROUP BY doctor_id, mo_code)
    QUALIFY row_number() OVER (PARTITION BY doctor_id ORDER BY n DESC, mo_code) = 1
"""

#: The (h, start_ts, end_ts) of the slots of CTE `overlap_candidates` (h: hash(doctor_id),
#: start_ts, end_ts) that overlap another candidate of the same h: SCH.OVERLAP's and
#: SCH.DOUBLE_BOOKING's first step, each over its own candidates. With a doctor's slots sorted
#: by start_ts, `ahead`: the slots that overlap the next one (its start is before their end).
#: Every overlapping pair has its earlier slot `ahead` (the next slot starts no later than the
#: pair's later one, so before the earlier one's end), so the slots with a partner are the
#: `ahead` ones and those starting within an `ahead` slot of their h (start_j <= start_i <
#: end_j; at equal starts either order is fine: slots starting together overlap; a NULL h is
#: one partition in both steps, hence IS NOT DISTINCT FROM). One cheap window (lead over three
#: columns) and a join on h to the few `ahead` slots, instead of a running max over every
#: earlier slot (a frame the window evaluates per row: 1M: 0.26 -> 0.16 CPU s). Overlap is
#: symmetric, so every partner of a slot kept is kept too, and a slot left out has no partner:
#: the rule's exact second step sees the same partners on these few slots as on all.
#: It partitions by hash(doctor_id), an integer (a sort on it costs less than on the text):
#: should two doctors share a hash, their slots only add candidates (a slot overlapping a slot
#: of its own doctor is still kept), and the second step works by doctor_id. Templates use it
#: as `near AS ($overlapping)`.
OVERLAPPING = """
    WITH sorted AS (
        SELECT h, start_ts, end_ts,
               coalesce(lead(start_ts) OVER (PARTITION BY h ORDER BY start_ts) < end_ts,
                        false) AS ahead
        FROM overlap_candidates
    )
    SELECT h, start_ts, end_ts FROM sorted WHERE ahead
    UNION ALL
    SELECT s.h, s.start_ts, s.end_ts
    FROM sorted AS s
    SEMI JOIN (SELECT h, start_ts, end_ts FROM sorted WHERE ahead) AS a
        ON a.h IS NOT DISTINCT FROM s.h AND a.start_ts <= s.start_ts AND s.start_ts < a.end_ts
    WHERE NOT s.ahead
"""


def render_sql(template: str, *, batch: str, run_id: str, as_of: datetime,
               stale_hours: int = 24, horizon_days: int = 14) -> str:
    """Substitute the run parameters into a template as SQL literals; the only substitution.

    Literals are built from typed values, never pasted text: a naive datetime, non-negative
    ints, and run_id as a quoted string with quotes doubled (control characters refused).
    `batch` is put in verbatim (a table name, or GX's placeholder).
    """
    if not isinstance(as_of, datetime) or as_of.tzinfo is not None:
        raise ValueError(f"as_of must be a naive datetime (local time), not {as_of!r}")
    values = {
        "batch": batch,
        "run_id": _text_literal(run_id),
        "as_of": f"TIMESTAMP '{as_of.isoformat(sep=' ')}'",
        "d": f"DATE '{as_of.date().isoformat()}'",
        "stale_hours": _int_literal("stale_hours", stale_hours),
        "horizon_days": _int_literal("horizon_days", horizon_days),
        "doctor_route": DOCTOR_ROUTE,
        "overlapping": OVERLAPPING,
    }
    return string.Template(template).substitute(values)


def rule_sql(code: str, *, run_id: str, as_of: datetime, stale_hours: int = 24,
             horizon_days: int = 14) -> str:
    """The executable DuckDB SQL of one check for one run."""
    return render_sql(SET_RULES[code], batch=entity_table(code), run_id=run_id, as_of=as_of,
                      stale_hours=stale_hours, horizon_days=horizon_days)


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema={c: pl.Utf8 for c in FINDING_COLUMNS})


def run_rule(con: duckdb.DuckDBPyConnection, code: str, *, run_id: str, as_of: datetime,
             stale_hours: int = 24, horizon_days: int = 14) -> pl.DataFrame:
    """All findings of one check (uncapped), in the raw-finding shape."""
    sql = rule_sql(code, run_id=run_id, as_of=as_of, stale_hours=stale_hours,
                   horizon_days=horizon_days)
    cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in FINDING_COLUMNS)
    table = con.sql(f"SELECT {cols} FROM (\n{sql}\n) AS findings").to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.cast({c: pl.Utf8 for c in FINDING_COLUMNS})


def run_set_rules(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
                  stale_hours: int = 24, horizon_days: int = 14,
                  codes: tuple[str, ...] | None = None) -> pl.DataFrame:
    """Every finding of the set-level checks (all of CODES, or `codes`) on the stg_* tables,
    sorted by (check_code, record_id); all of them run in RUN_ORDER."""
    frames = [run_rule(con, code, run_id=run_id, as_of=as_of, stale_hours=stale_hours,
                       horizon_days=horizon_days) for code in (codes or RUN_ORDER)]
    found = pl.concat([empty_findings(), *frames], how="vertical")
    return found.sort(["check_code", "record_id"])
