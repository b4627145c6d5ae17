"""Routing and storing findings: the one `findings` table every report reads.

Both engines return raw findings (check_code, record_id, field, value, patient_id, route_mo);
this module adds what the catalogue declares (severity, entity), decides which clinic must fix
each finding (issue "check catalogue", Routing and readings 6, 7, 11) and masks the value for
auditors.
"""
from __future__ import annotations

import duckdb
import polars as pl

from checks import catalogue
from flows.extract.contract import BY_NAME, REGISTRY

RAW_COLUMNS = ("check_code", "record_id", "field", "value", "patient_id", "route_mo")
RAW_SCHEMA = {c: pl.String for c in RAW_COLUMNS}

# Why a finding could not be routed to a clinic (shown on the data steward's list).
REASON_FILE = "file_level"
REASON_PATIENT_MISSING = "patient_not_found"
REASON_NO_ATTACHMENT = "no_active_attachment_to_known_mo"
REASON_MO_UNKNOWN = "mo_not_in_registry"
REASON_REGISTER = "register_record"  # a row of the insured-persons register (the TFOMS's)
REASON_FEED_FILE = "feed_file"  # a file that arrived short or with an empty column (feed health)


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)


def quarantine_findings(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """ROW.MALFORMED (one per quarantined line) and ROW.DUPLICATE_ID (one per id and file).

    Duplicate ids route by the rule of their entity applied to the first occurrence, which is
    the loaded record in the stg_* table of that file.
    """
    malformed = con.sql(
        """SELECT 'ROW.MALFORMED' AS check_code, file_name || ':' || line_no AS record_id,
                  'line' AS field, detail AS value, NULL AS patient_id, NULL AS route_mo,
                  'file' AS entity
           FROM quarantine WHERE run_id = ? AND reason = 'ROW.MALFORMED'""", params=[run_id]).pl()
    parts = [malformed]
    first_occurrence = {
        "patients": ("stg_patients", "patient_id", "patient_id", "NULL"),
        "policies": ("stg_policies", "policy_id", "patient_id", "NULL"),
        "attachments": ("stg_attachments", "attachment_id", "patient_id", "s.mo_code"),
        "slots": ("stg_slots", "slot_id", "NULLIF(s.patient_id, '')", "s.mo_code"),
    }
    # the register is the TFOMS's: its duplicate enps concern no patient and no clinic
    parts.append(con.sql(
        """SELECT DISTINCT 'ROW.DUPLICATE_ID' AS check_code, record_id, 'enp' AS field,
                  record_id AS value, NULL AS patient_id, NULL AS route_mo, 'insured' AS entity
           FROM quarantine WHERE run_id = ? AND reason = 'ROW.DUPLICATE_ID' AND entity = ?""",
        params=[run_id, REGISTRY.entity]).pl())
    for name, (table, id_col, patient_expr, mo_expr) in first_occurrence.items():
        spec = BY_NAME[name]
        patient_sel = patient_expr if patient_expr.startswith("NULL") else f"s.{patient_expr}"
        parts.append(con.sql(
            f"""SELECT DISTINCT 'ROW.DUPLICATE_ID' AS check_code, q.record_id,
                       '{id_col}' AS field, q.record_id AS value,
                       {patient_sel} AS patient_id, {mo_expr} AS route_mo,
                       '{spec.entity}' AS entity
                FROM quarantine q LEFT JOIN {table} s ON s.{id_col} = q.record_id
                WHERE q.run_id = ? AND q.reason = 'ROW.DUPLICATE_ID' AND q.entity = ?""", params=[run_id, spec.entity]).pl())
    return pl.concat([p.cast({c: pl.String for c in p.columns}) for p in parts], how="vertical")


def _catalogue_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "check_code": [c.code for c in catalogue.CHECKS],
        "severity": [c.severity.value for c in catalogue.CHECKS],
        "cat_entity": [c.entity for c in catalogue.CHECKS],
    })


