"""How a clinic clerk finds a finding's record in the clinic's own system (MIS): for every
(entity, record_id) of the findings, the values the MIS shows, read from the run's raw tables.

- patient, policy, attachment: the patient's full name, birth date and policy: the ENP, or the
  series and number where the policy has no ENP. A policy finding shows that policy; patient and
  attachment findings show the patient's active policy on the run's date D (as_of), else the
  latest-beginning one. An attachment finding also shows the attachment's area (area_code).
- slot: the doctor id, the specialty (V021 name and code) and the slot's date and time.
- doctor: the doctor id and the specialty of most of the doctor's slots.
- mo_specialty (record_id `<mo_code>/<specialty_code>`): the specialty.
- file, insured: nothing (the line or register row is the finding's value).

Values are the clinic's own, in full (the clinic owns these records); only the clinic fix lists
use them. Everything is one DuckDB query: the findings' keys are handed to DuckDB as one Arrow
table and every raw table is read only for the ids those keys name (a semi-join on the id column
of the run's rows), so a region of a million patients with ~50k findings costs a scan of each
raw table's id column, not a join of millions of rows. Dates are parsed with the checks' own
strict parser (checks.parsing): a birth date that does not parse keeps its text (`birth_text`).
"""
from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from checks.parsing import parse_date, parse_timestamp, sql_date

#: The identity columns `identities` adds, with their types.
COLUMNS: dict[str, pl.DataType] = {
    "person": pl.String(),      # "Last First Middle" (trimmed parts, single spaces)
    "birth_date": pl.Date(),    # parsed; null when absent or unparseable
    "birth_text": pl.String(),  # the raw birth date (shown where it does not parse)
    "policy": pl.String(),      # ENP, or "series number"
    "area": pl.String(),        # the attachment's area_code
    "doctor_id": pl.String(),
    "specialty": pl.String(),   # "V021 name (code)", or the code where V021 has no name for it
    "slot_date": pl.Date(),     # the slot's start date
    "slot_time": pl.String(),   # "HH:MM–HH:MM" (start–end; start only if the end does not parse)
    "slot_text": pl.String(),   # the raw slot_start where it does not parse
}

_POLICY_TEXT = ("CASE WHEN trim(coalesce({p}enp, '')) <> '' THEN trim({p}enp) "
                "ELSE trim(concat_ws(' ', nullif(trim({p}policy_series), ''), "
                "nullif(trim({p}policy_number), ''))) END")


# Dates are read as the checks read them (checks.parsing.sql_date; DuckDB's try_strptime
# alone reads `2020-1-5` or `20-01-05` as year 20). Whether a policy is active on D, as staging
# decides it (checks.staging.stage_policies): began on or before D and has no end (the empty
# text; a blank one is an end that does not parse) or ends on or after it. Written as CASE,
# not `coalesce(begin <= D AND (end = '' OR sql_date(end) >= D), false)` (the same truth
# table, as `end = ''` is never null): DuckDB evaluates both sides of an AND/OR in a
# projection, CASE only the rows its branch takes, and most policies have no end date. Dense
# 1M region: the `pol` step 0.72 -> 0.58 CPU s.
_ACTIVE = (f"CASE WHEN coalesce(begin_d <= $d, false) "
           f"THEN CASE WHEN coalesce(date_end, '') = '' THEN true "
           f"ELSE coalesce({sql_date('date_end')} >= $d, false) END ELSE false END")


