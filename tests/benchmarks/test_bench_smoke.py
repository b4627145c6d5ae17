"""The benchmark harness (bench.py) end to end at 2,000 patients, so the script cannot rot:
every Talon stage and every baseline runs in its own process, the tables carry every stage
and ratio, and the baselines implement the same rules as Talon. No timing is asserted.

The peers (Soda Core, Pointblank) come with the `bench` extra, which CI does not install: their
parts run where they are importable and are skipped (with the reason) elsewhere. The dense
profile runs where flows.synth.generate_region takes `defect_rate`."""
from __future__ import annotations

import json

import polars as pl
import pytest

from checks import identifiers, parsing
from flows.extract.contract import ALL_FILES
from tests.benchmarks import baselines, bench, peers, tables

PATIENTS = 2_000
DENSE_RATE = 0.5
PEERS = tuple(p for p in bench.PEERS if peers.available(p))
MISSING_PEERS = tuple(p for p in bench.PEERS if p not in PEERS)
DENSE = bench.generator_takes_defect_rate()
STEPS = {"gx": ["load_pandas", "setup", "validate", *tables.GX_SET_STEPS],
         "pandera": ["load_pandas", "setup", "validate"], "floor": ["one_pass"],
         "floor_files": ["read_files", "type_files"],
         **{p: ["load", "setup", "validate", *tables.GX_SET_STEPS] for p in PEERS}}
CHECK_STAGE_LABEL = tables.COMPARISONS[-1][0]
needs_peers = pytest.mark.skipif(not PEERS, reason="neither peer is installed (the `bench` "
                                 "extra: pip install -e '.[bench]'); CI does not install it")
needs_dense = pytest.mark.skipif(not DENSE, reason="flows.synth.generate_region has no "
                                 "defect_rate keyword yet (the dense profile)")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    dense = ["--dense", str(DENSE_RATE)] if DENSE else []
    code = bench.main(["--sizes", str(PATIENTS), "--work", str(root / "work"),
                       "--out", str(root / "out"), "--verify", "--note", "smoke run",
                       "--repeat", "2", *dense])
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
def test_talon_runs_twice_and_the_slower_is_reported(bench_run):
    """--repeat 2: two Talon runs of the size; the reported one is the median (of two: the
    slower), each run's end to end listed in run order and in RESULTS.md."""
    _, info, md = bench_run
    [size] = info["sizes"]
    runs = size["talon"]["runs"]
    assert len(runs) == 2
    assert size["talon"]["end_to_end_s"] == max(r["end_to_end_s"] for r in runs)
    assert tables._e2e(size)[1] == max(r["process_peak_mb"] for r in runs)
    assert "Talon ran 2 times; the stages below are the median run's (median of 2 runs: " in md


def test_median_run_is_the_middle_one_and_lists_every_run():
    runs = [{"end_to_end_s": e, "process_peak_mb": p, "run_id": i}
            for i, (e, p) in enumerate([(30.0, 900.0), (25.0, 1000.0), (27.0, 800.0)])]
    got = bench.median_run(runs)
    assert got["run_id"] == 2 and got["end_to_end_s"] == 27.0
    assert [r["end_to_end_s"] for r in got["runs"]] == [30.0, 25.0, 27.0]
    assert bench.median_run(runs[:1]) == runs[0]  # one run: as it is, no list
    size = {"talon": got}
    assert tables._e2e(size) == (27.0, 1000.0)  # the median's time, the largest peak
    assert tables._runs_text(got) == "median of 3 runs: 30.00, 25.00, 27.00 s, in run order"


@pytest.mark.slow
def test_json_has_every_baseline_and_ratio(bench_run):
    _, info, _ = bench_run
    [size] = info["sizes"]
    assert {n: [s["name"] for s in b["stages"]] for n, b in size["baselines"].items()} == STEPS
    expected = {(label, b) for label, _, _ in tables.COMPARISONS
                for b in ("gx", "pandera") + PEERS if label != "set rules"}
    expected |= {("set rules", b) for b in ("gx",) + PEERS}  # pandera: the row rules only
    expected |= {(CHECK_STAGE_LABEL, "floor"), (CHECK_STAGE_LABEL, "floor_files")}
    assert {(r["talon_part"], r["baseline"]) for r in size["ratios"]} == expected
    assert all(r["baseline_over_talon"] > 0 and r["talon_s"] > 0 for r in size["ratios"])
    floor = size["baselines"]["floor"]["read"]
    assert {k: v["rows"] for k, v in floor.items()} == size["talon"]["rows"]
    if MISSING_PEERS:
        assert set(size["skipped_baselines"]["by_name"]) == set(MISSING_PEERS)
        assert all("bench" in r for r in size["skipped_baselines"]["by_name"].values())


