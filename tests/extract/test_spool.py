"""Spooled reading: rows read but not yet loaded wait in a private Parquet file, not in memory,
and everything downstream is the same as reading into memory."""
from __future__ import annotations

import stat

import polars as pl
import pytest

from flows import pipeline, warehouse
from flows.errors import InputError
from flows.extract import dialect
from flows.extract.contract import PATIENTS, SLOTS
from flows.extract.load import load_file
from flows.extract.reader import read_extract_file
from tests.extract.helpers import HEADER, patient, write_lines
from tests.raw_rows import add_run


def _line(i, last="Иванов", **kw):
    return ";".join(patient(i, last, **kw))


LINES = [
    HEADER,
    _line(1),
    _line(2) + ";",                             # too many fields
    "3;Иванов;Иван",                            # too few
    '4;"Иванов;Иван;И;01.02.1980;1;x',          # unclosed quote
    '5;"Ива;нов";Иван;И;01.02.1980;1;x;"y"',    # quoted, one field too many
    '6;"Ива;нов";Иван;И;01.02.1980;1',          # quoted, one field too few
    _line(7, "Ива\x00нов"),                     # NUL
    "",
    _line(1, "Петров"),                         # duplicate of line 2
    '8;"Квот""ед";Иван;И;01.02.1980;1;""',     # quoted, loaded
    _line(9),
    _line(8, "Сидоров"),                        # duplicate of line 11
    _line(10, "x" * 200),
]


def _frames(result):
    return (result.loaded.sort("line_no"), result.quarantined.sort("line_no"))


@pytest.mark.parametrize("blocks", ["one block", "many blocks"])
def test_spooled_read_equals_the_in_memory_read(tmp_path, monkeypatch, blocks):
    if blocks == "many blocks":
        monkeypatch.setattr(dialect, "BLOCK_BYTES", 40)
    path = write_lines(tmp_path / "patients.csv", LINES)
    spool = tmp_path / "spool"
    spool.mkdir()
    memory = read_extract_file(path, PATIENTS)
    spooled = read_extract_file(path, PATIENTS, spool)
    assert memory.frame is not None and memory.spool_path is None
    assert spooled.frame is None and spooled.spool_path == spool / "patients.parquet"
    assert spooled.spool_path.is_file()
    loaded, quarantined = _frames(spooled)
    assert loaded.equals(memory.loaded) and quarantined.equals(memory.quarantined)
    assert (spooled.rows_loaded, spooled.rows_quarantined) == (memory.rows_loaded,
                                                               memory.rows_quarantined)
    assert loaded["line_no"].to_list() == [2, 11, 12, 14]
    assert sorted(spooled.excluded.to_list()) == [10, 13]  # in the spool file, not loaded
    details = dict(zip(quarantined["line_no"], quarantined["detail"]))
    assert details[6] == "expected 7 fields, found 8" and details[7] == "expected 7 fields, found 6"
    assert loaded.filter(pl.col("line_no") == 11)["last_name"].item() == 'Квот"ед'
    assert loaded.filter(pl.col("line_no") == 11)["snils"].item() == ""


def test_loading_from_the_spool_stores_what_loading_from_memory_stores(tmp_path):
    path = write_lines(tmp_path / "patients.csv", LINES)
    spool = tmp_path / "spool"
    spool.mkdir()
    stored = []
    for name, spool_dir in (("memory", None), ("spooled", spool)):
        with warehouse.connect(tmp_path / f"{name}.duckdb") as con:
            add_run(con, "run-1")
            result = read_extract_file(path, PATIENTS, spool_dir)
            load_file(con, "run-1", result)
            raw = warehouse.raw_file(warehouse.raw_store(con), "raw_patients", "run-1")
            if spool_dir:  # the spool became the run's raw file: linked, not copied
                assert raw.stat().st_ino == result.spool_path.stat().st_ino
            stored.append((con.execute("SELECT * FROM raw_patients ORDER BY line_no").fetchall(),
                           con.execute("SELECT line_no, reason, detail, record_id, raw_line "
                                       "FROM quarantine ORDER BY line_no").fetchall(),
                           con.execute("SELECT rows_read, rows_loaded, rows_quarantined "
                                       "FROM run_files").fetchall()))
    assert stored[0] == stored[1]
    assert [r[1] for r in stored[1][0]] == [2, 11, 12, 14]


def test_a_file_refused_leaves_no_spool_file(tmp_path):
    path = write_lines(tmp_path / "slots.csv", ["slot_id;mo_code", "1;2"])
    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(InputError, match="missing required column"):
        read_extract_file(path, SLOTS, spool)
    assert list(spool.iterdir()) == []


def test_the_spool_folder_is_private_and_removed_whatever_happens(tmp_path):
    db = tmp_path / "wh" / "region.duckdb"
    with pipeline.spooling(db) as spool:
        assert spool.parent == db.parent and spool.name.startswith(".region.duckdb.spool-")
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        (spool / "x.parquet").write_bytes(b"personal data")
    assert not spool.exists()
    with pytest.raises(RuntimeError), pipeline.spooling(db) as spool:
        raise RuntimeError("killed half-way")
    assert not spool.exists()


def test_stale_spools_of_this_warehouse_only_are_cleaned(tmp_path):
    mine = tmp_path / ".region.duckdb.spool-abc123"
    other = tmp_path / ".other.duckdb.spool-def456"
    for folder in (mine, other):
        folder.mkdir()
        (folder / "patients.parquet").write_bytes(b"x")
    assert pipeline.clean_stale_spools(tmp_path / "region.duckdb") == [mine]
    assert not mine.exists() and other.exists()