def _waive(con: duckdb.DuckDBPyConnection, run_id: str, routed: pl.DataFrame) -> pl.DataFrame:
    """`waiver_id` of each finding a clinic answered "not an error" (flows/waivers.py): an
    active waiver of its (check_code, record_id) (and entity) with no until or an until on or after the
    run's D. Waivers whose until is before D are marked expired first (inside the caller's
    transaction, with their audit event). The waived finding stays a finding."""
    from flows import waivers

    rows = con.execute("SELECT as_of FROM runs WHERE run_id = ?", [run_id]).fetchall()
    row = rows[0] if rows else None
    if row is None or row[0] is None:  # a run outside the ledger (tests): nothing applies
        return routed.with_columns(pl.lit(None, pl.String).alias("waiver_id"))
    day = row[0].date()
    waivers.expire(con, run_id, day)
    matching = waivers.matching(con, day)
    if matching.height == 0:  # no copy of the findings for a column of NULLs
        return routed.with_columns(pl.lit(None, pl.String).alias("waiver_id"))
    key = ["check_code", "entity", "record_id"]
    ids = routed.select(key).join(matching, on=key, how="left", maintain_order="left")
    if ids.height != routed.height:  # a key with two waivers: every pairing, as a join gives
        return routed.join(matching, on=key, how="left", maintain_order="left")
    return routed.with_columns(ids["waiver_id"])  # the key columns are not copied


def _duplicate_keys(routed: pl.DataFrame) -> pl.DataFrame | None:
    """(check_code, entity, record_id, len) of the keys `routed` holds more than once, or
    None. Equal keys have equal 64-bit hashes, found as neighbours once the hashes are
    sorted; only then are the rows compared as they are. (A hash table over the keys, or
    over their hashes, took 50 to 170 MB at 500k findings; the sorted hashes take 4 MB.)"""
    key = ["check_code", "entity", "record_id"]
    hashed = routed.select(pl.col("check_code").hash(seed=1) ^ pl.col("entity").hash(seed=2)
                           ^ pl.col("record_id").hash(seed=3)).to_series().sort()
    n = hashed.len()
    if n < 2 or not (hashed.slice(1) == hashed.slice(0, n - 1)).any():
        return None
    del hashed
    dup = routed.select(key).group_by(key).len().filter(pl.col("len") > 1)
    return dup if dup.height else None


#: TEMP tables of the run's connection that routing reads (stg_patients, stg_attachments,
#: cur_*, reg_values); release_before_routing keeps these (and with `keep_staging` every stg_*
#: table, which the GX cross-check reads after routing).
ROUTING_KEEPS = ("stg_patients", "stg_attachments", "cur_", "reg_values")


