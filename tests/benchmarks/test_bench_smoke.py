"""The benchmark harness (bench.py) end to end at 2,000 patients, so the script cannot rot:
every Talon stage and every baseline runs in its own process, the tables carry every stage
and ratio, and the baselines implement the same rules as Talon. No timing is asserted."""
from __future__ import annotations

import json

import polars as pl
import pytest

from checks import identifiers, parsing
from flows.extract.contract import ALL_FILES
from tests.benchmarks import baselines, bench, tables

PATIENTS = 2_000
STEPS = {"gx": ["load_pandas", "setup", "validate"],
         "pandera": ["load_pandas", "setup", "validate"], "floor": ["one_pass"]}
CHECK_STAGE_LABEL = tables.COMPARISONS[-1][0]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    code = bench.main(["--sizes", str(PATIENTS), "--work", str(root / "work"),
                       "--out", str(root / "out"), "--verify", "--note", "smoke run"])
    assert code == 0
    info = json.loads((root / "out" / "results.json").read_text(encoding="utf-8"))
    return root, info, (root / "out" / "RESULTS.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_json_has_every_stage_of_talon(bench_run):
    _, info, _ = bench_run
    [size] = info["sizes"]
    talon = size["talon"]
    assert size["patients"] == PATIENTS
    assert [s["name"] for s in talon["stages"]] == [name for name, _ in bench.TALON_STAGES]
    assert all(s["wall_s"] >= 0 and s["cpu_s"] >= 0 and s["peak_rss_mb"] > 0
               for s in talon["stages"])
    assert talon["process_peak_mb"] >= max(s["peak_rss_mb"] for s in talon["stages"])
    assert talon["verified"] is True  # the staged run equals pipeline.run_checks
    feed = next(s for s in talon["stages"] if s["name"] == "feed")
    assert feed["extra"]["expectations"] > 0  # a steady warehouse's night: the full feed suite
    register = next(s for s in talon["stages"] if s["name"] == "register")
    assert sum(register["extra"]["links"].values()) > 0
    assert talon["total_rows"] == sum(talon["rows"].values()) > PATIENTS
    assert talon["report_files"] > 0 and talon["findings"] > 0
    assert size["generation"]["cached"] is False
    assert info["machine"]["nproc"] >= 1 and info["machine"]["versions"]["polars"] != "absent"


@pytest.mark.slow
def test_json_has_every_baseline_and_ratio(bench_run):
    _, info, _ = bench_run
    [size] = info["sizes"]
    assert {n: [s["name"] for s in b["stages"]] for n, b in size["baselines"].items()} == STEPS
    expected = {(label, b) for label, _, _ in tables.COMPARISONS for b in ("gx", "pandera")}
    expected.add((CHECK_STAGE_LABEL, "floor"))
    assert {(r["talon_part"], r["baseline"]) for r in size["ratios"]} == expected
    assert all(r["baseline_over_talon"] > 0 and r["talon_s"] > 0 for r in size["ratios"])
    floor = size["baselines"]["floor"]["read"]
    assert {k: v["rows"] for k, v in floor.items()} == size["talon"]["rows"]


@pytest.mark.slow
def test_baselines_find_what_talon_finds(bench_run):
    _, info, _ = bench_run
    [size] = info["sizes"]
    pandera = size["agreement"]["pandera"]
    assert pandera["equal"], pandera
    assert pandera["talon"] > 0
    gx = size["agreement"]["gx"]
    full = {code: r for code, r in gx.items() if r["coverage"] == baselines.FULL}
    assert full and all(r["gx_unexpected"] == r["talon"] for r in full.values()), full
    assert all(r["gx_unexpected"] is None for r in gx.values()
               if r["coverage"] == baselines.NONE)


@pytest.mark.slow
def test_markdown_has_every_stage_and_ratio(bench_run):
    _, _, md = bench_run
    assert "> **smoke run**" in md
    for name, group in bench.TALON_STAGES:
        assert f"| {name} | {group} |" in md
    for label, _, _ in tables.COMPARISONS:
        assert f"| {label} |" in md
    for name, steps in STEPS.items():
        for step in steps:
            assert f"| {tables.BASELINE_NAMES[name]}: {step} |" in md
    for code in (r.code for r in baselines.GX_RULES):
        assert f"| {code} |" in md
    assert "CPU:" in md and "**end to end**" in md and "| 2,000 |" in md


@pytest.mark.slow
def test_region_is_reused_until_its_inputs_change(bench_run):
    root, _, _ = bench_run
    work = (root / "work").resolve()
    assert bench.ensure_region(work, PATIENTS, bench.SEED)["cached"] is True
    assert bench.region_key(PATIENTS, bench.SEED) != bench.region_key(PATIENTS, bench.SEED + 1)
    assert bench.region_key(PATIENTS, bench.SEED) != bench.region_key(PATIENTS + 1, bench.SEED)


# --- the pandas baseline's building blocks equal Talon's (fast) -----------------------------

def _talon(expr_fn, values: list[str]) -> list:
    return pl.DataFrame({"v": values}).select(expr_fn(pl.col("v")))["v"].to_list()


def _pandas(fn, values: list[str]) -> list:
    import pandas as pd

    out = fn(pd.Series(values, dtype="str"))
    return [None if pd.isna(x) else (x.to_pydatetime() if hasattr(x, "to_pydatetime") else bool(x))
            for x in out]


def test_pandas_snils_and_enp_checks_equal_talons():
    snils = ["112-233-445 95", "11223344595", "112-233-445-95", "112-233-445 96",
             "001-001-998 00", "001-001-999 00", "", "1122334459", "112 233 445 95", "abc"]
    enp = ["4111111111111111", "4111111111111112", "411111111111111", "", "4111 1111 1111 1111",
           "0000000000000000", "7958031234567890"]
    got_snils = _pandas(baselines.snils_valid, snils)
    got_enp = _pandas(baselines.enp_valid, enp)
    assert got_snils == _talon(identifiers.snils_valid, snils)
    assert got_enp == _talon(identifiers.enp_valid, enp)
    assert True in got_snils and False in got_snils and True in got_enp and False in got_enp


def test_pandas_date_parsing_equals_talons():
    dates = ["2024-01-31", "31.01.2024", "2024-02-30", "29.02.2024", "29.02.2023", "2024-1-02",
             " 2024-01-01", "0000-01-01", "0001-01-01", "", "2024-13-01"]
    stamps = ["2024-01-31 10:00", "2024-01-31T10:00:59", "31.01.2024 23:59", "2024-01-31 24:00",
              "2024-01-31 10:00:60", "2024-01-31 10:00+03", "31.01.2024T10:00", ""]
    as_date = [None if x is None else x.date() for x in _pandas(baselines.parse_date, dates)]
    assert as_date == _talon(parsing.parse_date, dates)
    assert _pandas(baselines.parse_ts, stamps) == _talon(parsing.parse_timestamp, stamps)
    assert any(x is None for x in as_date) and any(x is not None for x in as_date)


def test_floor_reads_every_column_of_every_raw_table():
    sql = baselines.floor_sql()
    for spec in ALL_FILES:
        assert f"FROM {spec.raw_table} " in sql
        assert all(f"length({c})" in sql for c in spec.columns)
    assert sql.count("SELECT") == len(ALL_FILES) + 1
