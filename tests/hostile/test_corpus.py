"""Every corpus case through the real `talon run` (in-process CLI, one Prefect test server per
session): right exit code, a clear one-line message, no traceback, nothing lost; for fatal
input, a warehouse that already holds a good run is left exactly as it was."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.warehouse import RUN_TABLES
from tests.hostile.batch import Batch
from tests.hostile.corpus import CASES, Completes, Fatal

runner = CliRunner()
EXTRACT_FILES = ("patients", "policies", "attachments", "slots", "registry")  # with its register


@dataclass
class Ctx:
    """What a case's extra assertions get."""

    con: duckdb.DuckDBPyConnection
    run_id: str
    out: Path
    tmp: Path
    output: str
    data: dict = field(default_factory=dict)


def _snapshot(db: Path) -> dict:
    """The run ledger and the row count of every table: equal before and after = unchanged."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
        runs = con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    return {"runs": runs, "counts": counts}


def _invoke(b: Batch, out: Path, db: Path):
    return runner.invoke(app, ["run", "--extracts", str(b.extracts_arg), "--reference",
                               str(b.reference_arg), "--out", str(out), "--warehouse", str(db),
                               *b.args])


def _flat(text: str) -> str:
    return " ".join(text.split())


def _check_fatal(expect: Fatal, result, before: dict, db: Path, out: Path) -> None:
    output = result.output
    assert result.exit_code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    message = errors[0]
    assert expect.file in message, message
    for fragment in expect.fragments:
        assert fragment in message, message
    for secret in expect.absent:
        assert secret not in output
    assert _snapshot(db) == before
    assert not out.exists() or not any(out.iterdir())


def _check_completes(expect: Completes, result, before: dict, base, b: Batch, db: Path,
                     out: Path, tmp: Path) -> None:
    output = result.output
    assert result.exit_code == 0, output
    for fragment in expect.output:
        assert _flat(fragment) in _flat(output), fragment
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("SELECT run_id, status, as_of_source FROM runs").fetchall()
        before_ids = {r[0] for r in before["runs"]}
        [(run_id, status, source)] = [r for r in runs if r[0] not in before_ids]
        assert (status, source) == ("completed", expect.as_of_source)
        files = con.execute(
            "SELECT file_name, entity, rows_read, rows_loaded, rows_quarantined FROM run_files "
            "WHERE run_id = ? AND entity <> 'reference'", [run_id]).fetchall()
        assert len(files) == len(EXTRACT_FILES)
        for name, entity, rows_read, rows_loaded, rows_quarantined in files:
            # nothing lost, counted from the tables themselves
            loaded = con.execute(f"SELECT count(*) FROM raw_{name.split('.')[0]} WHERE run_id = ?",
                                 [run_id]).fetchall()[0][0]
            quarantined = con.execute(
                "SELECT line_no, reason, detail FROM quarantine WHERE run_id = ? AND file_name = ? "
                "ORDER BY line_no", [run_id, name]).fetchall()
            assert (rows_loaded, rows_quarantined) == (loaded, len(quarantined))
            assert rows_read == loaded + len(quarantined), name
            expected_read = expect.rows_read.get(name, base.rows.get(name, 0)
                                                 + expect.added.get(name, 0))
            assert rows_read == expected_read, name
            assert quarantined == expect.quarantine.get(name, []), name
        for code, record_id, value in expect.findings:
            found = con.execute("SELECT value FROM findings WHERE run_id = ? AND check_code = ? "
                                "AND record_id = ?", [run_id, code, record_id]).fetchall()
            assert found, (code, record_id)
            if value is not None:
                assert found[0][0] == value, (code, record_id, found)
        gx = con.execute("SELECT count(*) FROM gx_results WHERE run_id = ?", [run_id]).fetchall()
        assert (gx[0][0] > 0) == expect.gx
        if expect.extra is not None:
            expect.extra(Ctx(con, run_id, out, tmp, output, b.data))
    assert (out / "latest" / "index.html").is_file()


@dataclass(frozen=True)
class Base:
    region: Path
    db: Path
    rows: dict  # file name -> rows read in the clean run


@pytest.fixture(scope="module")
def base(tmp_path_factory, prefect_server, clean_region) -> Base:
    """A warehouse holding one good run of the clean region (ingested once per module)."""
    db = tmp_path_factory.mktemp("hostile-wh") / "base.duckdb"
    result = runner.invoke(app, ["ingest", "--extracts", str(clean_region / "extract"),
                                 "--reference", str(clean_region / "reference"),
                                 "--warehouse", str(db)])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        rows = dict(con.execute("SELECT file_name, rows_read FROM run_files").fetchall())
        assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0
    return Base(clean_region, db, rows)


def test_corpus_is_large_and_covers_both_outcomes():
    kinds = [fn.__annotations__["return"] for fn in CASES.values()]
    assert len(CASES) >= 40
    assert kinds.count("Fatal") >= 20 and kinds.count("Completes") >= 15


def test_run_tables_are_all_in_the_snapshot(base):
    counts = _snapshot(base.db)["counts"]
    assert set(RUN_TABLES) | {"runs"} <= set(counts)
    assert counts["runs"] == 1 and counts["raw_slots"] > 0


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(name, base, tmp_path, monkeypatch):
    b = Batch(tmp_path / "batch", base.rows)
    shutil.copytree(base.region, b.root, symlinks=True)
    db = tmp_path / "w.duckdb"
    shutil.copyfile(base.db, db)  # the warehouse is its file and its raw store, copied together
    shutil.copytree(f"{base.db}.raw", f"{db}.raw")
    expect = CASES[name](b)
    if isinstance(expect, Completes) and expect.gx:
        b.args.append("--gx-crosscheck")  # the one case that puts hostile codes in GX's SQL
    before = _snapshot(db)
    out = tmp_path / "out"
    result = _invoke(b, out, db)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if isinstance(expect, Fatal):
        _check_fatal(expect, result, before, db, out)
    else:
        _check_completes(expect, result, before, base, b, db, out, tmp_path)
