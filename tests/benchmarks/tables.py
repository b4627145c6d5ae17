"""Ratios, agreement and the RESULTS.md / results.json tables of a benchmark run."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.benchmarks import peers
from tests.benchmarks.baselines import GX_SET_RULES, gx_coverage

#: (size, end-to-end seconds, peak MB) targets of issue 15 (issue 6 had 60 s / 3 GB and
#: 10 min / 8 GB); sizes without a target: n/a.
TARGETS = {1_000_000: (30, 2 * 1024), 10_000_000: (300, 6 * 1024)}
SPEEDUP_TARGET_VS_GX = 10
#: issue 15: end to end at most this many times the floor (polars reading the files as text).
FLOOR_TARGET = 6
#: issue 15: output bytes per finding, half of the 2.9 KB measured before it (as
#: tests/reports/test_output_size.py, which measures the growth per finding).
OUTPUT_TARGET_BYTES = 1450
BASELINE_NAMES = {"gx": "(a) GX on pandas", "pandera": "(b) pandera on pandas",
                  "soda": "(d) Soda Core on DuckDB", "pointblank": "(e) Pointblank on polars",
                  "floor_files": "(c) floor: polars reads the files",
                  "floor": "(c') DuckDB one pass over the raw tables"}
PEER_NAMES = {"soda": "Soda Core", "pointblank": "Pointblank"}
#: Talon parts compared, and which baseline steps they are compared with (a baseline without
#: any of those steps is not compared). The row rules of every baseline are its setup +
#: validate; (a) GX runs the set rules as well, in steps of their own (load_reference,
#: setup_set_rules, validate_set_rules), which count in the set rules and the check stage
#: only. The floors are compared with the check stage only; the file floor with the whole run
#: as well (floor_ratio).
GX_SET_STEPS = ("load_reference", "setup_set_rules", "validate_set_rules")
COMPARISONS = (
    ("row rules", ("row_rules",), ("setup", "validate")),
    ("staging + row rules", ("staging", "row_rules"), ("load_pandas", "load", "setup", "validate")),
    ("set rules", ("set_rules",), GX_SET_STEPS),
    ("check stage (staging + row + set rules)", ("staging", "row_rules", "set_rules"),
     ("load_pandas", "load", "setup", "validate", *GX_SET_STEPS, "one_pass", "read_files")),
)
#: What each baseline runs in the check-stage comparison.
RUNS = {"gx": "row + set rules (as far as its built-in expectations express them)",
        "pandera": "row rules only (every one in full)",
        "soda": "row + set rules ((a)'s expectations, as far as Soda's checks express them)",
        "pointblank": "row + set rules ((a)'s expectations, as far as Pointblank's steps "
                      "express them)",
        "floor_files": "no rules (reads the files)", "floor": "no rules (reads the raw tables)"}
FLOORS = ("floor", "floor_files")
#: The developers' next remedy per target (tables.misses quotes it for a missed target).
REMEDIES = Path(__file__).with_name("remedies.toml")
#: Stages named in a missed target's profile (the largest first).
PROFILE_STAGES = 5


def _walls(stages: list[dict]) -> dict[str, float]:
    """Wall seconds per stage, and per part of a stage that records its `split` (staging and
    row rules run interleaved, one entity at a time, as one stage)."""
    out = {s["name"]: s["wall_s"] for s in stages}
    for s in stages:
        out.update(s.get("extra", {}).get("split", {}))
    return out


def _cpus(stages: list[dict]) -> dict[str, float]:
    """CPU seconds per stage; a split part gets its stage's CPU in proportion to its wall."""
    out = {s["name"]: s["cpu_s"] for s in stages}
    for s in stages:
        split = s.get("extra", {}).get("split", {})
        total = sum(split.values())
        for part, wall in split.items():
            out[part] = round(s["cpu_s"] * wall / total, 3) if total else 0.0
    return out


def ratios(size_result: dict) -> list[dict]:
    """Talon part vs each baseline: seconds of both and baseline / Talon (>1: Talon faster),
    by wall time and by CPU time (Talon's CPU counts both cores' threads; pandas uses one)."""
    talon = _walls(size_result["talon"]["stages"])
    talon_cpu = _cpus(size_result["talon"]["stages"])
    out = []
    for label, talon_parts, baseline_parts in COMPARISONS:
        t = sum(talon[p] for p in talon_parts)
        tc = sum(talon_cpu[p] for p in talon_parts)
        for name, result in size_result["baselines"].items():
            walls, cpus = _walls(result["stages"]), _cpus(result["stages"])
            parts = [p for p in baseline_parts if p in walls]
            if name in FLOORS and "set_rules" not in talon_parts:
                continue  # the floors are compared with the whole check stage only
            if not parts:
                continue  # e.g. the set rules: only (a) GX runs them
            b, bc = sum(walls[p] for p in parts), sum(cpus[p] for p in parts)
            out.append({"talon_part": label, "talon_s": round(t, 3), "baseline": name,
                        "baseline_part": " + ".join(parts), "baseline_s": round(b, 3),
                        "baseline_over_talon": round(b / t, 2) if t else None,
                        "talon_cpu_s": round(tc, 3), "baseline_cpu_s": round(bc, 3),
                        "baseline_over_talon_cpu": round(bc / tc, 2) if tc else None})
    return out