@pytest.mark.slow
def test_file_floor_reads_every_line_of_every_file(bench_run):
    """The floor of issue 15: every file Talon read, one row per line (quotes not
    interpreted), so at least the rows Talon loaded (it quarantines malformed and duplicate
    lines); and the end-to-end ratio against it."""
    root, info, _ = bench_run
    [size] = info["sizes"]
    read = size["baselines"]["floor_files"]["read"]
    assert set(read) == set(size["talon"]["rows"])
    assert all(read[k]["rows"] >= n > 0 for k, n in size["talon"]["rows"].items())
    region = bench.region_dir((root / "work").resolve(), PATIENTS, bench.SEED)
    for name, r in read.items():
        text = (region / "floor-utf8" / f"{name}.csv").read_bytes()
        assert not text.startswith(b"\xef\xbb\xbf") and b"\r" not in text
        text.decode("utf-8")
        assert r["rows"] == text.count(b"\n") - 1  # the header line
    ratio = tables.floor_ratio(size)
    assert ratio["end_to_end_over_floor"] > 1 and ratio["target"] == tables.FLOOR_TARGET
    steps = {s["name"]: s["wall_s"] for s in size["baselines"]["floor_files"]["stages"]}
    assert ratio["floor_s"] == round(steps["read_files"], 3)  # the floor is the read alone


@pytest.mark.slow
def test_typed_floor_types_every_file_beside_the_floor(bench_run):
    """Beside the floor (not in it): the floor's frames typed by Talon's own typing, every
    row kept and the typed columns added; end to end ÷ (floor + typing) is smaller than ÷ the
    floor and carries no target."""
    _, info, md = bench_run
    [size] = info["sizes"]
    typed = size["baselines"]["floor_files"]["typed"]
    read = size["baselines"]["floor_files"]["read"]
    assert {k: v["rows"] for k, v in typed.items()} == {k: v["rows"] for k, v in read.items()}
    assert all(v["typed_columns"] > 0 for v in typed.values())
    ratio = tables.floor_ratio(size)
    assert ratio["typed_floor_s"] > ratio["floor_s"]
    assert 0 < ratio["end_to_end_over_typed_floor"] < ratio["end_to_end_over_floor"]
    assert "End to end ÷ (floor + Talon's typing of its frames; no target)" in md


@needs_peers
@pytest.mark.slow
def test_peers_check_what_they_express(bench_run):
    """Soda Core and Pointblank run (a)'s rules: where a peer expresses a rule in full, its
    failing rows equal Talon's findings; where not at all, it reports nothing."""
    _, info, _ = bench_run
    [size] = info["sizes"]
    for peer in PEERS:
        got = size["agreement"][peer]
        full = {c: r for c, r in got.items() if r["coverage"] == baselines.FULL}
        assert full and all(r["unexpected"] == r["talon"] for r in full.values()), (peer, full)
        assert all(r["unexpected"] is None for r in got.values()
                   if r["coverage"] == baselines.NONE), peer
        assert size["baselines"][peer]["version"]
    if "pointblank" in PEERS:  # its Luhn check covers the ENP checksum (a) cannot express
        assert size["agreement"]["pointblank"]["POL.ENP.CHECKSUM"]["coverage"] == baselines.FULL
    for peer in PEERS:  # the set rules too: the orphans in full (Soda: reference data)
        got = size["agreement"][peer]
        assert {c for c, r in got.items() if r["coverage"] == baselines.FULL} >= {
            "POL.PATIENT.ORPHAN", "ATT.PATIENT.ORPHAN"}, peer
        assert got["POL.PATIENT.ORPHAN"]["unexpected"] == got["POL.PATIENT.ORPHAN"]["talon"] > 0


@pytest.mark.slow
def test_baselines_find_what_talon_finds(bench_run):
    _, info, _ = bench_run
    [size] = info["sizes"]
    pandera = size["agreement"]["pandera"]
    assert pandera["equal"], pandera
    assert pandera["talon"] > 0
    gx = size["agreement"]["gx"]
    assert set(gx) == {r.code for r in baselines.GX_RULES + baselines.GX_SET_RULES}
    full = {code: r for code, r in gx.items() if r["coverage"] == baselines.FULL}
    assert full and all(r["gx_unexpected"] == r["talon"] for r in full.values()), full
    assert all(r["gx_unexpected"] is None for r in gx.values()
               if r["coverage"] == baselines.NONE)
    assert all(r["gx_unexpected"] is not None for r in gx.values()
               if r["coverage"] != baselines.NONE)


