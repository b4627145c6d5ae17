"""The set-level checks as a Great Expectations suite (checks/gx_suite.py) on a DuckDB file.

GX must agree with run_set_rules on every check (its count of unexpected rows equals the number
of findings), read the TEMP staging tables through the run's connection and leave it open and
usable, run each check's query once, and need the persisted-connection fix.
"""
from __future__ import annotations

import json
import re
from datetime import date

import duckdb
import great_expectations.expectations as gxe
import pytest
import sqlalchemy as sa
from great_expectations.execution_engine import sqlalchemy_execution_engine as gx_engine

from checks import gx_suite
from checks.set_rules import CODES, run_set_rules
from tests.checks.test_set_rules import AS_OF, GOOD_SNILS, World

# Quote, braces, colon-word and percent: every way a literal could break GX's str.format,
# SQLAlchemy's text() bind parameters or the SQL itself.
NASTY_RUN = "run 'x' {batch} :param 50%"


def _world(run_id: str) -> World:
    w = World()
    w.v021 = [(run_id, "76", date(2000, 1, 1), None), ("r1", "27", date(2000, 1, 1), None)]
    w.patient("P1", snils=GOOD_SNILS).patient("P2", snils="11223344595").patient("P3")
    w.policy("Q1", "P1", smo="1").policy("Q2", "P1", okato="77000").policy("Q4", "P3")
    for i in range(230):  # more than GX's 200 kept rows: its count must not be capped
        w.policy(f"QG{i:03d}", f"ghost{i}")
    w.attachment("A1", "P2", mo="0000000").attachment("A2", "P2", mo="4501009")
    w.attachment("A3", "ghost", attach="").attachment("A4", "P3", mo="7701001")
    w.attachment("A5", "P3", attach="2099-01-01")
    w.slot("S1", "2025-03-11 10:00", mo="0000000", spec="00", status="booked", patient="ghost",
           doctor_snils="", updated="")
    w.slot("S2", "2025-03-11 10:10", status="booked", patient="P1")
    w.slot("S3", "2025-03-11 10:20")
    w.slot("S4", "2025-03-12 10:00", doctor="DR2", updated="", spec="27")
    w.slot("S5", "2025-03-12 10:00", doctor="DR3", spec="76")
    return w


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A warehouse file with every code violated, and the run's connection left open."""
    path = tmp_path_factory.mktemp("gx") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    _world(NASTY_RUN).load(con)
    yield path, con
    con.close()


@pytest.fixture(scope="module")
def outcome(warehouse, tmp_path_factory):
    path, con = warehouse
    root = tmp_path_factory.mktemp("gx_context")
    return gx_suite.run_gx_suite(path, con, NASTY_RUN, AS_OF, context_root=root)


def test_the_fix_puts_duckdb_among_persisted_connection_dialects():
    gx_suite.enable_duckdb_persisted_connection()
    gx_suite.enable_duckdb_persisted_connection()  # idempotent
    names = [str(getattr(d, "value", d)) for d in gx_engine._PERSISTED_CONNECTION_DIALECTS]
    assert names.count("duckdb") == 1
    assert gx_suite.duckdb_connection_is_persisted()
    # GX decides StaticPool (one kept connection) from the URL with this same tuple
    assert gx_engine._dialect_requires_persisted_connection(url="duckdb:////tmp/x.duckdb")
    assert not gx_engine._dialect_requires_persisted_connection(url="postgresql://h/db")


def test_without_the_fix_gx_fails_on_duckdb(warehouse, monkeypatch):
    path, con = warehouse
    gx_suite.enable_duckdb_persisted_connection()
    original = tuple(d for d in gx_engine._PERSISTED_CONNECTION_DIALECTS
                     if str(getattr(d, "value", d)) != "duckdb")
    monkeypatch.setattr(gx_engine, "_PERSISTED_CONNECTION_DIALECTS", original)
    monkeypatch.setattr(gx_suite, "enable_duckdb_persisted_connection", lambda: None)
    broken = gx_suite.run_gx_suite(path, con, NASTY_RUN, AS_OF, codes=("POL.PATIENT.ORPHAN",))
    result = broken.results["POL.PATIENT.ORPHAN"]
    assert result.unexpected_count is None and not result.success
    # the results were read after the connection closed: no row came back (GX reports it as
    # "list index out of range" for bundled metrics, as a None row for the row count)
    assert re.search(r"list index out of range|'NoneType' object is not subscriptable",
                     result.error)


def test_with_the_fix_an_expectation_on_duckdb_returns_the_right_count(warehouse):
    path, con = warehouse
    fixed = gx_suite.run_gx_suite(path, con, NASTY_RUN, AS_OF, codes=("POL.PATIENT.ORPHAN",))
    assert fixed.results["POL.PATIENT.ORPHAN"].error is None
    assert fixed.results["POL.PATIENT.ORPHAN"].unexpected_count == 230  # the ghosts' policies
    assert not fixed.success


def test_gx_counts_equal_run_set_rules_per_code(warehouse, outcome):
    _, con = warehouse
    found = run_set_rules(con, NASTY_RUN, AS_OF)
    expected = {code: found.filter(found["check_code"] == code).height for code in CODES}
    assert outcome.raised == []
    assert outcome.counts() == expected
    assert expected["POL.PATIENT.ORPHAN"] > 200
    assert expected["SCH.SPECIALTY.UNKNOWN"] == 2  # S1 (00) and S4 (27 is another run's code)
    assert all(n > 0 for n in expected.values())  # the world violates every code
    assert not any(r.success for r in outcome.results.values())