def floor_ratio(size_result: dict) -> dict | None:
    """Talon end to end ÷ the file floor (issue 15's floor, its `read_files` step; target ≤
    FLOOR_TARGET); and, where the run typed the floor's frames (`type_files`), end to end ÷
    the floor plus that typing (no target: data for deciding whether the floor counts
    typing)."""
    floor = size_result["baselines"].get("floor_files")
    if not floor:
        return None
    walls = {s["name"]: s["wall_s"] for s in floor["stages"]}
    f = walls.get("read_files", 0.0)
    e2e = size_result["talon"]["end_to_end_s"]
    out = {"floor_s": round(f, 3), "end_to_end_s": e2e,
           "end_to_end_over_floor": round(e2e / f, 2) if f else None,
           "target": FLOOR_TARGET}
    if "type_files" in walls:  # not a target: the floor with Talon's typing of its frames
        typed = f + walls["type_files"]
        out.update(typed_floor_s=round(typed, 3),
                   end_to_end_over_typed_floor=round(e2e / typed, 2) if typed else None)
    return out


def per_row(info: dict) -> dict | None:
    """issue 15: µs per row at 10M against the slower of the two 1M runs (before and after)."""
    ten = next((s for s in info["sizes"] if s["patients"] == 10_000_000), None)
    one = next((s for s in info["sizes"] if s["patients"] == 1_000_000), None)
    again = info.get("repeat_1m")
    if not (ten and one):
        return None

    def us(t: dict) -> tuple[float, float]:
        return (_us(t["end_to_end_s"], t["total_rows"]),
                _us(sum(st["cpu_s"] for st in t["stages"]), t["total_rows"]))

    runs = [("1M before 10M", one["talon"])] + ([("1M after 10M", again["talon"])] if again else [])
    rows = {label: us(t) for label, t in runs}
    slower = max(rows, key=lambda k: rows[k][0])
    ten_us = us(ten["talon"])
    return {"runs": {k: {"us_per_row": v[0], "cpu_us_per_row": v[1]} for k, v in rows.items()},
            "slower_1m": slower, "us_per_row_10m": ten_us[0], "cpu_us_per_row_10m": ten_us[1],
            "met": ten_us[0] <= rows[slower][0], "repeated": again is not None}


def agreement(size_result: dict) -> dict:
    talon_counts = size_result["talon"]["counts"]
    out: dict = {}
    pandera = size_result["baselines"].get("pandera")
    if pandera:
        out["pandera"] = pandera["same_findings_as_talon"]
    gx = size_result["baselines"].get("gx")
    if gx:
        out["gx"] = {c["code"]: {"coverage": c["coverage"], "talon": talon_counts.get(c["code"], 0),
                                 "gx_unexpected": gx["counts"].get(c["code"], {}).get("unexpected")}
                     for c in gx_coverage() + (gx_coverage(GX_SET_RULES)
                                               if _gx_ran_set_rules(gx) else [])}
    for peer in PEER_NAMES:
        result = size_result["baselines"].get(peer)
        if result:
            out[peer] = {c["code"]: {"coverage": c["coverage"],
                                     "talon": talon_counts.get(c["code"], 0),
                                     "unexpected": result["counts"].get(c["code"], {})
                                     .get("unexpected")}
                         for c in peers.coverage(peer, None if _gx_ran_set_rules(result)
                                                 else peers.GX_RULES)}
    return out


def remedies(path: Path = REMEDIES) -> dict[str, dict]:
    """target key -> {"target": wording, "remedy": text} (tests/benchmarks/remedies.toml)."""
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))


def _label(s: dict) -> str:
    return f"{s['patients']:,} patients, {_profile(s)}"


def _top(stages: list[dict], key: str, n: int = PROFILE_STAGES) -> list[dict]:
    return sorted(stages, key=lambda st: -st[key])[:n]


