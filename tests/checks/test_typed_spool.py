"""Rows typed while the files are read (the spool) give exactly the staging tables, row-level
findings and register links that typing the loaded raw rows gives, CSV and Parquet alike."""
from __future__ import annotations

from datetime import datetime

import polars as pl
import pyarrow.parquet as pq
import pytest

from checks import register, row_rules, staging
from flows import pipeline, warehouse
from flows.extract.contract import PATIENTS, REGISTRY
from flows.synth import generate_region

AS_OF = datetime(2026, 11, 25, 23)
ENTITIES = staging.ENTITIES + (REGISTRY.name,)


@pytest.fixture(scope="module", params=[(), ("slots", "registry")], ids=["csv", "parquet"])
def spooled(request, tmp_path_factory):
    """A region read through a spool and loaded; yields (db, run_id, prepared) while the
    spool still exists."""
    base = tmp_path_factory.mktemp("typed")
    region = base / "region"
    generate_region(region, patients=400, seed=5, region="50", as_of=AS_OF,
                    parquet=request.param)
    db = base / "w.duckdb"
    with pipeline.spooling(db) as spool:
        prepared = pipeline.prepare(region / "extract", region / "reference", spool=spool,
                                    workers=2)
        with warehouse.connect(db) as con:
            run_id = pipeline.new_run_id()
            pipeline.load_run(con, prepared, run_id)
        yield db, run_id, prepared


def _staged(db, run_id, spools):
    with warehouse.connect(db) as con:
        f008 = staging.build_current_reference(con, run_id, AS_OF.date())
        found = row_rules.stage_and_check(con, run_id, AS_OF, f008, chunk_rows=150,
                                          register=True, spools=spools)
        links = register.link_patients(con, run_id, AS_OF, spools.get(REGISTRY.name))
        tables = {e: con.sql(f"SELECT * FROM stg_{e} ORDER BY ALL").pl() for e in ENTITIES}
        tables["reg_link"] = con.sql("SELECT * FROM reg_link ORDER BY ALL").pl()
    return found.sort(found.columns), links, tables


def test_every_file_is_typed_while_read(spooled):
    _, _, prepared = spooled
    spools = pipeline.typed_spools(prepared)
    assert sorted(spools) == sorted(ENTITIES)
    for result in prepared.files:
        assert result.typed and result.frame is None
        # the spool holds the typed columns beside the text; `loaded` still gives the text
        columns = set(staging.STAGED_COLUMNS[result.spec.name]) | set(result.spec.columns)
        assert columns <= set(pq.read_schema(result.spool_path).names)
        assert result.loaded.columns == ["line_no", *result.spec.columns]


def test_typed_spool_equals_typing_the_raw_rows(spooled):
    db, run_id, prepared = spooled
    spools = pipeline.typed_spools(prepared)
    assert any(s.excluded for s in spools.values())  # duplicates are left out of the spool
    from_spool, links_spool, tables_spool = _staged(db, run_id, spools)
    from_raw, links_raw, tables_raw = _staged(db, run_id, {})
    assert from_raw.height > 0 and tables_raw["reg_link"].height > 0
    assert from_spool.equals(from_raw)
    assert links_spool.equals(links_raw)
    for name, table in tables_raw.items():
        assert tables_spool[name].equals(table), name


def test_without_a_register_patients_are_typed_without_name_norms(tmp_path):
    region = tmp_path / "region"
    generate_region(region, patients=400, seed=6, region="50", as_of=AS_OF, registry=False)
    with pipeline.spooling(tmp_path / "w.duckdb") as spool:
        prepared = pipeline.prepare(region / "extract", region / "reference", spool=spool)
        patients = next(r for r in prepared.files if r.spec.name == "patients")
        names = set(pq.read_schema(patients.spool_path).names)
    assert "snils_valid" in names and not {"nl", "nf", "nm"} & names


def test_a_file_without_rows_stages_an_empty_typed_table(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text(";".join(PATIENTS.columns) + "\n", encoding="utf-8")
    with pipeline.spooling(tmp_path / "w.duckdb") as spool:
        result = pipeline.read_file(path, PATIENTS, spool, AS_OF, register=False)
        typed = staging.TypedSpool("patients", result.spool_path)
        with warehouse.connect(tmp_path / "w.duckdb") as con:
            frames = list(staging.stage_entity_chunks(con, "r", "patients", AS_OF, spool=typed))
            assert con.execute("SELECT count(*) FROM stg_patients").fetchall() == [(0,)]
    assert [f.height for f in frames] == [0] and "snils_valid" in frames[0].columns


def test_frames_hold_only_the_columns_read(spooled):
    """With `read`, the spool gives line_no and those columns, chunk by chunk, the same rows
    as the whole frames (duplicates left out) and the same staging table."""
    db, run_id, prepared = spooled
    spools = pipeline.typed_spools(prepared)
    read = row_rules.RULE_COLUMNS["policies"]
    with warehouse.connect(db) as con:
        whole = pl.concat(staging.stage_entity_chunks(con, run_id, "policies", AS_OF,
                                                      spool=spools["policies"]))
        table = con.sql("SELECT * FROM stg_policies ORDER BY ALL").pl()
        chunks = list(staging.stage_entity_chunks(con, run_id, "policies", AS_OF, 150,
                                                  spool=spools["policies"], read=read))
        assert con.sql("SELECT * FROM stg_policies ORDER BY ALL").pl().equals(table)
    assert len(chunks) > 1 and all(c.columns == ["line_no", *read] for c in chunks)
    assert pl.concat(chunks).equals(whole.select("line_no", *read))
    assert not set(spools["policies"].excluded) & set(pl.concat(chunks)["line_no"])