def test_gx_and_duckdb_agree_when_nothing_is_wrong(tmp_path):
    path = tmp_path / "clean.duckdb"
    con = duckdb.connect(str(path))
    try:
        (World().patient("P1", snils=GOOD_SNILS).policy("Q1", "P1").attachment("A1", "P1")
         .slot("S1", "2025-03-11 10:00").load(con))
        clean = gx_suite.run_gx_suite(path, con, "r1", AS_OF)
        assert run_set_rules(con, "r1", AS_OF).height == 0
        assert clean.success and clean.raised == []
        assert set(clean.counts().values()) == {0} and len(clean.results) == len(CODES)
    finally:
        con.close()


def test_without_con_gx_opens_the_file_itself(tmp_path):
    path = tmp_path / "alone.duckdb"
    con = duckdb.connect(str(path))
    World().patient("P1").policy("Q1", "ghost").load(con, temp=False)
    con.close()  # no connection left in this process: GX may open the file with its own config
    alone = gx_suite.run_gx_suite(path, None, "r1", AS_OF,
                                  codes=("POL.PATIENT.ORPHAN", "PAT.SNILS.DUPLICATE"))
    assert alone.counts() == {"PAT.SNILS.DUPLICATE": 0, "POL.PATIENT.ORPHAN": 1}
    assert alone.results["POL.PATIENT.ORPHAN"].success is False


def test_a_second_engine_connection_is_refused_while_con_is_open(warehouse):
    """Why GX reads through cursors of `con`: DuckDB's instance cache refuses duckdb-engine's
    own connection (another configuration: its user agent) to a file open in this process."""
    path, con = warehouse
    with pytest.raises(sa.exc.OperationalError, match="different configuration"):
        with sa.create_engine(f"duckdb:///{path}").connect():
            pass
    assert con.execute("SELECT count(*) FROM stg_patients").fetchall() == [(3,)]


def test_con_stays_open_and_usable_after_the_suite(warehouse, outcome):
    _, con = warehouse
    con.execute("CREATE OR REPLACE TEMP TABLE t AS SELECT 1 AS x")
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
    con.execute("BEGIN TRANSACTION")  # GX's own transaction on con has ended
    con.execute("COMMIT")


def test_gx_reads_the_temp_staging_tables_through_con(warehouse, outcome):
    _, con = warehouse
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'stg_%' "
                       "AND NOT temporary").fetchall() == [(0,)]
    assert outcome.raised == [] and outcome.counts()["POL.PATIENT.ORPHAN"] == 230


def test_each_check_query_runs_once_and_only_for_its_count(warehouse):
    path, con = warehouse
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        out = gx_suite.run_gx_suite(path, con, NASTY_RUN, AS_OF)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert out.raised == []
    for code in CODES:
        runs = [s for s in statements if f"-- {code}" in s]
        assert len(runs) == 1, (code, len(runs))
        assert runs[0].startswith("SELECT COUNT(*) as unexpected_row_count FROM")


def test_the_count_only_expectation_is_an_unexpected_rows_expectation():
    expectation = gx_suite.UnexpectedRowsCountExpectation(
        unexpected_rows_query="SELECT * FROM {batch} WHERE false")
    assert isinstance(expectation, gxe.UnexpectedRowsExpectation)
    assert expectation.metric_dependencies == ("unexpected_rows_query.row_count",)
    assert gxe.UnexpectedRowsExpectation.metric_dependencies == (
        "unexpected_rows_query.table", "unexpected_rows_query.row_count")  # what it saves


def test_context_root_keeps_validation_results_for_data_docs(outcome):
    root = outcome.context_root
    files = sorted((root / "uncommitted" / "validations").rglob("*.json"))
    assert len(files) == 4  # one validation per staging table
    payload = json.loads(files[0].read_text(encoding="utf-8"))
    codes = {r["expectation_config"]["meta"]["check_code"] for r in payload["results"]}
    assert codes and codes <= set(CODES)
    assert any(NASTY_RUN in p.as_posix() or NASTY_RUN in p.read_text(encoding="utf-8")
               for p in files)
    assert (root / "expectations").is_dir()


def test_stored_results_render_as_data_docs(outcome):
    index = gx_suite.build_data_docs(outcome.context_root)
    assert index.is_file() and index.name == "index.html"
    pages = list(index.parent.glob("validations/**/*.html"))
    assert len(pages) == 4
    assert any("SCH.DOUBLE_BOOKING" in page.read_text(encoding="utf-8") for page in pages)


def test_con_on_another_file_is_refused(warehouse, tmp_path):
    _, con = warehouse
    with pytest.raises(ValueError, match="not connected"):
        gx_suite.run_gx_suite(tmp_path / "other.duckdb", con, "r1", AS_OF)


def test_gx_query_doubles_literal_braces_and_escapes_bind_like_colons(monkeypatch):
    monkeypatch.setitem(gx_suite.SET_RULES, "SCH.STALE",
                        "SELECT '{x}' AS a, ':y' AS b, 1::INT AS c, '10:00' AS d FROM $batch "
                        "WHERE run_id = $run_id")
    query = gx_suite.gx_query("SCH.STALE", run_id="a:b {c}", as_of=AS_OF)
    assert query.startswith("SELECT '{{x}}' AS a, '\\:y' AS b, 1::INT AS c, '10:00' AS d "
                            "FROM (SELECT * FROM {batch})")
    assert query.endswith("WHERE run_id = 'a:b {{c}}'")
    # what GX then executes: {batch} formatted, text() compiled, no bind parameter left
    final = sa.text(query.format(batch="(SELECT * FROM stg_slots) AS subselect")).compile()
    assert not final.params
    assert str(final) == ("SELECT '{x}' AS a, ':y' AS b, 1::INT AS c, '10:00' AS d "
                          "FROM (SELECT * FROM (SELECT * FROM stg_slots) AS subselect) "
                          "WHERE run_id = 'a:b {c}'")
