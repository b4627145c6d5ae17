"""Peers a team could pick instead of Talon, on the same row rules and the same loaded rows.

(d) Soda Core 4 (soda-core + soda-duckdb 4.28): one data contract per extract file, verified
    locally on the run's warehouse through a read-only DuckDB connection (Soda queries the raw
    tables in place: nothing is copied, nothing is written).
(e) Pointblank 1.1 on polars: the run's raw tables read from the warehouse into polars frames,
    one `Validate` plan per file, interrogated.

Both express the rules of baseline (a) (baselines.GX_RULES, and the set rules GX_SET_RULES in
steps of their own, as (a)) with their own built-in checks, on the text columns, translated spec
by spec from (a)'s expectations, so the three run the same rules:

| (a) GX expectation                    | Soda contract check                 | Pointblank step               |
|---------------------------------------|-------------------------------------|-------------------------------|
| value lengths between (min 1)         | `missing` (missing_values: [''])    | `col_vals_str_len(min_val=1)` |
| value lengths equal 0                 | `invalid` (valid_max_length: 0)     | `col_vals_str_len(max_val=0)` |
| values match regex                    | `invalid` (valid_format regex)      | `col_vals_regex`              |
| values match regex list (any)         | `invalid` (one regex, alternation)  | `col_vals_regex` (alternation)|
| values in set                         | `invalid` (valid_values)            | `col_vals_in_set`             |
| values not in set                     | `invalid` (invalid_values)          | `col_vals_not_in_set`         |
| values in set = another file's ids    | `invalid` (valid_reference_data)    | `col_vals_in_set` (the ids)   |
| values unique                         | `duplicate` (rows beyond the first) | `rows_distinct` (one column)  |
| compound columns unique               | – (dataset-level, no filter)        | `rows_distinct` (columns)     |
| row_condition == / != / in, and &     | check `filter` (SQL = / <> / IN)    | `pre=` a polars row filter    |

What goes beyond (a): Pointblank's `col_vals_within_spec(spec="credit_card")` is a Luhn check
(13-19 digits), so it checks POL.ENP.CHECKSUM on the values of ENP form (a `pre=` filter by the
rule's own form regex). Not counted as built-in, for either peer: SQL in a Soda check's filter
or a `failed_rows` expression, and `col_vals_expr`/`specially`/`pre=` derived columns in
Pointblank: with those a team writes the rules in SQL or polars themselves (as Talon does).

Regexes: Soda runs them as DuckDB `regexp_matches` (RE2), Pointblank as polars `str.contains`
(Rust regex): both take Talon's patterns unchanged. The raw tables hold no NULLs (an empty field
is ''), so Soda's and Pointblank's NULL handling does not matter here.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from checks.identifiers import ENP_FORM
from flows.extract.contract import FILES
from tests.benchmarks.baselines import (FULL, GX_RULES, GX_SET_RULES, ID_SETS, NONE, PARTIAL,
                                       Ctx, Spec, reference_value_sets)

#: Peer -> the modules it needs (installed by the `bench` extra: pip install -e '.[bench]').
PEER_MODULES = {"soda": ("soda_core", "soda_duckdb"), "pointblank": ("pointblank",)}
PEER_PACKAGES = {"soda": ("soda-core", "soda-duckdb"), "pointblank": ("pointblank",)}


def available(peer: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in PEER_MODULES[peer])


def unavailable_reason(peer: str) -> str:
    return (f"{' and '.join(PEER_PACKAGES[peer])} not installed in this environment "
            "(pip install -e '.[bench]')")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkgs in PEER_PACKAGES.values():
        for p in pkgs:
            try:
                out[p] = version(p)
            except PackageNotFoundError:
                out[p] = "absent"
    return out


# --- what each peer expresses ----------------------------------------------------------------

@dataclass(frozen=True)
class PeerRule:
    code: str
    entity: str
    coverage: str
    specs: tuple  # of Spec (as baselines (a)) or ("within_spec", column, spec, form regex)
    missing: str


def _extra_pointblank(code: str) -> tuple | None:
    """Checks Pointblank's built-ins add to (a)'s expectations of a rule."""
    if code == "POL.ENP.CHECKSUM":
        return (("within_spec", "enp", "credit_card", ENP_FORM),)
    return None


#: (a)'s expectations a peer has no built-in for (its rule loses them, listed as missing).
UNSUPPORTED = {"soda": {"ExpectCompoundColumnsToBeUnique": "Soda's multi-column duplicate check "
                                                          "is dataset-level and takes no filter"}}


def peer_rules(peer: str, ctx: Ctx, rules: tuple = GX_RULES) -> tuple[PeerRule, ...]:
    """(a)'s rules (GX_RULES, or GX_SET_RULES: the set rules) as the peer expresses them."""
    out = []
    for r in rules:
        specs = tuple(r.expectations(ctx))
        coverage, missing = r.coverage, r.missing
        dropped = [s for s in specs if s.expectation in UNSUPPORTED.get(peer, {})]
        if dropped:
            specs = tuple(s for s in specs if s not in dropped)
            coverage = PARTIAL if specs else NONE
            missing = (missing + "; " if missing else "") + "; ".join(
                sorted({UNSUPPORTED[peer][s.expectation] for s in dropped}))
        if peer == "soda" and any(s.expectation == "ExpectColumnValuesToBeUnique" for s in specs):
            missing = (missing + "; " if missing else "") + (
                "Soda counts a repeated value's rows beyond its first (GX and Pointblank: "
                "every row of it)")
        extra = _extra_pointblank(r.code) if peer == "pointblank" else None
        if extra:
            specs += extra
            coverage, missing = FULL, ("Luhn by col_vals_within_spec('credit_card') on the values "
                                       "of ENP form (a per-value Python loop in Pointblank)")
        out.append(PeerRule(r.code, r.entity, coverage, specs, missing))
    return tuple(out)