_SQL = f"""
WITH k AS (SELECT DISTINCT entity, record_id FROM $keys),
att AS (
    SELECT attachment_id AS record_id, arg_min(patient_id, line_no) AS pid,
           arg_min(area_code, line_no) AS area
    FROM raw_attachments
    WHERE run_id = $run_id AND attachment_id IN (SELECT record_id FROM k WHERE entity = 'attachment')
    GROUP BY attachment_id
),
own AS (
    SELECT policy_id AS record_id, arg_min(patient_id, line_no) AS pid,
           arg_min({_POLICY_TEXT.format(p='')}, line_no) AS policy
    FROM raw_policies
    WHERE run_id = $run_id AND policy_id IN (SELECT record_id FROM k WHERE entity = 'policy')
    GROUP BY policy_id
),
pk AS (  -- the patient each patient, policy and attachment key concerns
    SELECT k.entity, k.record_id,
           CASE k.entity WHEN 'patient' THEN k.record_id WHEN 'policy' THEN own.pid
                         ELSE att.pid END AS pid,
           own.policy AS own_policy, att.area
    FROM k
    LEFT JOIN own ON k.entity = 'policy' AND own.record_id = k.record_id
    LEFT JOIN att ON k.entity = 'attachment' AND att.record_id = k.record_id
    WHERE k.entity IN ('patient', 'policy', 'attachment')
),
pids AS (SELECT DISTINCT pid FROM pk WHERE pid IS NOT NULL),
pat AS (
    SELECT patient_id AS pid,
           arg_min(concat_ws(' ', nullif(trim(last_name), ''), nullif(trim(first_name), ''),
                             nullif(trim(middle_name), '')), line_no) AS person,
           arg_min(birth_date, line_no) AS birth_text
    FROM raw_patients
    WHERE run_id = $run_id AND patient_id IN (SELECT pid FROM pids)
    GROUP BY patient_id
),
pol AS (  -- each patient's active policy on D, else the one that began last
    -- only for the patients of patient and attachment keys: a policy key shows its own policy
    -- (keyed below), so its patient's other policies need not be read (dense 1M region: 288k
    -- patients' policies -> 204k)
    SELECT patient_id AS pid,
           arg_max(policy, struct_pack(a := {_ACTIVE}, b := begin_d, l := line_no)) AS policy
    FROM (SELECT patient_id, line_no, {_POLICY_TEXT.format(p='')} AS policy,
                 {sql_date('date_begin')} AS begin_d, date_end
          FROM raw_policies
          WHERE run_id = $run_id
            AND patient_id IN (SELECT pid FROM pk WHERE entity <> 'policy' AND pid IS NOT NULL))
    GROUP BY patient_id
),
v021 AS (  -- one name per code: the latest period's
    SELECT idspec, arg_max(name, coalesce(date_begin, DATE '0001-01-01')) AS name
    FROM ref_v021 WHERE run_id = $run_id AND idspec IS NOT NULL GROUP BY idspec
),
sl AS (
    SELECT slot_id AS record_id, arg_min(doctor_id, line_no) AS doctor_id,
           arg_min(specialty_code, line_no) AS spec, arg_min(slot_start, line_no) AS slot_start,
           arg_min(slot_end, line_no) AS slot_end
    FROM raw_slots
    WHERE run_id = $run_id AND slot_id IN (SELECT record_id FROM k WHERE entity = 'slot')
    GROUP BY slot_id
),
doc AS (  -- a doctor's specialty: the code of most of their slots (ties: the smallest)
    SELECT doctor_id AS record_id,
           arg_max(specialty_code, struct_pack(n := n, c := -rank)) AS spec
    FROM (SELECT doctor_id, specialty_code, count(*) AS n,
                 dense_rank() OVER (PARTITION BY doctor_id ORDER BY specialty_code) AS rank
          FROM raw_slots
          WHERE run_id = $run_id AND doctor_id IN (SELECT record_id FROM k WHERE entity = 'doctor')
          GROUP BY doctor_id, specialty_code)
    GROUP BY doctor_id
),
keyed AS (
    SELECT pk.entity, pk.record_id, pat.person, pat.birth_text,
           CASE WHEN pk.entity = 'policy' THEN pk.own_policy ELSE pol.policy END AS policy,
           pk.area, NULL AS doctor_id, NULL AS spec, NULL AS slot_start, NULL AS slot_end
    FROM pk LEFT JOIN pat ON pat.pid = pk.pid LEFT JOIN pol ON pol.pid = pk.pid
    UNION ALL
    SELECT 'slot', record_id, NULL, NULL, NULL, NULL, doctor_id, spec, slot_start, slot_end
    FROM sl
    UNION ALL
    SELECT 'doctor', record_id, NULL, NULL, NULL, NULL, record_id, spec, NULL, NULL FROM doc
    UNION ALL  -- `<mo_code>/<specialty_code>`: the code follows the last '/'
    SELECT entity, record_id, NULL, NULL, NULL, NULL, NULL,
           regexp_extract(record_id, '[^/]*$'), NULL, NULL
    FROM k WHERE entity = 'mo_specialty'
)
SELECT keyed.entity, keyed.record_id, person, birth_text, policy, area, doctor_id,
       CASE WHEN coalesce(spec, '') = '' THEN NULLIF(spec, '')
            WHEN v021.name IS NULL OR trim(v021.name) = '' THEN spec
            ELSE trim(v021.name) || ' (' || spec || ')' END AS specialty,
       slot_start, slot_end
FROM keyed LEFT JOIN v021 ON v021.idspec = keyed.spec
"""

_EMPTY = {"entity": pl.String(), "record_id": pl.String(), **COLUMNS}


def identities(con: duckdb.DuckDBPyConnection, run_id: str, keys: pl.DataFrame,
               as_of: datetime) -> pl.DataFrame:
    """One row per distinct (entity, record_id) of `keys` that the raw tables name: entity,
    record_id and COLUMNS (null where the record or the value is absent). Join it on
    (entity, record_id); keys it lacks (file, insured, records not in the raw tables) have no
    identity."""
    keys = keys.select(pl.col("entity").cast(pl.String), pl.col("record_id").cast(pl.String))
    if keys.is_empty():
        return pl.DataFrame(schema=_EMPTY)
    name = "_talon_identity_keys"
    con.register(name, keys.unique().to_arrow())
    try:
        sql = _SQL.replace("$keys", name)
        frame = con.sql(sql, params={"run_id": run_id, "d": as_of.date()}).pl()
    finally:
        con.unregister(name)
    if frame.is_empty():
        return pl.DataFrame(schema=_EMPTY)
    # Parsed once into columns: an eager select evaluates every use of an expression again
    # (parse_timestamp, six regex-guarded formats, was used seven times per row; dense 1M
    # region, 392k keys: 0.107 -> 0.063 CPU s).
    frame = frame.cast({c: pl.String for c in frame.columns}).with_columns(
        parse_date(pl.col("birth_text")).alias("_birth"),
        parse_timestamp(pl.col("slot_start")).alias("_start"),
        parse_timestamp(pl.col("slot_end")).alias("_end"))
    birth, start, end = pl.col("_birth"), pl.col("_start"), pl.col("_end")
    same_day = end.dt.date() == start.dt.date()
    return frame.select(
        "entity", "record_id", "person",
        birth.alias("birth_date"),
        pl.when(birth.is_null()).then(pl.col("birth_text")).alias("birth_text"),
        "policy", "area", "doctor_id", "specialty",
        start.dt.date().alias("slot_date"),
        pl.when(start.is_null()).then(None)
        .when(same_day & (end > start))
        .then(pl.concat_str(start.dt.strftime("%H:%M"), pl.lit("–"), end.dt.strftime("%H:%M")))
        .otherwise(start.dt.strftime("%H:%M")).alias("slot_time"),
        pl.when(start.is_null()).then(pl.col("slot_start")).alias("slot_text"),
    ).cast(_EMPTY)
