"""Register reconciliation (catalogue v1.2): link each patient to the insured-persons register,
run the REG rules, and say for each finding what the register's value is.

The optional fifth extract file, registry.csv, is the TFOMS's extract of the insured-persons
register with the attachment it knows. A **register person** is a loaded registry row whose enp
is a valid ENP. Each loaded patient is linked to at most one person, by the first of four tiers
that links (all in DuckDB SQL on the run's TEMP tables, LINK_SQL below):

1. enp: the patient's policies with a valid ENP, active first, then latest parseable
   date_begin (unparseable last), then smallest policy_id as text; the first whose enp is a
   person's enp.
2. snils: the patient's valid SNILS belongs to exactly one person (with a valid SNILS).
3. name and birth date: exactly one person has the same normalised full name and birth date.
4. near match: exactly one person qualifies: not contradicted (both SNILS valid and different,
   or both sex codes in {1, 2} and different) and either (a) the same birth date and every name
   part dl1 (middle names: or either empty), or (b) the same last and first name, the same middle
   name or either empty, and near birth dates. Tier 4 is blocked: (a) joins on the birth date,
   (b) on (last, first) name, so it never compares all pairs, and each pair meets cheap
   necessary conditions before the edit distances.

`norm_name()` (reading 19 of the contract) is one polars expression that staging applies to
both sides (columns nl, nf, nm of stg_patients and stg_registry); `dl1()` is the SQL macro
below: DuckDB's `damerau_levenshtein` <= 1, which counts characters (a Cyrillic letter is one)
and takes an adjacent swap as one edit. Each link is stored per run in the warehouse table
`reg_links`.

The REG rules are SQL files like the set rules (checks/sql/REG.*.sql), run after both engines
because two readings depend on their findings (REG.NAME.MISMATCH needs "no PAT.NAME.INVALID",
REG.POLICY.SMO "no POL.SMO.UNKNOWN"): those are handed over as the TEMP table `run_findings`.
Suggested values are computed in one place for every code (`suggestion_sql`), from what the
catalogue declares (`Check.suggests`).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from checks import catalogue
from checks.set_rules import FINDING_COLUMNS, empty_findings, render_sql
from flows.extract.contract import REGISTRY

SQL_DIR = Path(__file__).resolve().parent / "sql"

#: The REG codes in catalogue order; each has checks/sql/<code>.sql.
REG_CODES: tuple[str, ...] = tuple(c.code for c in catalogue.CHECKS if c.code.startswith("REG."))
REG_RULES: dict[str, str] = {code: (SQL_DIR / f"{code}.sql").read_text(encoding="utf-8")
                             for code in REG_CODES}

#: The table a REG rule's `$batch` stands for, by the entity the catalogue declares.
REG_TABLES = {"patient": "stg_patients", "policy": "stg_policies", "attachment": "stg_attachments"}

#: The staging tables the register step reads: linking reads stg_patients and stg_policies,
#: the REG rules their REG_TABLES (findings.release_before_register drops the others first).
STAGING_READS: tuple[str, ...] = tuple(sorted({"stg_patients", "stg_policies",
                                               *REG_TABLES.values()}))

#: Register rows typed at a time: no rule reads the typed frames (every REG rule is SQL), so
#: small chunks cost nothing and keep polars' share of the peak small (1M rows in one chunk
#: took ~0.9 GB more at 1M patients).
REGISTER_CHUNK_ROWS = 250_000

TIERS = {1: "enp", 2: "snils", 3: "name_birth_date", 4: "near_match"}

def norm_name(expr: pl.Expr) -> pl.Expr:
    """norm(name): Unicode upper case, Ё -> Е, every run of spaces -> one space, no space next
    to a hyphen, no leading or trailing space. "Space" is U+0020 only: a no-break space or a
    tab is neither collapsed nor trimmed. Latin look-alike letters are not mapped."""
    return (expr.str.to_uppercase().str.replace_all("Ё", "Е", literal=True)
            .str.replace_all(" {2,}", " ").str.replace_all(" ?- ?", "-")
            .str.strip_chars(" "))


#: The normalised name columns staging adds to stg_patients (when the run has a register) and
#: stg_registry, from the columns as written.
NAME_NORMS = {"nl": "last_name", "nf": "first_name", "nm": "middle_name"}


MACROS = (
    "CREATE OR REPLACE TEMP MACRO talon_dl1(a, b) AS damerau_levenshtein(a, b) <= 1",
    # YYYY-MM-DD with a four-digit year whatever the year (strftime's %Y does not pad)
    """CREATE OR REPLACE TEMP MACRO talon_iso(d) AS
        printf('%04d-%02d-%02d', year(d), month(d), day(d))""",
    # near dates: different, and their ISO texts dl1 or day and month exchanged
    """CREATE OR REPLACE TEMP MACRO talon_near_dates(a, b) AS
        a <> b AND (talon_dl1(talon_iso(a), talon_iso(b))
                    OR (year(a) = year(b) AND day(a) = month(b) AND month(a) = day(b)))""",
    """CREATE OR REPLACE TEMP MACRO talon_dmy(d) AS
        printf('%02d.%02d.%04d', day(d), month(d), year(d))""",
)

#: Linking, in order. $run_id and $d are SQL literals (set_rules.render_sql).
LINK_SQL = (
    # the register persons, names normalised
    # the register persons: a view (a copy of the register cost ~0.5 GB at 1M rows)
    """CREATE OR REPLACE TEMP VIEW reg_persons AS
       SELECT * EXCLUDE (enp_valid) FROM stg_registry WHERE enp_valid""",
    # tier 1: enp of the first policy (in the contract's order) whose enp is a person's
    """CREATE OR REPLACE TEMP TABLE reg_link AS
       SELECT p.patient_id, p.enp, CAST(1 AS TINYINT) AS tier
       FROM stg_policies p
       JOIN reg_persons r ON r.enp = p.enp
       SEMI JOIN stg_patients q ON q.patient_id = p.patient_id
       WHERE p.enp_valid
       QUALIFY row_number() OVER (PARTITION BY p.patient_id
                                  ORDER BY p.is_active DESC, p.date_begin_d DESC NULLS LAST,
                                           p.policy_id) = 1""",
    # the patients tier 1 leaves unlinked (about 1% of them): tiers 2 to 4 read only these
    """CREATE OR REPLACE TEMP TABLE reg_rest AS
       SELECT q.patient_id, q.snils_digits, q.snils_valid, q.nl, q.nf, q.nm, q.birth_date_d, q.sex
       FROM stg_patients q ANTI JOIN reg_link l ON l.patient_id = q.patient_id""",
    # tier 2: the valid SNILS of exactly one person; else tier 3: the full name and birth date
    # of exactly one person. Only the keys of reg_rest are grouped (a key's group is whole:
    # the semi join keeps or drops all of its persons); the register's persons are probed
    # against the few unlinked patients' keys, not copied first (a table of the persons
    # sharing a key with them held 0.9M of 1.07M persons in a dense region, ~0.3 CPU s).
    """INSERT INTO reg_link
       WITH s AS (SELECT r.snils_digits, min(r.enp) AS enp FROM reg_persons r
                  SEMI JOIN reg_rest q ON q.snils_valid AND q.snils_digits = r.snils_digits
                  WHERE r.snils_valid
                  GROUP BY r.snils_digits HAVING count(*) = 1),
            n AS (SELECT r.nl, r.nf, r.nm, r.birth_date_d, min(r.enp) AS enp FROM reg_persons r
                  SEMI JOIN reg_rest q ON q.nl = r.nl AND q.nf = r.nf AND q.nm = r.nm
                                      AND q.birth_date_d = r.birth_date_d
                  GROUP BY r.nl, r.nf, r.nm, r.birth_date_d HAVING count(*) = 1)
       SELECT q.patient_id, coalesce(s.enp, n.enp), CASE WHEN s.enp IS NOT NULL THEN 2 ELSE 3 END
       FROM reg_rest q
       LEFT JOIN s ON q.snils_valid AND s.snils_digits = q.snils_digits
       LEFT JOIN n ON n.nl = q.nl AND n.nf = q.nf AND n.nm = q.nm
                  AND n.birth_date_d = q.birth_date_d
       WHERE s.enp IS NOT NULL OR n.enp IS NOT NULL""",
    # tier 4: exactly one qualifying person, blocked by birth date (a) and by name (b): one
    # pass over the register each (every further pass cost ~0.1-0.2 CPU s at 1M persons,
    # whatever it found). Each pair of the join is tested with cheap necessary conditions
    # first, inside a CASE so that the optimizer cannot evaluate the costly tests
    # (damerau_levenshtein, the ISO texts of near dates) first: as plain conjuncts it did, on
    # every pair of the join (~1.3 us a pair). (a): names within one edit differ in length by
    # at most one, and share the first letter (unicode(): the code of the first character, -1
    # for '') or else the edit is at the first letter (a substitution, a deletion, an
    # insertion in front, a swap of the first two letters), so that the person's last name
    # ends with the patient's from its third letter on (nl_tail: '' for names of at most two
    # letters, which every person's name ends with). (b): two near dates (talon_near_dates)
    # share the year or both month and day (one edit of an ISO date changes one of its three
    # parts, a day-month exchange keeps the year).
    """INSERT INTO reg_link
       WITH rest AS (
           SELECT q.*, unicode(q.nl) AS nl_first, substr(q.nl, 3) AS nl_tail
           FROM reg_rest q ANTI JOIN reg_link l ON l.patient_id = q.patient_id
           WHERE q.birth_date_d IS NOT NULL
       ),
       candidates AS (
           SELECT q.patient_id, r.enp, q.snils_valid AS qv, q.snils_digits AS qd, q.sex AS qs,
                  r.snils_valid AS rv, r.snils_digits AS rd, r.sex AS rs
           FROM rest q JOIN reg_persons r ON r.birth_date_d = q.birth_date_d
           WHERE CASE WHEN (unicode(r.nl) = q.nl_first OR ends_with(r.nl, q.nl_tail))
                           AND abs(length(q.nl) - length(r.nl)) <= 1
                           AND abs(length(q.nf) - length(r.nf)) <= 1
                      THEN talon_dl1(q.nl, r.nl) AND talon_dl1(q.nf, r.nf)
                           AND (q.nm = '' OR r.nm = '' OR talon_dl1(q.nm, r.nm))
                      ELSE false END
           UNION
           SELECT q.patient_id, r.enp, q.snils_valid, q.snils_digits, q.sex,
                  r.snils_valid, r.snils_digits, r.sex
           FROM rest q JOIN reg_persons r ON r.nl = q.nl AND r.nf = q.nf
           WHERE CASE WHEN (year(r.birth_date_d) = year(q.birth_date_d)
                            OR (month(r.birth_date_d) = month(q.birth_date_d)
                                AND day(r.birth_date_d) = day(q.birth_date_d)))
                           AND (q.nm = r.nm OR q.nm = '' OR r.nm = '')
                      THEN talon_near_dates(q.birth_date_d, r.birth_date_d)
                      ELSE false END
       )
       SELECT patient_id, min(enp), 4
       FROM candidates
       WHERE NOT (qv AND rv AND qd <> rd)
         AND NOT (qs IN ('1', '2') AND rs IN ('1', '2') AND qs <> rs)
       GROUP BY patient_id HAVING count(DISTINCT enp) = 1""",
    # the patients no tier links (REG.PERSON.NOT_FOUND): those of reg_rest that tiers 2 to 4
    # left unlinked, so the rule probes the patients against these few instead of every link
    """CREATE OR REPLACE TEMP TABLE reg_unlinked AS
       SELECT q.patient_id FROM reg_rest q ANTI JOIN reg_link l ON l.patient_id = q.patient_id""",
)

#: The register's values for each linked patient. Run with the joins as written
#: (_AS_WRITTEN): DuckDB's optimizer estimates the filtered register as the smaller side and
#: builds its hash table from the wide register rows (~0.35 GB above the tables at 1M
#: patients, the run's peak); the narrow links as the build side, the register streams
#: through instead (and it takes half the CPU). name: the register's name as written, NULL
#: where it is the normalised one (nl nf nm; most are: ~44 MB less at 1M patients, the
#: register step's peak), so the suggestion reads coalesce(name, nl nf nm).
#: linked_patients: the links per enp, counted
#: only for the few persons linked more than once (d, joined as a small table; a count per
#: link joined back on every link took ~0.15 CPU s more at 1M dense patients).
#: The normalised full name of a reg_values row `v` (or a register row), as the name as
#: written reads when it has nothing to normalise.
_NORM_NAME = "concat_ws(' ', {p}nl, {p}nf, NULLIF({p}nm, ''))"

VALUES_SQL = f"""CREATE OR REPLACE TEMP TABLE reg_values AS
       WITH d AS (SELECT enp, count(*) AS linked_patients FROM reg_link
                  GROUP BY enp HAVING count(*) > 1)
       SELECT l.patient_id, l.tier, r.enp, r.nl, r.nf, r.nm,
              NULLIF(concat_ws(' ', r.last_name, r.first_name, NULLIF(r.middle_name, '')),
                     {_NORM_NAME.format(p='r.')}) AS name,
              r.birth_date_d, r.snils_digits, r.snils_valid, r.smo_code, r.policy_end_d,
              r.death_date_d, r.attach_mo_code,
              coalesce(r.death_date_d <= $d, false) AS deceased,
              coalesce(r.policy_end_d < $d, false) AS closed,
              coalesce(d.linked_patients, 1) AS linked_patients
       FROM reg_persons r JOIN reg_link l ON r.enp = l.enp
       LEFT JOIN d ON d.enp = l.enp"""

#: DuckDB's optimizers that reorder joins and swap a hash join's build and probe sides.
_AS_WRITTEN = "join_order,build_side_probe_side"


def execute_as_written(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run `sql` with its joins in the order written, the right side of each hash join as its
    build side; the connection's optimizer setting is restored after."""
    before = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    con.execute("SET disabled_optimizers = ?", [_AS_WRITTEN])
    try:
        con.execute(sql)
    finally:
        con.execute("SET disabled_optimizers = ?", [before or ""])