def coverage(peer: str, rules: tuple | None = None) -> list[dict]:
    """Per rule of (a) (row and set rules, or `rules`): what the peer expresses."""
    from datetime import datetime

    ctx = Ctx(datetime(2000, 1, 1), ("1",))
    return [{"code": r.code, "entity": r.entity, "coverage": r.coverage,
             "checks": [_describe(peer, s) for s in r.specs], "missing": r.missing}
            for group in ((rules,) if rules is not None else (GX_RULES, GX_SET_RULES))
            for r in peer_rules(peer, ctx, group)]


def peer_value_sets(peer: str, frames: dict | None, refs: dict, ctx: Ctx) -> dict[str, list]:
    """The set rules' value sets: the reference codes current on D (small lists), and for
    Pointblank the other frames' distinct patient_ids (Soda reads those as reference data in
    the warehouse instead)."""
    sets = reference_value_sets(refs, ctx)
    if peer == "pointblank":
        sets.update({key: frames[name]["patient_id"].unique().to_list()
                     for key, name in ID_SETS})
    return sets


def _describe(peer: str, spec) -> str:
    if isinstance(spec, tuple):
        return "col_vals_within_spec" if peer == "pointblank" else "?"
    kind = {"ExpectColumnValueLengthsToBeBetween": ("missing", "col_vals_str_len"),
            "ExpectColumnValueLengthsToEqual": ("invalid", "col_vals_str_len"),
            "ExpectColumnValuesToMatchRegex": ("invalid", "col_vals_regex"),
            "ExpectColumnValuesToMatchRegexList": ("invalid", "col_vals_regex"),
            "ExpectColumnValuesToBeInSet": ("invalid", "col_vals_in_set"),
            "ExpectColumnValuesToNotBeInSet": ("invalid", "col_vals_not_in_set"),
            "ExpectColumnValuesToBeUnique": ("duplicate", "rows_distinct"),
            "ExpectCompoundColumnsToBeUnique": ("duplicate", "rows_distinct")}[spec.expectation]
    if peer == "soda" and spec.ref is not None:
        return "invalid (valid_reference_data)"
    return kind[0] if peer == "soda" else kind[1]


def _column(spec: Spec) -> str:
    return spec.kwargs["column"]


def _one_regex(spec: Spec) -> str:
    if spec.expectation == "ExpectColumnValuesToMatchRegexList":
        return "|".join(f"(?:{p})" for p in spec.kwargs["regex_list"])
    return spec.kwargs["regex"]


# --- (d) Soda Core 4 on DuckDB ---------------------------------------------------------------

DATA_SOURCE = "talon"
#: Soda's reference data is a whole table (no filter): the raw table of the file whose ids a
#: set rule needs. Right while the warehouse holds one run's raw rows, as the bench's does.
_RAW_TABLES = {f.name: f.raw_table for f in FILES}