@pytest.mark.slow
def test_gx_set_rules_flag_what_talons_set_rules_flag(bench_run):
    """(a)'s set-rule expectations with full coverage (the orphans: value set = the patients'
    ids) flag exactly as many rows as Talon's set rules find, and some; the value sets of the
    partial ones are Talon's current reference (checks.staging's cur_mo / cur_smo on D)."""
    import duckdb

    from checks import set_rules, staging

    root, info, _ = bench_run
    [size] = info["sizes"]
    gx = size["agreement"]["gx"]
    full = [r.code for r in baselines.GX_SET_RULES if r.coverage == baselines.FULL]
    assert set(full) == {"POL.PATIENT.ORPHAN", "ATT.PATIENT.ORPHAN"}
    assert all(gx[c]["talon"] > 0 and gx[c]["gx_unexpected"] == gx[c]["talon"]
               for c in full), {c: gx[c] for c in full}
    assert {r.code for r in baselines.GX_SET_RULES} == set(set_rules.CODES)
    db = bench.run_dir_of((root / "work").resolve(), PATIENTS) / "warehouse.duckdb"
    run_id = size["warehouse_run_id"]  # the last Talon run: the one the warehouse holds
    ctx = baselines.run_context(db, run_id)
    sets = baselines.gx_value_sets(baselines.load_pandas(db, run_id),
                                   baselines.load_reference(db, run_id), ctx)
    with duckdb.connect(str(db)) as con:
        staging.build_current_reference(con, run_id, ctx.as_of.date())

        def codes(sql: str) -> set:
            return {r[0] for r in con.execute(sql).fetchall()}

        assert set(sets["mo"]) == codes("SELECT mcod FROM cur_mo")
        assert set(sets["mo_live"]) == codes("SELECT mcod FROM cur_mo WHERE NOT excluded")
        assert set(sets["mo_excluded"]) == codes("SELECT mcod FROM cur_mo WHERE excluded")
        assert set(sets["smo_live"]) == codes("SELECT smocod FROM cur_smo WHERE NOT excluded")
        assert sets["mo_excluded"] and sets["v021_on_d"]


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
    for code in (r.code for r in baselines.GX_RULES + baselines.GX_SET_RULES):
        assert f"| {code} |" in md
    assert "## What GX expresses of the set rules (baseline a)" in md
    assert "| set rules |" in md and "row + set rules" in md
    assert "CPU:" in md and "**end to end**" in md and "| 2,000 |" in md
    assert "End to end ÷ floor (polars reading the files as text)" in md
    assert "## What the peers express of the row and set rules (d, e)" in md
    assert "Output size per finding" in md and "| findings.csv |" in md


@needs_dense
@pytest.mark.slow
def test_dense_profile_runs_on_its_own_region(bench_run):
    root, info, md = bench_run
    [dense] = info["dense"]
    assert dense["profile"] == "dense" and dense["defect_rate"] == DENSE_RATE
    assert dense["generation"]["key"] == bench.region_key(PATIENTS, bench.SEED, DENSE_RATE)
    assert dense["generation"]["key"] != info["sizes"][0]["generation"]["key"]
    assert set(dense["baselines"]) == {"floor", "floor_files"}
    talon = dense["talon"]
    assert talon["findings"] > info["sizes"][0]["talon"]["findings"]
    out = talon["output"]
    parts = out["bytes"]
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total") > 0
    assert parts["findings_csv"] > 0 and parts["clinic_lists"] > 0
    assert out["bytes_per_finding"]["total"] == round(parts["total"] / talon["findings"], 1)
    assert f"dense (defect rate {DENSE_RATE:g})" in md
    assert (root / "work" / f"region-{PATIENTS}-seed{bench.SEED}-dense{DENSE_RATE:g}").is_dir()


def test_per_row_takes_the_slower_1m():
    def talon(seconds: float, rows: int) -> dict:
        return {"end_to_end_s": seconds, "total_rows": rows,
                "stages": [{"cpu_s": seconds * 1.5}]}

    info = {"sizes": [{"patients": 1_000_000, "talon": talon(40, 5_000_000)},
                      {"patients": 10_000_000, "talon": talon(450, 50_000_000)}],
            "repeat_1m": {"talon": talon(47, 5_000_000)}}
    pr = tables.per_row(info)
    assert pr["slower_1m"] == "1M after 10M" and pr["repeated"]
    assert pr["us_per_row_10m"] == 9.0 and pr["runs"]["1M after 10M"]["us_per_row"] == 9.4
    assert pr["met"] is True
    info["repeat_1m"] = {"talon": talon(44, 5_000_000)}
    assert tables.per_row(info)["met"] is False  # 9.0 > 8.8: the slower 1M is still faster
    assert tables.per_row({"sizes": info["sizes"][:1]}) is None