#: The empty shape of reg_values for a run without a register (routing reads it).
_EMPTY_VALUES = """CREATE OR REPLACE TEMP TABLE reg_values (
    patient_id VARCHAR, tier TINYINT, enp VARCHAR, nl VARCHAR, nf VARCHAR, nm VARCHAR,
    name VARCHAR, birth_date_d DATE, snils_digits VARCHAR, snils_valid BOOLEAN,
    smo_code VARCHAR, policy_end_d DATE, death_date_d DATE, attach_mo_code VARCHAR,
    deceased BOOLEAN, closed BOOLEAN, linked_patients BIGINT)"""

_SNILS_FORM = ("substr({d}, 1, 3) || '-' || substr({d}, 4, 3) || '-' || substr({d}, 7, 3) "
               "|| ' ' || substr({d}, 10, 2)")

#: Each kind of suggestion (catalogue.SUGGESTIONS) as SQL over reg_values `v` (NULL = none);
#: `o` is the list of the other patients linked to the same person.
SUGGESTION_SQL = {
    "snils": f"CASE WHEN v.snils_valid THEN {_SNILS_FORM.format(d='v.snils_digits')} END",
    "name": f"coalesce(v.name, {_NORM_NAME.format(p='v.')})",
    "birth_date": "talon_dmy(v.birth_date_d)",
    "enp": "v.enp",
    "enp_if_insured": "CASE WHEN NOT (v.deceased OR v.closed) THEN v.enp END",
    "attach_mo_code": "v.attach_mo_code",
    "death_date": "talon_dmy(v.death_date_d)",
    "other_patients": "o.others",
    "smo_code": "v.smo_code",
    "policy_end": "talon_dmy(v.policy_end_d)",
}