def _drop_temp_tables(con: duckdb.DuckDBPyConnection, drop) -> list[str]:
    """Drop the connection's TEMP tables whose name `drop(name)` accepts; their names, sorted."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY table_name"
    ).fetchall()]
    dropped = [n for n in names if drop(n)]
    for name in dropped:
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')
    return dropped


def release_before_register(con: duckdb.DuckDBPyConnection, keep_staging: bool = False
                            ) -> list[str]:
    """Drop the staging tables that neither the register step (register.STAGING_READS) nor
    routing (ROUTING_KEEPS) reads, once quarantine_findings has read them (stg_slots), unless
    `keep_staging`. Whoever reads them later stages them again (staging.restage_missing)."""
    from checks.register import STAGING_READS
    from checks.staging import STAGING_TABLES

    if keep_staging:
        return []
    return _drop_temp_tables(con, lambda n: n in STAGING_TABLES and n not in STAGING_READS
                             and not n.startswith(ROUTING_KEEPS))


def release_before_routing(con: duckdb.DuckDBPyConnection, keep_staging: bool = False
                           ) -> list[str]:
    """Drop the connection's TEMP tables that routing does not read, once the checks and
    quarantine_findings have run: the feed's filled flags and horizon, the REG rules'
    run_findings and reg_unlinked, and (unless `keep_staging`) stg_policies and stg_slots;
    routing's query then reuses their memory instead of adding to it (~0.4 GB at 1M dense
    patients). Whoever reads a dropped staging table later stages it again
    (staging.restage_missing: the GX cross-check)."""
    keeps = ROUTING_KEEPS + (("stg_",) if keep_staging else ())
    return _drop_temp_tables(con, lambda n: not n.startswith(keeps))


def route_and_store(con: duckdb.DuckDBPyConnection, run_id: str, raw: pl.DataFrame) -> pl.DataFrame:
    """Route raw findings to clinics, mask values, mark waived findings (`waiver_id`),
    replace this run's rows of `findings`.

    `raw` holds the findings of both engines plus quarantine_findings(); an optional `entity`
    column overrides the catalogue's (ROW.DUPLICATE_ID takes its file's entity).
    """
    from checks.masking import mask_values

    if "entity" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, pl.String).alias("entity"))
    unknown = set(raw["check_code"].unique().to_list()) - set(catalogue.BY_CODE)
    if unknown:
        raise ValueError(f"findings with undeclared check codes: {sorted(unknown)}")
    raw = (raw.join(_catalogue_frame(), on="check_code", how="left")
              .with_columns(pl.coalesce("entity", "cat_entity").alias("entity"))
              .drop("cat_entity"))
    from checks import register

    register.ensure_values(con)
    con.register("raw_findings_view", raw.to_arrow())
    try:
        routed = con.sql(
            f"""
            WITH named AS (  -- only the patients findings name: the region's are millions
                SELECT DISTINCT patient_id FROM raw_findings_view WHERE patient_id IS NOT NULL
            ),
            route_patient AS (
                SELECT a.patient_id, a.mo_code
                FROM stg_attachments a
                JOIN cur_mo m ON m.mcod = a.mo_code
                JOIN stg_patients p ON p.patient_id = a.patient_id
                WHERE a.is_active AND a.patient_id IN (SELECT patient_id FROM named)
                QUALIFY row_number() OVER (PARTITION BY a.patient_id
                                           ORDER BY a.attach_date_d DESC, a.attachment_id) = 1
            ),
            route_register AS (  -- v1.2: the register's attachment, when known and not excluded
                SELECT v.patient_id, v.attach_mo_code AS mo_code
                FROM reg_values v JOIN cur_mo m ON m.mcod = v.attach_mo_code AND NOT m.excluded
                WHERE v.patient_id IN (SELECT patient_id FROM named)
            ),
            patient_route AS (  -- the clinic each named patient's findings go to
                SELECT n.patient_id, coalesce(rp.mo_code, rr.mo_code) AS mo_code
                FROM named n
                LEFT JOIN route_patient rp ON rp.patient_id = n.patient_id
                LEFT JOIN route_register rr ON rr.patient_id = n.patient_id
            ),
            existing_patient AS (
                SELECT patient_id FROM stg_patients
                WHERE patient_id IN (SELECT patient_id FROM named)
            ),
            suggested AS ({register.suggestion_sql("raw_findings_view", "patient_route")})
            SELECT ? AS run_id, f.check_code, f.severity, f.entity, f.record_id,
                   CASE
                     WHEN f.entity IN ('file', 'insured') THEN NULL
                     WHEN f.entity IN ('patient', 'policy') THEN coalesce(rp.mo_code, rr.mo_code)
                     ELSE km.mcod
                   END AS mo_code,
                   CASE
                     WHEN f.entity = 'file' AND f.check_code LIKE 'FEED.%' THEN ?
                     WHEN f.entity = 'file' THEN ?
                     WHEN f.entity = 'insured' THEN ?
                     WHEN f.entity IN ('patient', 'policy') AND ep.patient_id IS NULL THEN ?
                     WHEN f.entity IN ('patient', 'policy')
                          AND coalesce(rp.mo_code, rr.mo_code) IS NULL THEN ?
                     WHEN f.entity NOT IN ('patient', 'policy') AND km.mcod IS NULL THEN ?
                   END AS unassigned_reason,
                   f.field, f.value, f.patient_id, f.suggested_value
            FROM suggested f
            LEFT JOIN route_patient rp ON rp.patient_id = f.patient_id
            LEFT JOIN route_register rr ON rr.patient_id = f.patient_id
            LEFT JOIN existing_patient ep ON ep.patient_id = f.patient_id
            LEFT JOIN cur_mo km ON km.mcod = f.route_mo
            """, params=[run_id, REASON_FEED_FILE, REASON_FILE, REASON_REGISTER,
                         REASON_PATIENT_MISSING,
                         REASON_NO_ATTACHMENT, REASON_MO_UNKNOWN]).pl()
    finally:
        con.unregister("raw_findings_view")
    suggestion_fields = routed.select(register.suggestion_mask_field(pl.col("check_code")))
    routed = routed.with_columns(
        mask_values(routed["field"], routed["value"]).alias("value_masked"),
        mask_values(suggestion_fields.to_series(), routed["suggested_value"])
        .alias("suggested_masked"))
    dup = _duplicate_keys(routed)
    if dup is not None:
        raise RuntimeError(f"{dup.height} findings are not unique per (check_code, entity, "
                           f"record_id), e.g. {dup.row(0)}")
    columns = ["run_id", "check_code", "severity", "entity", "record_id", "mo_code",
               "unassigned_reason", "field", "value", "value_masked", "patient_id",
               "suggested_value", "suggested_masked", "waiver_id"]
    con.execute("BEGIN TRANSACTION")
    try:
        routed = _waive(con, run_id, routed).select(columns)
        con.register("routed_view", routed.to_arrow())  # (unregistering an absent view is a no-op)
        con.execute("DELETE FROM findings WHERE run_id = ?", [run_id])
        con.execute(f"INSERT INTO findings ({', '.join(columns)}) SELECT * FROM routed_view")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("routed_view")
    return routed