def _sql_literal(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _soda_filter(conditions: tuple) -> str | None:
    """Spec.conditions as a SQL filter (None: no condition)."""
    if not conditions:
        return None
    parts = []
    for op, column, value in conditions:
        if op in ("==", "!="):
            parts.append(f"{column} {'=' if op == '==' else '<>'} {_sql_literal(value)}")
        else:
            parts.append(f"{column} IN ({', '.join(_sql_literal(v) for v in value)})")
    return " AND ".join(parts)


def _soda_check(spec: Spec, qualifier: str) -> dict:
    e = spec.expectation
    if e == "ExpectColumnValueLengthsToBeBetween":  # non-empty: '' counted as missing
        check = {"missing": {"missing_values": [""]}}
    elif e == "ExpectColumnValueLengthsToEqual":
        check = {"invalid": {"valid_max_length": 0}}
    elif e in ("ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToMatchRegexList"):
        check = {"invalid": {"valid_format": {"name": "form", "regex": _one_regex(spec)}}}
    elif e == "ExpectColumnValuesToBeInSet" and spec.ref is not None:  # another file's ids
        ref_file, ref_column = spec.ref
        check = {"invalid": {"valid_reference_data": {
            "dataset": f"{DATA_SOURCE}/main/{_RAW_TABLES[ref_file]}", "column": ref_column}}}
    elif e == "ExpectColumnValuesToBeInSet":
        check = {"invalid": {"valid_values": [str(v) for v in spec.kwargs["value_set"]]}}
    elif e == "ExpectColumnValuesToNotBeInSet":
        check = {"invalid": {"invalid_values": [str(v) for v in spec.kwargs["value_set"]]}}
    elif e == "ExpectColumnValuesToBeUnique":
        check = {"duplicate": {}}
    else:
        raise ValueError(e)
    body = next(iter(check.values()))
    body["qualifier"] = qualifier
    conditions = spec.conditions
    if spec.ref is not None and conditions:
        # Soda 4.28 puts a reference check's filter unqualified into a join of the dataset with
        # the reference table, where the compared column is ambiguous: "column != ''" becomes
        # '' counted as missing (not invalid), the same rows checked
        own = ("!=", _column(spec), "")
        if own in conditions:
            body["missing_values"] = [""]
            conditions = tuple(c for c in conditions if c != own)
    if (flt := _soda_filter(conditions)) is not None:
        body["filter"] = flt
    return check


def soda_contracts(ctx: Ctx, run_id: str, folder: Path,
                   rules: tuple = GX_RULES) -> dict[str, tuple[Path, list[str]]]:
    """One contract YAML per file with checks (JSON is YAML) in `folder`; per file its path and
    the rule code of each of its checks, in the order Soda reports them (column by column).
    `rules`: GX_RULES, or GX_SET_RULES (ctx with its value sets: peer_value_sets)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for f in FILES:
        columns: dict[str, list[tuple[str, dict]]] = {}
        n = 0
        for rule in (r for r in peer_rules("soda", ctx, rules) if r.entity == f.name):
            for spec in rule.specs:
                n += 1
                columns.setdefault(_column(spec), []).append((rule.code, _soda_check(spec, f"q{n}")))
        if not columns:
            continue
        contract = {"dataset": f"{DATA_SOURCE}/main/{f.raw_table}",
                    "filter": f"run_id = {_sql_literal(run_id)}",
                    "columns": [{"name": c, "checks": [chk for _, chk in checks]}
                                for c, checks in columns.items()]}
        path = folder / f"{f.name}.yml"
        path.write_text(json.dumps(contract, ensure_ascii=False, indent=1), encoding="utf-8")
        codes = {chk[next(iter(chk))]["qualifier"]: code
                 for checks in columns.values() for code, chk in checks}
        out[f.name] = (path, codes)
    return out


def soda_connect(db_path: Path):
    """The run's warehouse, read-only (nothing Soda does can write Talon's warehouse)."""
    import duckdb
    import soda_core.contracts  # noqa: F401  (before soda_duckdb: its plugin entry point loops)
    from soda_duckdb import DuckDBDataSource

    con = duckdb.connect(str(db_path), read_only=True)
    return con, DuckDBDataSource.from_existing_cursor(con, name=DATA_SOURCE)


def run_soda(data_source, contracts: dict) -> dict:
    """Verify every contract; per rule code: checks, failing rows (summed), all passed."""
    from soda_core.contracts import verify_contract_locally

    out: dict[str, dict] = {}
    for name, (path, codes) in contracts.items():
        result = verify_contract_locally(data_sources=[data_source], contract_file_path=str(path))
        if result.has_errors:
            raise RuntimeError(f"Soda contract {name}: {result.get_errors_str()}")
        [cvr] = result.contract_verification_results
        for r in cvr.check_results:
            code = codes[r.check.qualifier]
            values = r.diagnostic_metric_values or {}
            failed = values.get(f"{r.check.type}_count")
            if failed is None:
                raise RuntimeError(f"Soda {name} {r.check.type}: no count in {values}")
            row = out.setdefault(code, {"checks": 0, "unexpected": 0, "success": True})
            row["checks"] += 1
            row["unexpected"] += int(failed)
            row["success"] &= r.outcome.name == "PASSED"
    return out


# --- (e) Pointblank on polars ----------------------------------------------------------------

def load_polars(db_path: Path, run_id: str) -> dict:
    """The run's loaded raw rows, every contract column as text, one polars frame per file."""
    import duckdb

    with duckdb.connect(str(db_path), read_only=True) as con:
        return {f.name: con.sql(f"SELECT {', '.join(f.columns)} FROM {f.raw_table} "
                                "WHERE run_id = ?", params=[run_id]).pl() for f in FILES}


