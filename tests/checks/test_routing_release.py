"""What routing keeps and releases (issue 15: the dense 1M run's peak was routing's): the
staging tables it does not read go before its query, and whoever reads them later (the GX
cross-check) stages them again."""
from __future__ import annotations

from datetime import datetime

import pytest

from checks import staging
from flows import pipeline, warehouse
from tests.checks.helpers import load_generated_region

AS_OF = datetime(2026, 11, 25, 23)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_generated_region(tmp_path_factory.mktemp("routing_release"), patients=300,
                                 seed=5, as_of=AS_OF)


def _temp_tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}


def _stored(db, run_id) -> list[tuple]:
    with warehouse.connect(db) as con:
        return con.execute(
            "SELECT * EXCLUDE (run_id) FROM findings WHERE run_id = ? "
            "ORDER BY check_code, entity, record_id", [run_id]).fetchall()


def test_routing_releases_what_it_does_not_read_and_gx_stages_it_again(loaded):
    db, run_id, as_of = loaded
    con = warehouse.connect(db)
    try:
        routed, set_found = pipeline.check_findings(con, run_id, as_of)
        held = _temp_tables(con)
        assert {"stg_patients", "stg_attachments", "cur_mo", "reg_values"} <= held
        assert not held & {"stg_policies", "stg_slots", "run_findings", "reg_unlinked"}
        assert not any(t.startswith("feed_") for t in held)
        released = _stored(db, run_id)
        assert staging.restage_missing(con, run_id, as_of) == ["stg_policies", "stg_slots"]
        assert staging.restage_missing(con, run_id, as_of) == []
        for table in ("stg_policies", "stg_slots"):  # the columns the run staged
            columns = tuple(r[0] for r in con.execute(f"DESCRIBE {table}").fetchall())
            assert columns == staging.STAGED_COLUMNS[table[4:]]
        # the set rules on the staged-again tables find what the run found
        from checks import set_rules
        again = set_rules.run_set_rules(con, run_id, as_of)
        assert again.sort(again.columns).equals(set_found.sort(set_found.columns))
    finally:
        con.close()
    con = warehouse.connect(db)
    try:  # with the cross-check every staging table stays, the findings are the same
        pipeline.check_findings(con, run_id, as_of, pipeline.CheckParams(gx_crosscheck=True))
        assert {f"stg_{e}" for e in staging.ENTITIES} <= _temp_tables(con)
    finally:
        con.close()
    assert _stored(db, run_id) == released and routed.height == len(released)


def test_gx_cross_check_after_a_released_routing_agrees(loaded):
    db, run_id, as_of = loaded
    con = warehouse.connect(db)
    _, set_found = pipeline.check_findings(con, run_id, as_of)  # releases stg_policies, slots
    gx = pipeline.BackgroundGx(con, db, run_id, as_of, pipeline.CheckParams(), set_found,
                               background=False)
    gx.wait()
    with warehouse.connect(db) as check:
        assert check.execute("SELECT count(*) FROM gx_results WHERE run_id = ? AND error IS NULL "
                             "AND unexpected_count = talon_count", [run_id]).fetchall() \
            == [(20,)]


def test_the_register_step_runs_without_what_it_does_not_read(loaded, monkeypatch):
    """stg_slots (the largest staging table) goes before the register step, after the
    quarantine's findings have read it; with the GX cross-check it stays."""
    from checks import register

    db, run_id, as_of = loaded
    seen: list[set[str]] = []
    real = register.check_register

    def spy(con, *args, **kwargs):
        seen.append(_temp_tables(con))
        return real(con, *args, **kwargs)

    monkeypatch.setattr(register, "check_register", spy)
    for crosscheck in (False, True):
        con = warehouse.connect(db)
        try:
            pipeline.check_findings(con, run_id, as_of,
                                    pipeline.CheckParams(gx_crosscheck=crosscheck))
        finally:
            con.close()
    without, with_gx = seen
    assert set(register.STAGING_READS) <= without and "stg_slots" not in without
    assert {f"stg_{e}" for e in staging.ENTITIES} <= with_gx
    # the slots' duplicate ids were read before: a duplicated slot id still routes to its clinic
    with warehouse.connect(db) as con:
        dup = con.execute(
            "SELECT count(*), count(mo_code) FROM findings WHERE run_id = ? "
            "AND check_code = 'ROW.DUPLICATE_ID' AND entity = 'slot'", [run_id]).fetchall()[0]
    assert dup[0] > 0 and dup[1] == dup[0]