def _time_profile(talon: dict) -> str:
    stages, e2e = talon["stages"], talon["end_to_end_s"]
    cpu = sum(st["cpu_s"] for st in stages)
    runs = _runs_text(talon)
    return ((f"{runs}; " if runs else "") + "largest stages " + ", ".join(
        f"{st['name']} {st['wall_s']:,.2f} s ({st['wall_s'] / e2e:.0%}; CPU {st['cpu_s']:,.2f} s)"
        for st in _top(stages, "wall_s")) + f"; the process's CPU {cpu:,.2f} s over "
        f"{e2e:,.2f} s, {cpu / e2e:,.2f} cores busy on average (report workers not counted)")


def misses(info: dict) -> list[dict]:
    """Every issue 15 target this run misses: {key, run, measured, target, profile} (the
    run's own numbers: what its time, memory or bytes went to)."""
    out = []
    for s in info["sizes"] + info.get("dense", []):
        talon, run = s["talon"], _label(s)
        e2e, peak = _e2e(s)
        target = TARGETS.get(s["patients"])
        if target and e2e > target[0]:
            out.append({"key": "time", "run": run, "measured": f"{e2e:,.2f} s",
                        "target": f"≤ {target[0]} s", "profile": _time_profile(talon)})
        if target and peak > target[1]:
            out.append({"key": "memory", "run": run, "measured": f"{peak:,.1f} MB",
                        "target": f"≤ {target[1]:,} MB", "profile": "largest peaks " + ", ".join(
                            f"{st['name']} {st['peak_rss_mb']:,.1f} MB"
                            for st in _top(talon["stages"], "peak_rss_mb", 3))})
        fr = floor_ratio(s) or {}
        over = fr.get("end_to_end_over_floor")
        if over and over > FLOOR_TARGET:
            f = fr["floor_s"]
            out.append({"key": "floor", "run": run, "measured": f"{over:,.1f}×",
                        "target": f"≤ {FLOOR_TARGET}× (≤ {FLOOR_TARGET * f:,.2f} s)",
                        "profile": f"floor {f:,.2f} s; the largest stages in floors: " + ", ".join(
                            f"{st['name']} {st['wall_s'] / f:,.1f}×"
                            for st in _top(talon["stages"], "wall_s"))
                        + (f"; with Talon's typing of its frames the floor is "
                           f"{fr['typed_floor_s']:,.2f} s, end to end "
                           f"{fr['end_to_end_over_typed_floor']:,.1f}× that"
                           if fr.get("typed_floor_s") else "")})
        speed = _gx_speedup(s)
        if speed and speed < SPEEDUP_TARGET_VS_GX:
            parts = {k: v for k, v in _walls(talon["stages"]).items()
                     if k in COMPARISONS[-1][1]}
            out.append({"key": "check_stage", "run": run, "measured": f"{speed:,.2f}×",
                        "target": f"≥ {SPEEDUP_TARGET_VS_GX}×", "profile": "Talon's parts "
                        + ", ".join(f"{k} {v:,.2f} s" for k, v in parts.items())})
        per = (talon.get("output") or {}).get("bytes_per_finding", {})
        if s.get("profile", "default") != "default" and per.get("total") \
                and per["total"] > OUTPUT_TARGET_BYTES:
            out.append({"key": "output", "run": run, "measured": f"{per['total']:,.1f} B",
                        "target": f"≤ {OUTPUT_TARGET_BYTES:,} B", "profile": ", ".join(
                            f"{k} {v:,.1f} B" for k, v in per.items() if k != "total")})
    pr = per_row(info)
    if pr and not pr["met"]:
        slower = pr["runs"][pr["slower_1m"]]["us_per_row"]
        out.append({"key": "per_row", "run": "10M against " + pr["slower_1m"],
                    "measured": f"{pr['us_per_row_10m']:,.3f} µs", "target": f"≤ {slower:,.3f} µs",
                    "profile": _per_row_profile(info)})
    return out


def _per_row_profile(info: dict) -> str:
    """The stages whose µs per row grew most from 1M (before 10M) to 10M."""
    ten = next(s for s in info["sizes"] if s["patients"] == 10_000_000)["talon"]
    one = next(s for s in info["sizes"] if s["patients"] == 1_000_000)["talon"]
    before = {st["name"]: _us(st["wall_s"], one["total_rows"]) for st in one["stages"]}
    grown = sorted(((st["name"], before.get(st["name"], 0.0), _us(st["wall_s"], ten["total_rows"]))
                    for st in ten["stages"]), key=lambda x: x[1] - x[2])
    return "µs per row, 1M → 10M: " + ", ".join(f"{n} {a:,.3f} → {b:,.3f}"
                                               for n, a, b in grown[:PROFILE_STAGES] if b > a)