#: The finding field whose masking (checks.masking.mask_value) a suggestion of each kind gets
#: in suggested_masked: personal values masked like the field they belong to.
SUGGESTION_MASK_FIELD = {
    "": "", "snils": "snils", "name": "last_name, first_name, middle_name",
    "birth_date": "birth_date", "enp": "enp", "enp_if_insured": "enp",
    "attach_mo_code": "mo_code", "death_date": "birth_date", "other_patients": "patient_id",
    "smo_code": "smo_code", "policy_end": "date_end",
}


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for sql in MACROS:
        con.execute(sql)


def has_registry(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the run loaded a registry file (its ledger has a row of entity 'insured')."""
    return con.execute("SELECT count(*) FROM run_files WHERE run_id = ? AND entity = ?",
                       [run_id, REGISTRY.entity]).fetchall()[0][0] > 0


def ensure_values(con: duckdb.DuckDBPyConnection) -> None:
    """An empty reg_values (no link) unless the run built one: routing and suggestions read it."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary "
                         "AND table_name = 'reg_values'").fetchall()[0][0]
    if not exists:
        con.execute(_EMPTY_VALUES)
    install_macros(con)


def link_patients(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
                  spool=None) -> pl.DataFrame:
    """Stage the register (TEMP stg_registry), link the run's patients (TEMP reg_link,
    reg_values) and store the links in `reg_links`; returns the count of links per tier.
    Needs stg_patients (staged with the register's columns) and stg_policies of the run on
    `con`. `spool` (staging.TypedSpool): the register's rows as the reader typed them."""
    from checks.staging import stage_entity_chunks

    staged = {r[0] for r in con.execute("DESCRIBE stg_patients").fetchall()}
    if not set(NAME_NORMS) <= staged:
        raise RuntimeError("stg_patients was staged without the register's columns "
                           "(row_rules.stage_and_check(..., register=True))")
    # the frames are not needed: every REG rule is SQL
    for _ in stage_entity_chunks(con, run_id, REGISTRY.name, as_of, REGISTER_CHUNK_ROWS,
                                 spool=spool, frames=False):
        pass
    install_macros(con)
    for sql in LINK_SQL:
        con.execute(render_sql(sql, batch="", run_id=run_id, as_of=as_of))
    execute_as_written(con, render_sql(VALUES_SQL, batch="", run_id=run_id, as_of=as_of))
    # the links in no particular order (nothing reads reg_links in its stored order): the
    # insert then compresses its row groups on every thread, not on one
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM reg_links WHERE run_id = ?", [run_id])
        con.execute("SET preserve_insertion_order = false")
        con.execute("INSERT INTO reg_links SELECT ?, patient_id, enp, tier FROM reg_link",
                    [run_id])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"SET preserve_insertion_order = {str(bool(before)).lower()}")
    return con.sql("SELECT tier, count(*) AS patients FROM reg_link GROUP BY tier "
                   "ORDER BY tier").pl()


