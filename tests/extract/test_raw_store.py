"""The raw store: a warehouse file's raw tables are Parquet files beside it, one per run and
extract file, seen through views that show the ledger's runs only (flows/warehouse.py)."""
from __future__ import annotations

import shutil
import stat
from datetime import datetime

import duckdb
import pytest

from flows import pipeline, warehouse
from flows.extract.contract import ALL_FILES, PATIENTS
from flows.extract.load import load_file
from flows.extract.reader import read_extract_file
from flows.synth import generate_region
from tests.extract.helpers import HEADER, patient, read, write_lines
from tests.raw_rows import add_run

AS_OF = datetime(2026, 11, 25, 23)


def _patients(tmp_path, n: int = 3):
    return write_lines(tmp_path / "patients.csv",
                       [HEADER] + [";".join(patient(i)) for i in range(1, n + 1)])


def _count(con, run_id: str) -> int:
    return con.execute("SELECT count(*) FROM raw_patients WHERE run_id = ?",
                       [run_id]).fetchall()[0][0]


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    base = tmp_path_factory.mktemp("raw-store")
    generate_region(base / "region", patients=120, seed=3, region="50", as_of=AS_OF)
    return base / "region"


def _prepared(region, spool):
    return pipeline.prepare(region / "extract", region / "reference", spool=spool)


def test_an_empty_warehouse_has_empty_raw_views_with_the_contract_columns(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        store = warehouse.raw_store(con)
        assert store == (tmp_path / "w.duckdb.raw").resolve()
        assert stat.S_IMODE(store.stat().st_mode) == 0o700  # it holds personal data
        for f in ALL_FILES:
            assert con.execute(f"SELECT count(*) FROM {f.raw_table}").fetchall() == [(0,)]
            assert [d[0] for d in con.execute(f"DESCRIBE {f.raw_table}").fetchall()] == [
                "run_id", "line_no", *f.columns]


def test_rows_show_only_for_runs_in_the_ledger_and_orphans_go_at_the_next_start(tmp_path):
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db) as con:
        add_run(con, "kept")
        load_file(con, "kept", read(_patients(tmp_path)))
        con.execute("BEGIN TRANSACTION")  # a load killed before its commit
        add_run(con, "lost")
        load_file(con, "lost", read(_patients(tmp_path, 2)))
        con.execute("ROLLBACK")
        assert (_count(con, "kept"), _count(con, "lost")) == (3, 0)
        store = warehouse.raw_store(con)
        assert warehouse.raw_file(store, "raw_patients", "lost").exists()
        assert warehouse.remove_orphan_raw(con) == ["lost"]
        assert not warehouse.raw_run_dir(store, "raw_patients", "lost").exists()
        assert _count(con, "kept") == 3
        assert warehouse.remove_orphan_raw(con) == []  # the schema files stay
        assert con.execute("SELECT count(*) FROM raw_slots").fetchall() == [(0,)]


def test_a_failed_load_leaves_no_raw_file(region, tmp_path):
    db = tmp_path / "w.duckdb"
    with pipeline.spooling(db) as spool, warehouse.connect(db) as con:
        prepared = _prepared(region, spool)
        prepared.files[-1].rows_read += 1  # the last file does not reconcile: the load fails
        with pytest.raises(RuntimeError, match="reconciliation failed"):
            pipeline.load_run(con, prepared, "r1")
        store = warehouse.raw_store(con)
        assert not any(warehouse.raw_run_dir(store, f.raw_table, "r1").exists()
                       for f in ALL_FILES)
        assert con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]


def test_a_replaced_run_and_a_pruned_run_lose_their_raw_files(region, tmp_path):
    db = tmp_path / "w.duckdb"
    with pipeline.spooling(db) as spool, warehouse.connect(db) as con:
        prepared = _prepared(region, spool)
        pipeline.load_run(con, prepared, "r1")
        pipeline.finish_run(con, "r1", "completed")
    with pipeline.spooling(db) as spool, warehouse.connect(db) as con:
        prepared = _prepared(region, spool)
        pipeline.load_run(con, prepared, "r2", pipeline.check_rerun(con, prepared, force=True))
        store = warehouse.raw_store(con)
        assert warehouse.raw_file(store, "raw_patients", "r1").exists()  # until r2 completes
        pipeline.finish_run(con, "r2", "completed")
        assert not warehouse.raw_run_dir(store, "raw_patients", "r1").exists()
        loaded = _count(con, "r2")
        assert loaded == prepared.files[0].rows_loaded > 0
    with pipeline.spooling(db) as spool, warehouse.connect(db) as con:
        pipeline.load_run(con, _prepared(region, spool), "r3",
                          pipeline.check_rerun(con, _prepared(region, spool), force=True))
        pipeline.finish_run(con, "r3", "failed")  # r2 stays: its raw rows too
        assert pipeline.prune_raw(con, keep_runs=1) == ["r2"]
        assert not warehouse.raw_run_dir(store, "raw_patients", "r2").exists()
        assert (_count(con, "r2"), _count(con, "r3")) == (0, loaded)
        assert con.execute("SELECT count(*) FROM runs WHERE run_id = 'r2'").fetchall() == [(1,)]


def test_a_warehouse_from_before_the_raw_store_moves_its_raw_rows_there(tmp_path):
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db) as con:  # the warehouse as written before: raw tables in DuckDB
        for f in ALL_FILES:
            con.execute(f"DROP VIEW {f.raw_table}")
        con.execute(warehouse._raw_ddl())
        for run_id in ("a", "b"):
            add_run(con, run_id)
            con.execute("INSERT INTO raw_patients VALUES (?, 2, '1', 'Пётр', 'И', '', "
                        "'01.01.1980', '1', '')", [run_id])
    shutil.rmtree(tmp_path / "w.duckdb.raw")
    with warehouse.connect(db) as con:
        assert con.execute("SELECT table_type FROM information_schema.tables WHERE table_name "
                           "= 'raw_patients'").fetchall() == [("VIEW",)]
        assert con.execute("SELECT run_id, line_no, last_name FROM raw_patients ORDER BY run_id"
                           ).fetchall() == [("a", 2, "Пётр"), ("b", 2, "Пётр")]
        store = warehouse.raw_store(con)
        assert sorted(p.name for p in (store / "raw_patients").iterdir()) == [
            "run_id=_schema", "run_id=a", "run_id=b"]
        assert con.execute("SELECT count(*) FROM raw_slots").fetchall() == [(0,)]


def test_a_moved_warehouse_reads_its_raw_store_in_the_new_place(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    with warehouse.connect(old / "w.duckdb") as con:
        add_run(con, "r")
        load_file(con, "r", read(_patients(tmp_path)))
    shutil.move(old, new)
    with warehouse.connect(new / "w.duckdb") as con:
        assert _count(con, "r") == 3
    with duckdb.connect(str(new / "w.duckdb"), read_only=True) as con:  # a steward's shell
        assert _count(con, "r") == 3


def test_the_raw_view_leaves_out_the_quarantined_duplicates_of_the_spool(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, ";".join(patient(1)),
                                                   ";".join(patient(1, "Петров"))])
    spool = tmp_path / "spool"
    spool.mkdir()
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        add_run(con, "r")
        result = read_extract_file(path, PATIENTS, spool)
        load_file(con, "r", result)
        assert con.execute("SELECT line_no, last_name FROM raw_patients").fetchall() == [
            (2, "Иванов")]
        file = warehouse.raw_file(warehouse.raw_store(con), "raw_patients", "r")
        assert duckdb.sql(f"SELECT count(*) FROM '{file}'").fetchall() == [(2,)]