def _misses_lines(info: dict, known: dict | None = None) -> list[str]:
    found = misses(info)
    lines = ["## Missed targets: the profile and the next remedy", ""]
    if not found:
        return lines + ["Every target of issue 15 is met in this run.", ""]
    known = remedies() if known is None else known
    lines += ["Each miss with this run's own profile, and the developers' next remedy "
              "(tests/benchmarks/remedies.toml).", ""]
    lines += _table(["target", "run", "measured", "target value", "profile (this run)"],
                    [[known.get(m["key"], {}).get("target", m["key"]), m["run"], m["measured"],
                      m["target"], m["profile"]] for m in found])
    for key in dict.fromkeys(m["key"] for m in found):
        remedy = known.get(key, {}).get("remedy")
        lines += [f"**Next remedy ({known.get(key, {}).get('target', key)}):** "
                  + (" ".join(remedy.split()) if remedy else
                     f"none recorded: add [{key}] to tests/benchmarks/remedies.toml."), ""]
    return lines


def _runs(info: dict, name: str) -> str:
    """What a baseline runs in the check-stage comparison (GX and the peers: as their results
    show)."""
    ran = [s["baselines"][name] for s in info["sizes"] if name in s.get("baselines", {})]
    if name in ("gx", *PEER_NAMES) and ran and not any(_gx_ran_set_rules(b) for b in ran):
        return "row rules only (a run from before it had the set rules)"
    return RUNS[name]


def _gx_ran_set_rules(gx: dict) -> bool:
    """Whether (a)'s (or a peer's) result has the set rules' steps (runs before they came
    have not)."""
    return any(st["name"] in GX_SET_STEPS for st in gx["stages"])


def _e2e(size_result: dict) -> tuple[float, float]:
    """End to end of the reported (median) run; the peak RSS of the largest of the runs."""
    talon = size_result["talon"]
    peaks = [r["process_peak_mb"] for r in talon.get("runs", ())] or [talon["process_peak_mb"]]
    return talon["end_to_end_s"], max(peaks)


def _runs_text(talon: dict) -> str:
    """'median of 3 runs: 25.1, 26.3, 31.0 s (in run order)', or '' for a single run."""
    runs = talon.get("runs")
    if not runs:
        return ""
    return (f"median of {len(runs)} runs: "
            + ", ".join(f"{r['end_to_end_s']:,.2f}" for r in runs) + " s, in run order")


def _gx_speedup(size_result: dict, baseline: str = "gx") -> float | None:
    return next((r["baseline_over_talon"] for r in size_result["ratios"]
                 if r["baseline"] == baseline and r["talon_part"].startswith("check stage")), None)