def run_reg_rules(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
                  earlier: pl.DataFrame) -> pl.DataFrame:
    """Every REG finding of the run, in the raw-finding shape. `earlier` holds the other
    findings of the run (check_code, record_id), which two rules read (readings 15, 16)."""
    con.register("_talon_earlier", earlier.select("check_code", "record_id").to_arrow())
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE run_findings AS "
                    "SELECT DISTINCT check_code, record_id FROM _talon_earlier")
    finally:
        con.unregister("_talon_earlier")
    cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in FINDING_COLUMNS)
    frames = [empty_findings()]
    for code in REG_CODES:
        sql = render_sql(REG_RULES[code], batch=REG_TABLES[catalogue.get(code).entity],
                         run_id=run_id, as_of=as_of)
        frames.append(pl.from_arrow(
            con.sql(f"SELECT {cols} FROM (\n{sql}\n) AS findings").to_arrow_table()))
    return pl.concat(frames, how="vertical").sort("check_code", "record_id")


def check_register(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime,
                   earlier: pl.DataFrame, spool=None) -> pl.DataFrame:
    """The register step of a run: link and run the REG rules when the run has a register,
    else nothing (every v1.1 result unchanged) but the empty reg_values routing reads.
    `spool` (staging.TypedSpool): the register's rows as the reader typed them."""
    if not has_registry(con, run_id):
        con.execute("DROP TABLE IF EXISTS temp.reg_values")
        ensure_values(con)
        return empty_findings()
    link_patients(con, run_id, as_of, spool)
    release_linking(con)  # before the REG rules: they reuse its memory instead of adding to it
    return run_reg_rules(con, run_id, as_of, earlier)