def _pl_filter(conditions: tuple):
    """Spec.conditions as a Pointblank `pre=` row filter (None: no condition)."""
    if not conditions:
        return None
    import polars as pl

    expr = None
    for op, column, value in conditions:
        part = (pl.col(column) == value if op == "==" else pl.col(column) != value if op == "!="
                else pl.col(column).is_in(list(value)))
        expr = part if expr is None else expr & part
    return lambda df, e=expr: df.filter(e)


def pointblank_plans(frames: dict, ctx: Ctx, rules: tuple = GX_RULES) -> dict:
    """One Validate per file with steps; per file also the rule code of each step, in step
    order. `rules`: GX_RULES, or GX_SET_RULES (ctx with its value sets: peer_value_sets)."""
    import polars as pl
    import pointblank as pb

    plans = {}
    for f in FILES:
        mine = [r for r in peer_rules("pointblank", ctx, rules) if r.entity == f.name and r.specs]
        if not mine:
            continue
        v = pb.Validate(data=frames[f.name], tbl_name=f.name, label=f"talon bench {f.name}")
        codes: list[str] = []
        for rule in mine:
            for spec in rule.specs:
                if isinstance(spec, tuple):  # ("within_spec", column, spec, form regex)
                    _, column, kind, form = spec
                    v = v.col_vals_within_spec(
                        columns=column, spec=kind,
                        pre=lambda df, c=column, p=form: df.filter(pl.col(c).str.contains(p)))
                else:
                    column, pre = spec.kwargs.get("column"), _pl_filter(spec.conditions)
                    e = spec.expectation
                    if e == "ExpectColumnValueLengthsToBeBetween":
                        v = v.col_vals_str_len(columns=column, min_val=1, pre=pre)
                    elif e == "ExpectColumnValueLengthsToEqual":
                        v = v.col_vals_str_len(columns=column, max_val=0, pre=pre)
                    elif e in ("ExpectColumnValuesToMatchRegex",
                               "ExpectColumnValuesToMatchRegexList"):
                        v = v.col_vals_regex(columns=column, pattern=_one_regex(spec), pre=pre)
                    elif e == "ExpectColumnValuesToBeInSet":
                        v = v.col_vals_in_set(columns=column,
                                              set=[str(x) for x in spec.kwargs["value_set"]],
                                              pre=pre)
                    elif e == "ExpectColumnValuesToNotBeInSet":
                        v = v.col_vals_not_in_set(columns=column,
                                                  set=[str(x) for x in spec.kwargs["value_set"]],
                                                  pre=pre)
                    elif e == "ExpectColumnValuesToBeUnique":
                        v = v.rows_distinct(columns_subset=[column], pre=pre)
                    elif e == "ExpectCompoundColumnsToBeUnique":
                        v = v.rows_distinct(columns_subset=list(spec.kwargs["column_list"]),
                                            pre=pre)
                    else:
                        raise ValueError(e)
                codes.append(rule.code)
        plans[f.name] = (v, codes)
    return plans


def run_pointblank(plans: dict) -> dict:
    """Interrogate every plan; per rule code: steps, failing rows (summed), all passed."""
    out: dict[str, dict] = {}
    for name, (v, codes) in plans.items():
        done = v.interrogate()
        failed = done.n_failed()
        for i, code in enumerate(codes, start=1):
            info = done.validation_info[i - 1]
            if getattr(info, "eval_error", None):
                raise RuntimeError(f"Pointblank {name} step {i} ({code}) did not evaluate")
            row = out.setdefault(code, {"checks": 0, "unexpected": 0, "success": True})
            row["checks"] += 1
            row["unexpected"] += int(failed[i])
            row["success"] &= int(failed[i]) == 0
    return out


__all__ = ["available", "unavailable_reason", "versions", "peer_rules", "coverage",
           "soda_contracts", "soda_connect", "run_soda", "load_polars", "pointblank_plans",
           "peer_value_sets", "GX_RULES", "GX_SET_RULES",
           "run_pointblank", "FULL", "PARTIAL", "NONE"]