def _fmt(x, digits: int = 2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _us(seconds: float, rows: int) -> float:
    return round(seconds / rows * 1e6, 3) if rows else 0.0


def _stage_rows(stages: list[dict], rows: int, label=lambda s: s["name"]) -> list[list]:
    return [[label(s), s["group"], s["wall_s"], s["cpu_s"], s["peak_rss_mb"], _us(s["wall_s"], rows)]
            for s in stages]


def markdown(info: dict) -> str:
    m = info["machine"]
    v = m["versions"]
    lines = ["# Talon benchmark results", ""]
    if info.get("note"):
        lines += [f"> **{info['note']}**", ""]
    lines += [
        f"Produced by `{info['command']}` ({info['started']} – {info['finished']}), commit "
        f"`{m['commit']}`{' with uncommitted changes' if m['dirty_worktree'] else ''}. "
        "How to run and what each number means: [README.md](README.md).", "",
        "## Machine", "",
        f"- CPU: {m['cpu_model']}, {m['nproc']} CPUs available (nproc); RAM {m['mem_total_gb']} GB",
        f"- {m['os']}; Python {m['python']}; polars {v['polars']}, duckdb {v['duckdb']}, "
        f"great_expectations {v['great_expectations']}, pandera {v['pandera']}, "
        f"pandas {v['pandas']}, pyarrow {v['pyarrow']}, numpy {v['numpy']}, prefect {v['prefect']}; "
        f"peers: soda-core {v.get('soda-core', '–')}, soda-duckdb {v.get('soda-duckdb', '–')}, "
        f"pointblank {v.get('pointblank', '–')} (the `bench` extra)",
        "- Talon settings from the environment: " + (", ".join(
            f"`{k}={v}`" for k, v in m.get("talon_env", {}).items()) or "none (defaults)"),
        f"- Load average (1, 5, 15 min) at start {tuple(round(x, 1) for x in info['load_avg_start'])}, "
        f"at end {tuple(round(x, 1) for x in info['load_avg_end'])}",
        "- Talon is measured through the plain functions the Prefect flow calls; Prefect server "
        "start and Prefect's task orchestration are excluded. Every job (generation, Talon run, "
        "each baseline) runs in a fresh process: its peak RSS is its own.",
        f"- Per-stage peak RSS: {info['sizes'][0]['talon']['rss_method'] if info['sizes'] else '–'}; "
        "µs/row = wall time / all loaded rows of the four files.",
        f"- GX result format: {info['gx_result_format']} (counts and a few examples; Talon "
        "keeps every failing record).", "",
        "## Summary against the targets", ""]
    rows = []
    for s in info["sizes"] + info.get("dense", []):
        e2e, peak = _e2e(s)
        target = TARGETS.get(s["patients"])
        speed = _gx_speedup(s)
        fr = floor_ratio(s) or {}
        over = fr.get("end_to_end_over_floor")
        rows.append([s["patients"], _profile(s), s["talon"]["total_rows"], e2e,
                     f"≤ {target[0]}" if target else "n/a", peak,
                     f"≤ {target[1]:,}" if target else "n/a",
                     ("met" if e2e <= target[0] and peak <= target[1] else "missed") if target else "n/a",
                     speed, ("met" if speed >= SPEEDUP_TARGET_VS_GX else "missed") if speed else "–",
                     _gx_speedup(s, "soda"), _gx_speedup(s, "pointblank"),
                     fr.get("floor_s"), over,
                     ("met" if over <= FLOOR_TARGET else "missed") if over else "–",
                     fr.get("typed_floor_s", "–"), fr.get("end_to_end_over_typed_floor", "–")])
    lines += _table(["patients", "profile", "rows (4 files)", "end to end s", "target s",
                     "peak RSS MB", "target MB", "time+memory", "check stage vs (a) ×", "≥ 10×",
                     "vs (d) Soda ×", "vs (e) Pointblank ×", "floor s (polars reads the files)",
                     "end to end ÷ floor", f"≤ {FLOOR_TARGET}×",
                     "floor + typing s (no target)", "end to end ÷ (floor + typing)"], rows)
    lines += ["End to end: the median of Talon's runs of the size (`--repeat`, 3 by default "
              "below 10M; each run is listed in the size's section), peak RSS the largest of "
              "them. Check stage vs a baseline: the baseline's load + setup + validate ÷ Talon's "
              "staging + row rules + set rules (above 1: Talon is faster). What each baseline "
              "runs there: " + "; ".join(f"{BASELINE_NAMES[k]} {_runs(info, k)}" for k in RUNS)
              + " (what GX and the peers leave out: the tables at the end). The row rules "
              "alone (Talon's staging + row rules against a baseline's load + setup + "
              "validate of its row rules) and the set rules alone are in each size's ratios. "
              "Talon's text is typed while it is read (`prepare`), not in this stage. End to "
              "end ÷ floor: Talon's whole run ÷ polars reading the same files as text (issue "
              "15's floor). Floor + typing (not a target; for the decision whether the floor "
              "should count typing): the floor's frames typed by Talon's own typing "
              "(checks.staging.typer) after the read, quotes cut off a fully quoted file's "
              "fields (approximate: a quoted delimiter shifts its row).", ""]
    lines += _misses_lines(info)
    pr = per_row(info)
    if pr:
        lines += ["## Per-row cost, 10M against 1M", "",
                  ("1M ran before and after 10M in this run (Talon only the second time); the "
                   "slower 1M is the comparison." if pr["repeated"] else
                   "1M ran once (before 10M): run with --with-10m and 1M among --sizes for the "
                   "repeat."), ""]
        body = [[label, r["us_per_row"], r["cpu_us_per_row"],
                 "← slower 1M" if label == pr["slower_1m"] else ""]
                for label, r in pr["runs"].items()]
        body.append(["10M", pr["us_per_row_10m"], pr["cpu_us_per_row_10m"],
                     "met (not worse than the slower 1M)" if pr["met"] else "missed"])
        lines += _table(["run", "µs / row (wall)", "CPU µs / row", ""], body)
    for s in info["sizes"]:
        lines += _size_section(s)
    if info.get("repeat_1m"):
        t = info["repeat_1m"]["talon"]
        lines += ["## 1,000,000 patients again, after 10M (Talon only)", ""]
        body = _stage_rows(t["stages"], t["total_rows"])
        body.append(["**end to end**", "", t["end_to_end_s"],
                     round(sum(st["cpu_s"] for st in t["stages"]), 3), t["process_peak_mb"],
                     _us(t["end_to_end_s"], t["total_rows"])])
        lines += _table(["stage", "group", "wall s", "CPU s", "peak RSS MB", "µs / row"], body)
    for s in info.get("dense", []):
        lines += _size_section(s)
    lines += ["## What GX expresses of the row rules (baseline a)", "",
              "Built-in expectations on the text columns (pandas data source). No pandas-level "
              "precomputed columns: what a rule needs beyond these is left out and listed.", ""]
    lines += _table(["rule", "coverage", "GX expectations", "not checked by GX"],
                    [[c["code"], c["coverage"], ", ".join(c["expectations"]) or "–",
                      c["missing"] or "–"] for c in gx_coverage()])
    lines += ["## What GX expresses of the set rules (baseline a)", "",
              "The set rules of checks/sql (the check stage's; the register's REG.* rules run "
              "in a stage of their own and are not compared) with built-in expectations on the "
              "same text columns, one more suite per file. What a team computes to feed them is "
              "part of (a)'s timed steps: the run's F003 / F002 / V021 rows read from the "
              "warehouse (`load_reference`), and in pandas the other frames' distinct "
              "patient_ids and the codes current on D as each expectation's value set "
              "(`setup_set_rules`); row conditions are GX's own (`Column(...) == / != / "
              "is_in`, combined with &). 'Active on D' and 'future' compare dates or "
              "timestamps held as text in several formats: no row condition expresses them, "
              "so those rules run on every row and say so.", ""]
    lines += _table(["rule", "coverage", "GX expectations", "not checked by GX"],
                    [[c["code"], c["coverage"], ", ".join(c["expectations"]) or "–",
                      c["missing"] or "–"] for c in gx_coverage(GX_SET_RULES)])
    lines += ["## What the peers express of the row and set rules (d, e)", "",
              "(a)'s expectations translated one by one into each peer's built-in checks "
              "(tests/benchmarks/peers.py): Soda Core contract checks `missing`/`invalid` with a "
              "check `filter` for (a)'s row conditions; Pointblank `col_vals_*` steps with a "
              "`pre=` row filter. SQL filters or `failed_rows` expressions in Soda and "
              "`col_vals_expr`/derived columns in Pointblank would express every rule, as "
              "hand-written SQL or polars (which is what Talon is): not counted. The set "
              "rules (the rows from PAT.SNILS.DUPLICATE on) in steps of their own, as (a): "
              "Soda `invalid` with `valid_values` / `invalid_values` (the current reference "
              "codes) or `valid_reference_data` (another raw table's patient_id: Soda reads "
              "the whole table, right while the warehouse holds one run's raw rows, as the "
              "bench's does) and the column `duplicate` check; Pointblank `col_vals_in_set` "
              "(the ids computed in polars in its setup), `col_vals_not_in_set`, "
              "`rows_distinct`.", ""]
    pb = {c["code"]: c for c in peers.coverage("pointblank")}
    lines += _table(["rule", "Soda Core", "Soda checks", "Pointblank", "Pointblank steps",
                     "not checked (Soda / Pointblank)"],
                    [[c["code"], c["coverage"], ", ".join(c["checks"]) or "–",
                      pb[c["code"]]["coverage"], ", ".join(pb[c["code"]]["checks"]) or "–",
                      (c["missing"] or "–") + (" / Pointblank: " + pb[c["code"]]["missing"]
                                               if pb[c["code"]]["missing"] != c["missing"] else "")]
                     for c in peers.coverage("soda")])
    return "\n".join(lines)


def _profile(s: dict) -> str:
    return "default" if s.get("profile", "default") == "default" else \
        f"dense (defect rate {s['defect_rate']:g})"


def _size_section(s: dict) -> list[str]:
    talon = s["talon"]
    n, rows = s["patients"], talon["total_rows"]
    gen = s["generation"]
    title = f"{n:,} patients" + ("" if s.get("profile", "default") == "default"
                                 else f", {_profile(s)}")
    lines = [f"## {title}", "",
             "Loaded rows: " + ", ".join(f"{k} {v:,}" for k, v in talon["rows"].items())
             + f"; total {rows:,}. Warehouse file {talon['warehouse_mb']} MB; "
             f"{talon['findings']:,} findings; {talon['report_files']:,} report files.", ""]
    if talon.get("runs"):
        lines += [f"Talon ran {len(talon['runs'])} times; the stages below are the median run's "
                  f"({_runs_text(talon)}; peak RSS of each: "
                  + ", ".join(f"{r['process_peak_mb']:,.1f}" for r in talon["runs"])
                  + " MB, the largest counts against the target).", ""]
    lines += ["### Talon, stage by stage", ""]
    body = _stage_rows(talon["stages"], rows)
    stage_sum = round(sum(st["wall_s"] for st in talon["stages"]), 3)
    body.append(["**end to end** (sum of stages " + _fmt(stage_sum) + ")", "", talon["end_to_end_s"],
                 round(sum(st["cpu_s"] for st in talon["stages"]), 3), talon["process_peak_mb"],
                 _us(talon["end_to_end_s"], rows)])
    g = gen["stages"][0]
    body.append([f"generation ({'cached, ' if gen['cached'] else ''}not part of the run)", "generate",
                 g["wall_s"], g["cpu_s"], g["peak_rss_mb"], _us(g["wall_s"], rows)])
    lines += _table(["stage", "group", "wall s", "CPU s", "peak RSS MB", "µs / row"], body)
    lines += ["Peak RSS of the end-to-end row: the whole Talon process (the largest stage peak "
              "or ru_maxrss). Imports alone take the first few hundred MB.", ""]
    if talon.get("output"):
        o = talon["output"]
        lines += ["Output size per finding (the run's output folder, bytes ÷ "
                  f"{o['findings']:,} findings):", ""]
        parts = (("total", "whole folder"), ("findings_csv", "findings.csv"),
                 ("clinic_lists", "clinic fix lists (clinics/*, every format)"),
                 ("unassigned", "unassigned list (clinics/unassigned.*)"),
                 ("other", "auditor pages and the rest"))
        lines += _table(["part", "MB", "bytes / finding"],
                        [[label, round(o["bytes"][k] / 2**20, 2), o["bytes_per_finding"][k]]
                         for k, label in parts])
        per = o["bytes_per_finding"]["total"]
        if per is not None:
            lines += [f"Issue 15's target, at most {OUTPUT_TARGET_BYTES:,} bytes per finding "
                      "(half of the 2.9 KB measured before it): "
                      f"{'met' if per <= OUTPUT_TARGET_BYTES else 'missed'} by the whole folder "
                      f"({per:,.0f}); its fixed parts (pages, one file per clinic) weigh most in "
                      "a sparse region, so the dense profile is the one that counts.", ""]
    notes = []
    for st in talon["stages"]:
        extra = st.get("extra", {})
        if extra.get("split"):
            notes.append(f"`{st['name']}` runs staging and the row rules one entity at a time; "
                         "of its wall time: " + ", ".join(f"{k} {v:,.2f} s"
                                                         for k, v in extra["split"].items()) + ".")
        if extra.get("gx_suite_s") is not None and extra.get("gx_background") is False:
            notes.append(f"The GX suite ran {extra['gx_suite_s']:,.2f} s within `gx_start`, "
                         "before the reports: the staging tables took more than half of "
                         "DuckDB's memory limit (pipeline.staging_fits_in_memory).")
        elif extra.get("gx_suite_s") is not None:
            notes.append(f"The GX suite ran {extra['gx_suite_s']:,.2f} s on a background thread "
                         "from `gx_start` on, overlapping the reports; `gx_wait` is what was left "
                         "of it when the reports were done.")
    if notes:
        lines += [" ".join(notes), ""]
    if s.get("skipped_baselines"):
        skipped = s["skipped_baselines"]
        by_name = skipped.get("by_name") or {n: skipped["reason"] for n in skipped["names"]}
        lines += ["Not run here: " + "; ".join(f"{BASELINE_NAMES[n]} — {r}"
                                              for n, r in by_name.items()) + ".", ""]
    if s["baselines"]:
        lines += ["### Baselines (same loaded rows, own process each)", ""]
        brows = []
        for name, b in s["baselines"].items():
            brows += _stage_rows(b["stages"], rows, label=lambda st, nm=name:
                                 f"{BASELINE_NAMES[nm]}: {st['name']}")
            brows.append([f"{BASELINE_NAMES[name]}: process peak", "", None, None,
                          b["process_peak_mb"], None])
        lines += _table(["baseline step", "group", "wall s", "CPU s", "peak RSS MB", "µs / row"],
                        brows)
        lines += ["### Ratios (baseline s / Talon s: above 1, Talon is faster)", ""]
        lines += _table(["Talon part", "Talon s", "baseline", "baseline steps", "baseline s",
                         "baseline / Talon (wall)", "baseline / Talon (CPU)"],
                        [[r["talon_part"], r["talon_s"], BASELINE_NAMES[r["baseline"]],
                          r["baseline_part"], r["baseline_s"], r["baseline_over_talon"],
                          r["baseline_over_talon_cpu"]]
                         for r in s["ratios"]])
        lines += ["CPU time is user + system of all the process's threads: on a loaded machine "
                  "it is the steadier figure; Talon's stages run on both cores, pandas on one.", ""]
        stands = _standing(s)
        if stands:
            lines += [stands, ""]
        fr = floor_ratio(s)
        if fr:
            lines += [f"End to end ÷ floor (polars reading the files as text): "
                      f"{fr['end_to_end_s']:,.2f} s ÷ {fr['floor_s']:,.2f} s = "
                      f"**{fr['end_to_end_over_floor']}×** (target ≤ {FLOOR_TARGET}×).", ""]
            if fr.get("typed_floor_s"):
                lines += [f"End to end ÷ (floor + Talon's typing of its frames; no target): "
                          f"{fr['end_to_end_s']:,.2f} s ÷ {fr['typed_floor_s']:,.2f} s = "
                          f"{fr['end_to_end_over_typed_floor']}×.", ""]
        lines += _agreement_lines(s)
    return lines


def _standing(s: dict) -> str:
    """One sentence: the check stage against every baseline and peer that ran (wall)."""
    check = [r for r in s["ratios"] if r["talon_part"] == COMPARISONS[-1][0]
             and r["baseline"] not in FLOORS and r["baseline_over_talon"]]
    if not check:
        return ""
    ranked = sorted(check, key=lambda r: -r["baseline_over_talon"])
    parts = [f"{BASELINE_NAMES[r['baseline']]} {r['baseline_s']:,.2f} s "
             + (f"({r['baseline_over_talon']:,.2f}× Talon's time)")
             for r in ranked]
    faster = [BASELINE_NAMES[r["baseline"]] for r in ranked if r["baseline_over_talon"] > 1]
    slower = [BASELINE_NAMES[r["baseline"]] for r in ranked if r["baseline_over_talon"] <= 1]
    verdict = ("Talon is faster than " + ", ".join(faster) if faster else "Talon is faster "
               "than none of them") + ("; " + ", ".join(slower) + (" is" if len(slower) == 1
                                                                   else " are")
                                       + " as fast or faster" if slower else "")
    sets = [BASELINE_NAMES[n] for n in ("gx", *PEER_NAMES)
            if n in s["baselines"] and _gx_ran_set_rules(s["baselines"][n])]
    runs = ((", ".join(sets) + " run the row and set rules as far as their built-ins express "
             "them, the others the row rules only; ") if sets else
            "the others run the row rules only; ")
    return (f"Where Talon stands, check stage (Talon {check[0]['talon_s']:,.2f} s, row and set "
            "rules; " + runs + "Talon typed the text while reading it, "
            "in `prepare`, where the others type it in their validation): " + "; ".join(parts)
            + f". {verdict}.")


def _agreement_lines(s: dict) -> list[str]:
    a = s["agreement"]
    lines = []
    if "pandera" in a:
        p = a["pandera"]
        verdict = "identical" if p["equal"] else (
            f"DIFFERENT (only baseline e.g. {p['only_baseline'][:3]}, only Talon e.g. "
            f"{p['only_talon'][:3]})")
        lines += [f"(b) pandera-pandas findings vs Talon's row-rule findings (check, record): "
                  f"{verdict} — {p['baseline']:,} vs {p['talon']:,}.", ""]
    if "gx" in a:
        lines += ["(a) GX unexpected rows (summed over a rule's expectations) vs Talon's findings:", ""]
        lines += _table(["rule", "coverage", "Talon", "GX unexpected"],
                        [[code, r["coverage"], r["talon"], r["gx_unexpected"]]
                         for code, r in a["gx"].items()])
    present = [p for p in PEER_NAMES if p in a]
    if present:
        lines += ["Peers' failing rows (summed over a rule's checks) vs Talon's findings "
                  "(what each expresses: the tables at the end):", ""]
        codes = list(a[present[0]])
        lines += _table(["rule", "Talon"] + [f"{PEER_NAMES[p]} coverage" for p in present]
                        + [f"{PEER_NAMES[p]} failing" for p in present],
                        [[code, a[present[0]][code]["talon"]]
                         + [a[p][code]["coverage"] for p in present]
                         + [a[p][code]["unexpected"] for p in present] for code in codes])
    return lines


def write(info: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "RESULTS.md", out_dir / "results.json"
    md.write_text(markdown(info) + "\n", encoding="utf-8")
    info = {**info, "gx_coverage": gx_coverage(), "gx_set_coverage": gx_coverage(GX_SET_RULES),
            "peer_coverage": {p: peers.coverage(p) for p in PEER_NAMES},
            "per_row": per_row(info),
            "floor_ratios": {f"{s['patients']}-{s.get('profile', 'default')}": floor_ratio(s)
                             for s in info["sizes"] + info.get("dense", [])}}
    js.write_text(json.dumps(info, indent=1, ensure_ascii=False, default=str) + "\n",
                  encoding="utf-8")
    return md, js