#: What only linking reads: once reg_values holds the register's values of the linked
#: patients (routing and suggestions read nothing else of the register), these go, so the
#: rest of the run does not carry the register's rows (~0.25 GB at 1M patients).
LINKING_ONLY = ("reg_persons", "reg_link", "reg_rest", "stg_registry")


def release_linking(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the TEMP view and tables of LINKING_ONLY (those that exist)."""
    con.execute("DROP VIEW IF EXISTS temp.reg_persons")
    for table in LINKING_ONLY[1:]:
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def suggestion_sql(findings: str, routes: str) -> str:
    """SQL that adds `suggested_value` to each row of the relation `findings` (columns
    check_code, patient_id, ...): the register's value of the kind its check declares, '' when
    there is none. Needs reg_values (ensure_values). `routes` (patient_id, mo_code): the clinic
    each named patient's findings go to (NULL: the steward's unassigned list). The other
    patients of one person (other_patients) are named only where they go to the same clinic,
    or all of them in the steward's list: a clinic sees no other clinic's records. `routes`
    must name every patient of `findings` (those of no other patient are read from
    reg_values: at 1M dense patients its hash tables over all the register's links took
    ~0.2 GB); b.linked_patients > 1 follows from a's (the same enp), said so that DuckDB
    filters both sides before the join."""
    kinds = {c.code: c.suggests for c in catalogue.CHECKS if c.suggests}
    cases = "\n".join(
        f"             WHEN f.check_code IN ({', '.join(repr(c) for c in sorted(codes))}) "
        f"THEN {SUGGESTION_SQL[kind]}"
        for kind, codes in _by_kind(kinds).items())
    return f"""
        SELECT f.*, coalesce(CASE
{cases}
             END, '') AS suggested_value
        FROM {findings} AS f
        LEFT JOIN (SELECT * FROM reg_values
                   WHERE patient_id IN (SELECT patient_id FROM {routes})) AS v
               ON v.patient_id = f.patient_id
        LEFT JOIN (
            SELECT a.patient_id,
                   string_agg(b.patient_id, ', ' ORDER BY b.patient_id) AS others
            FROM reg_values a JOIN reg_values b ON b.enp = a.enp AND b.patient_id <> a.patient_id
            LEFT JOIN {routes} AS ra ON ra.patient_id = a.patient_id
            LEFT JOIN {routes} AS rb ON rb.patient_id = b.patient_id
            WHERE a.linked_patients > 1 AND b.linked_patients > 1
              AND a.patient_id IN (SELECT patient_id FROM {routes})
              AND (ra.mo_code IS NULL OR rb.mo_code = ra.mo_code)
            GROUP BY a.patient_id
        ) AS o ON o.patient_id = f.patient_id"""


def _by_kind(kinds: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for code, kind in kinds.items():
        out.setdefault(kind, []).append(code)
    return out


def suggestion_mask_field(check_code: pl.Expr) -> pl.Expr:
    """The field name whose masking a finding's suggestion gets (SUGGESTION_MASK_FIELD)."""
    mapping = {c.code: SUGGESTION_MASK_FIELD[c.suggests] for c in catalogue.CHECKS}
    return check_code.replace_strict(mapping, default="", return_dtype=pl.String)