def _size(patients: int, e2e: float, peak: float, floor: float, profile="default",
          bytes_per_finding: float = 1_000.0, typing: float | None = None) -> dict:
    stages = [{"name": "prepare", "group": "ingest", "wall_s": e2e * 0.6, "cpu_s": e2e * 0.8,
               "peak_rss_mb": peak * 0.5},
              {"name": "register", "group": "checks", "wall_s": e2e * 0.4, "cpu_s": e2e * 0.5,
               "peak_rss_mb": peak}]
    return {"patients": patients, "profile": profile, "defect_rate": 0.5,
            "talon": {"end_to_end_s": e2e, "process_peak_mb": peak, "total_rows": patients * 6,
                      "stages": stages, "output": {"bytes_per_finding": {
                          "total": bytes_per_finding, "findings_csv": bytes_per_finding / 2}}},
            "baselines": {"floor_files": {"stages": [{"name": "read_files", "wall_s": floor}] + (
                [{"name": "type_files", "wall_s": typing}] if typing is not None else [])}},
            "ratios": []}


def test_missed_targets_carry_the_profile_and_the_remedy():
    known = tables.remedies()
    # every target the tables can find missed has its remedy and wording recorded
    assert set(known) == {"time", "memory", "floor", "check_stage", "per_row", "output"}
    assert all(v["target"] and v["remedy"] for v in known.values())
    met = {"sizes": [_size(1_000_000, 30.0, 2048.0, 5.0)],
           "dense": [_size(1_000_000, 29.0, 1900.0, 5.0, "dense", 1_450.0)]}
    assert tables.misses(met) == []  # at the boundaries: 30 s, 2 GB, 6x, 1,450 B
    assert "Every target of issue 15 is met" in "\n".join(tables._misses_lines(met, known))
    info = {"sizes": [_size(1_000_000, 30.01, 2048.1, 4.9, typing=1.1)],
            "dense": [_size(1_000_000, 29.0, 1900.0, 4.0, "dense", 1_450.1)]}
    got = {(m["key"], m["run"]): m for m in tables.misses(info)}
    assert set(got) == {("time", "1,000,000 patients, default"),
                        ("memory", "1,000,000 patients, default"),
                        ("floor", "1,000,000 patients, default"),
                        ("floor", "1,000,000 patients, dense (defect rate 0.5)"),
                        ("output", "1,000,000 patients, dense (defect rate 0.5)")}
    assert got[("time", "1,000,000 patients, default")]["profile"].startswith(
        "largest stages prepare 18.01 s (60%")
    assert "register 2,048.1 MB" in got[("memory", "1,000,000 patients, default")]["profile"]
    assert "prepare 3.7×" in got[("floor", "1,000,000 patients, default")]["profile"]
    # the floor is the read alone; the typing beside it only informs (6.00 s: 30.01 s is 5.0x)
    assert got[("floor", "1,000,000 patients, default")]["measured"] == "6.1×"
    assert got[("floor", "1,000,000 patients, default")]["profile"].endswith(
        "with Talon's typing of its frames the floor is 6.00 s, end to end 5.0× that")
    assert "with Talon's typing" not in got[("floor", "1,000,000 patients, dense (defect "
                                             "rate 0.5)")]["profile"]
    md = "\n".join(tables._misses_lines(info, {"time": known["time"]}))
    assert known["time"]["target"] in md and " ".join(known["time"]["remedy"].split()) in md
    assert "none recorded: add [floor] to tests/benchmarks/remedies.toml" in md
    # per row (10M against the slower 1M) and the check stage against (a)
    one, ten = _size(1_000_000, 24.0, 1800.0, 4.0), _size(10_000_000, 241.0, 5000.0, 41.0)
    one["ratios"] = [{"baseline": "gx", "talon_part": CHECK_STAGE_LABEL,
                      "baseline_over_talon": 9.99}]
    got = {m["key"]: m for m in tables.misses({"sizes": [one, ten]})}
    assert set(got) == {"per_row", "check_stage"}
    assert got["per_row"]["measured"] == "4.017 µs" and got["per_row"]["target"] == "≤ 4.000 µs"
    assert got["per_row"]["profile"].startswith("µs per row, 1M → 10M: prepare 2.400 → 2.410")
    one["ratios"][0]["baseline_over_talon"] = 10.0
    assert {m["key"] for m in tables.misses({"sizes": [one, ten]})} == {"per_row"}


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
