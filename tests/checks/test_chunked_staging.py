"""Staging and the row rules chunk by chunk find exactly what they find on whole tables."""
from __future__ import annotations

from datetime import datetime

import polars
import pytest

from checks import row_rules, staging
from flows import warehouse
from flows.extract.contract import BY_NAME
from tests.checks.helpers import load_generated_region

AS_OF = datetime(2026, 11, 25, 23)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_generated_region(tmp_path_factory.mktemp("chunked"), patients=400, seed=5,
                                 as_of=AS_OF)


def _stage_and_check(db, run_id, as_of, chunk_rows):
    with warehouse.connect(db) as con:
        f008 = staging.build_current_reference(con, run_id, as_of.date())
        found = row_rules.stage_and_check(con, run_id, as_of, f008, chunk_rows=chunk_rows)
        tables = {e: con.sql(f"SELECT * FROM stg_{e} ORDER BY {BY_NAME[e].id_column}").pl()
                  for e in staging.ENTITIES}
    return found.sort(found.columns), tables


def test_chunks_give_the_same_findings_and_staging_tables(loaded):
    db, run_id, as_of = loaded
    whole, whole_tables = _stage_and_check(db, run_id, as_of, chunk_rows=None)
    chunked, chunked_tables = _stage_and_check(db, run_id, as_of, chunk_rows=97)
    assert whole.height > 0
    assert chunked.equals(whole)
    for entity, table in whole_tables.items():
        assert table.height > 97  # several chunks per entity
        assert chunked_tables[entity].equals(table), entity


def test_an_entity_without_rows_still_gets_its_staging_table(loaded):
    db, run_id, as_of = loaded
    with warehouse.connect(db) as con:
        frames = list(staging.stage_entity_chunks(con, "no-such-run", "slots", as_of, 10))
        assert [f.height for f in frames] == [0]
        assert con.execute("SELECT count(*) FROM stg_slots").fetchall() == [(0,)]
        assert "is_future" in con.sql("SELECT * FROM stg_slots").pl().columns


def test_chunk_boundaries_follow_the_requested_size(loaded):
    db, run_id, as_of = loaded
    with warehouse.connect(db) as con:
        sizes = [f.height for f in staging.stage_entity_chunks(con, run_id, "patients", as_of,
                                                              100)]
        total = con.execute("SELECT count(*) FROM raw_patients WHERE run_id = ?",
                            [run_id]).fetchall()[0][0]
    assert sum(sizes) == total and len(sizes) > 1
    assert all(s >= 100 for s in sizes[:-1])


def test_frames_typed_here_hold_only_the_columns_read(loaded):
    db, run_id, as_of = loaded
    read = row_rules.RULE_COLUMNS["slots"]
    with warehouse.connect(db) as con:
        whole = list(staging.stage_entity_chunks(con, run_id, "slots", as_of))[0]
        chunks = list(staging.stage_entity_chunks(con, run_id, "slots", as_of, 97, read=read))
        empty = list(staging.stage_entity_chunks(con, "no-such-run", "slots", as_of, read=read))
    assert len(chunks) > 1 and all(c.columns == ["line_no", *read] for c in chunks)
    assert polars.concat(chunks).equals(whole.select("line_no", *read))
    assert [(f.height, f.columns) for f in empty] == [(0, ["line_no", *read])]
