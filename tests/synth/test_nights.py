"""Consecutive nights with feed breaks (flows/synth/nights.py): the files keep their dialects,
the breaks are what the module says, and the truth oracle decides each FEED condition at its
boundaries (hand-made counts; no Talon run here: tests/e2e/test_feed_nights.py runs them)."""
from __future__ import annotations

import json
import math
import shutil
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.synth import generate_region
from flows.synth.nights import (
    NightStats, _rewrite, expected_findings, generate_nights, read_night, read_table)

AS_OF = datetime(2026, 11, 25, 23, 0)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return generate_nights(tmp_path_factory.mktemp("nights"), nights=4, patients=400, seed=5,
                           as_of=AS_OF, parquet=("policies",))


def test_rewriting_keeps_every_dialect_byte_for_byte(tmp_path):
    generate_region(tmp_path, patients=200, seed=2, as_of=AS_OF, defects=False)
    for name in ("patients", "policies", "attachments", "slots"):
        path = tmp_path / "extract" / f"{name}.csv"
        copy = tmp_path / f"copy-{name}.csv"
        shutil.copyfile(path, copy)
        _rewrite(copy, name, lambda df: df)
        assert copy.read_bytes() == path.read_bytes(), name


def test_nights_are_one_region_a_day_apart(small):
    assert small.as_of == [AS_OF - timedelta(days=3 - k) for k in range(4)]
    first, second = (read_table(small.nights[k] / "extract" / "patients.csv") for k in (0, 1))
    assert first["patient_id"].to_list() == second["patient_id"].to_list()
    for k, folder in enumerate(small.nights):
        manifest = json.loads((folder / "extract" / "manifest.json").read_text())
        assert manifest["extracted_at"] == f"{small.as_of[k]:%Y-%m-%d %H:%M}"
        assert not (folder / "truth.csv").exists()
    assert (small.nights[0] / "extract" / "policies.parquet").is_file()


def test_the_breaks_are_in_the_files(small):
    r = small.roles
    assert len(r) == 6
    before, third, last = (read_night(small.nights[k], small.as_of[k]) for k in (1, 2, 3))
    assert r["M1"] not in third.future and r["M1"] in last.future  # silent, then back
    assert (third.future[r["M2"]], third.future[r["M3"]]) == (19, 20)
    assert r["M2"] not in last.future and r["M3"] not in last.future
    assert last.horizon[r["M4"]] == third.horizon[r["M4"]] // 2 - 1
    assert 2 * last.horizon[r["M5"]] == third.horizon[r["M5"]]  # exactly half
    assert last.mos[r["M6"]] and not third.mos[r["M6"]] and r["M6"] not in last.future
    assert last.rows["patients.csv"] == before.rows["patients.csv"] // 2
    assert last.empty["slots.csv"]["doctor_snils"] == last.rows["slots.csv"]
    empty, rows = last.empty["patients.csv"], last.rows["patients.csv"]  # none the night before
    assert empty["snils"] * 10 >= rows > empty["sex"] * 10  # 10 points more; one short of it
    history = sorted(read_night(small.nights[k], small.as_of[k]).rows["policies.parquet"]
                     for k in (0, 1, 2))
    assert last.rows["policies.parquet"] == math.ceil(Fraction(7, 10) * history[1])  # 70 %


def _night(day, rows=None, empty=None, future=None, horizon=None, mos=None):
    rows = rows or {"patients.csv": 2000}
    return NightStats(AS_OF + timedelta(days=day), {f.split(".")[0]: f for f in rows}, rows,
                      empty or {f: {} for f in rows}, future or {}, horizon or {},
                      mos if mos is not None else {"5001": False, "5002": False, "5009": True})


def test_oracle_volume_at_its_boundary():
    history = [_night(k, {"patients.csv": n}) for k, n in enumerate((1000, 1000, 1000))]
    assert expected_findings(history + [_night(3, {"patients.csv": 700})])[3] == []
    assert expected_findings(history + [_night(3, {"patients.csv": 699})])[3] == [
        ("FEED.VOLUME.DROP", "patients.csv", "")]
    assert expected_findings(history[:2] + [_night(2, {"patients.csv": 10})])[2] == []
    even = [_night(k, {"patients.csv": n}) for k, n in enumerate((1000, 2000, 3000, 4000))]
    assert expected_findings(even + [_night(4, {"patients.csv": 1750})])[4] == []
    assert expected_findings(even + [_night(4, {"patients.csv": 1749})])[4] != []


def test_oracle_mo_silent_and_shrunk():
    prev = _night(0, future={"5001": 20, "5002": 19, "5009": 40, "7777": 40, "5003": 40},
                  horizon={"5001": 20, "5002": 19, "5009": 30, "7777": 30, "5003": 40})
    prev.mos["5003"] = False
    now = _night(1, future={"5003": 25}, horizon={"5003": 19})
    now.mos["5003"] = False
    # 5001 silent; 5002 had 19; 5009 excluded and 7777 unknown: silent, never shrunk;
    # 5003: 19 < half of 40
    assert expected_findings([prev, now])[1] == [("FEED.MO.SHRUNK", "5003", "5003"),
                                                 ("FEED.MO.SILENT", "5001", "5001")]
    now.horizon["5003"] = 20  # exactly half
    assert expected_findings([prev, now])[1] == [("FEED.MO.SILENT", "5001", "5001")]


@pytest.mark.parametrize("before, tonight, rows_before, rows_now, raised", [
    (100, 300, 2000, 2000, True), (100, 299, 2000, 2000, False), (0, 200, 999, 2000, False),
    (0, 200, 2000, 999, False), (1900, 2000, 2000, 2000, False),
])
def test_oracle_column_empty(before, tonight, rows_before, rows_now, raised):
    nights = [_night(0, {"patients.csv": rows_before}, {"patients.csv": {"snils": before}}),
              _night(1, {"patients.csv": rows_now}, {"patients.csv": {"snils": tonight}})]
    assert (expected_findings(nights)[1] == [("FEED.COLUMN.EMPTY", "patients.csv:snils", "")]) \
        is raised


def test_cli_generate_nights(tmp_path):
    runner = CliRunner()
    out = tmp_path / "n"
    result = runner.invoke(app, ["generate", "--nights", "2", "--patients", "100", "--out",
                                 str(out), "--as-of", "2026-11-25 23:00"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "nights.json").read_text(encoding="utf-8"))
    assert [n["extract"] for n in meta["nights"]] == ["night-1/extract", "night-2/extract"]
    assert meta["nights"][1]["breaks"] and (out / "feed_truth.csv").is_file()
    assert (out / "night-2" / "reference" / "F003.xml").is_file()
    refused = runner.invoke(app, ["generate", "--nights", "2", "--defects", "--out",
                                  str(tmp_path / "d")])
    assert refused.exit_code == 2 and "--defects" in refused.output
    assert runner.invoke(app, ["generate", "--nights", "1", "--out",
                               str(tmp_path / "e")]).exit_code == 2
