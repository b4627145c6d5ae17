"""Feed health end to end (catalogue v1.3): five generated nights of one region, feed breaks in
the last two (flows/synth/nights.py), run in order on one warehouse; every night's FEED findings
equal the generator's truth exactly (codes, record ids, routing). The thresholds of `talon run`
are refused with exit 2 naming the option."""
from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from typer.testing import CliRunner

from flows import pipeline, warehouse
from flows.cli import app
from flows.synth.nights import TRUTH_FILE, generate_nights

AS_OF = datetime(2026, 11, 25, 23, 0)
NIGHTS = 5
SEVERITY = {"FEED.VOLUME.DROP": "warning", "FEED.MO.SILENT": "blocker",
            "FEED.MO.SHRUNK": "warning", "FEED.COLUMN.EMPTY": "warning"}
ENTITY = {"FEED.VOLUME.DROP": "file", "FEED.MO.SILENT": "mo", "FEED.MO.SHRUNK": "mo",
          "FEED.COLUMN.EMPTY": "file"}


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    return generate_nights(tmp_path_factory.mktemp("nights"), nights=NIGHTS, patients=2_500,
                           seed=11, as_of=AS_OF)


@pytest.fixture(scope="module")
def feed_found(nights, tmp_path_factory):
    """Each night run in order on one warehouse (the pipeline's steps, as `talon run` takes
    them, without the reports): per night, its FEED findings as stored."""
    db = tmp_path_factory.mktemp("warehouse") / "w.duckdb"
    found = []
    for folder in nights.nights:
        prepared = pipeline.prepare(folder / "extract", folder / "reference")
        with warehouse.connect(db) as con:
            run_id = pipeline.new_run_id()
            pipeline.load_run(con, prepared, run_id)
            pipeline.run_checks(con, run_id, prepared.as_of, pipeline.CheckParams(), db)
            pipeline.finish_run(con, run_id, "completed")
            found.append(con.execute(
                """SELECT check_code, record_id, coalesce(mo_code, ''), severity, entity,
                          coalesce(unassigned_reason, '')
                   FROM findings WHERE run_id = ? AND check_code LIKE 'FEED.%'
                   ORDER BY ALL""", [run_id]).fetchall())
    return found


def test_feed_findings_equal_the_truth_every_night(nights, feed_found):
    assert [[f[:3] for f in night] for night in feed_found] == nights.expected
    assert feed_found[:3] == [[], [], []]  # the clean nights before any break
    for night in feed_found:
        for code, record_id, mo, severity, entity, reason in night:
            assert (severity, entity) == (SEVERITY[code], ENTITY[code])
            assert mo == (record_id if entity == "mo" else "")  # an MO's own; files unassigned
            assert reason == ("feed_file" if entity == "file" else "")


def test_truth_file_and_the_breaks_it_expects(nights):
    truth = pl.read_csv(nights.out / TRUTH_FILE, infer_schema=False).fill_null("")
    per_night = [sorted(truth.filter(pl.col("night") == str(k + 1))
                        .select("check_code", "record_id", "mo_code").iter_rows())
                 for k in range(NIGHTS)]
    assert per_night == nights.expected
    r = nights.roles
    fourth, fifth = set(nights.expected[3]), set(nights.expected[4])
    assert {("FEED.MO.SILENT", r["M1"], r["M1"]), ("FEED.MO.SHRUNK", r["M2"], r["M2"]),
            ("FEED.MO.SHRUNK", r["M3"], r["M3"])} <= fourth
    assert {("FEED.MO.SILENT", r["M3"], r["M3"]), ("FEED.MO.SHRUNK", r["M4"], r["M4"]),
            ("FEED.VOLUME.DROP", "patients.csv", ""), ("FEED.VOLUME.DROP", "attachments.csv", ""),
            ("FEED.COLUMN.EMPTY", "slots.csv:doctor_snils", ""),
            ("FEED.COLUMN.EMPTY", "patients.csv:snils", "")} <= fifth
    # the boundaries that must not raise: M1 back, M2 had 19 future slots, M5 cut to exactly
    # half, M6 excluded; policies at exactly the volume bound; sex one value short of 10 points
    mentioned = {x for f in fifth for x in f[1:]}
    assert not {r["M1"], r["M2"], r["M5"], r["M6"], "policies.csv", "patients.csv:sex"} & mentioned


@pytest.mark.parametrize("option, value", [
    ("--volume-drop", "0"), ("--volume-drop", "1.5"), ("--mo-shrunk", "0"),
    ("--mo-silent-min", "-1"), ("--column-empty-points", "0"),
    ("--column-empty-points", "101"),
])
def test_bad_threshold_exits_2_naming_the_option(tmp_path, option, value):
    result = CliRunner().invoke(app, [
        "run", "--extracts", str(tmp_path), "--reference", str(tmp_path), "--out",
        str(tmp_path / "out"), "--warehouse", str(tmp_path / "w.duckdb"), option, value])
    assert result.exit_code == 2, result.output
    assert option in result.output and "Traceback" not in result.output
    assert not (tmp_path / "w.duckdb").exists()
