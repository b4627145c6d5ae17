"""Defect injection with exact ground truth.

Every defect instance is a *case*: a few records created for it alone (their own patients, doctors
and ids) on top of the clean region, so no case interacts with another or with the clean data.
Each builder states, next to the records it writes, the full list of findings they produce:
(check_code, record_id, mo_code), mo_code "" meaning unassigned. Side effects are part of that list
(a malformed patient line orphans its policy, attachment and booked slot; an unparseable attach
date leaves the patient without an active attachment). Case doctors work in clean (MO, specialty)
pairs, which always have a free slot ahead, unless the case needs its own pair (then it has one
that nobody else uses). Builders are vectorised over their instances (numpy / polars).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from flows.synth.cases_files import duplicates, edges, malformed
from flows.synth.cases_patients import pat_coverage, pat_fields, pat_routing, pat_snils
from flows.synth.cases_records import attachments, policies
from flows.synth.cases_register import REG_BUILDERS
from flows.synth.cases_schedule import doctor_codes, horizon, slot_codes
from flows.synth.injector import HELPER_COLUMNS, Injector
from flows.synth.region import COLUMNS, EXTRA_COLUMNS, World

TRUTH_COLUMNS = ("check_code", "record_id", "mo_code", "suggested_value", "v11_mo_code", "registry_only")
BUILDERS = (pat_snils, pat_fields, pat_coverage, pat_routing, policies, attachments, slot_codes, doctor_codes,
            horizon, malformed, duplicates, edges)


def inject(world: World, tables: dict[str, pl.DataFrame], parquet: tuple[str, ...] = (),
           reg_rng: np.random.Generator | None = None, defect_rate: float | None = None
           ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Add every case to the clean tables; return the tables and the ground truth (TRUTH_COLUMNS).
    With a register (tables has "registry"; reg_rng its random stream) the register cases are added
    too, and the truth gets the suggested values and the v1.2 routing. defect_rate (findings per
    patient, see generate_region) scales the number of cases; None: the default density."""
    registry = "registry" in tables
    inj = Injector(world, tables, parquet, registry=registry, reg_rng=reg_rng, defect_rate=defect_rate)
    for build in BUILDERS:
        build(inj)
    if registry:
        for build in REG_BUILDERS:
            build(inj)
        for p in inj.persons:
            if p.reg is not None and len(p.reg):
                inj.emit("registry", p.reg)
        for df in inj.reg_parts:
            inj.emit("registry", df)
    out = {}
    for name, df in tables.items():
        clean = df.with_columns(*(pl.lit(None, dtype=pl.String).alias(c) for c in HELPER_COLUMNS[1:]))
        clean = clean.select(COLUMNS[name] + EXTRA_COLUMNS.get(name, ()) + HELPER_COLUMNS)
        out[name] = pl.concat([clean] + inj.parts[name], how="vertical")
    truth = pl.concat(inj.truth)
    if registry:
        truth = _register_truth(inj, truth, out["registry"])
    else:
        truth = truth.with_columns(pl.lit("").alias("suggested_value"), pl.col("mo_code").alias("v11_mo_code"))
    truth = truth.select(TRUTH_COLUMNS).with_columns(
        *(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in ("mo_code", "v11_mo_code")))
    world.next_ids.update(inj.next, keys=inj.keys, orphans=inj.orphans, wide=inj.wide)
    return out, truth


def _register_truth(inj: Injector, truth: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    from flows.synth.register import finish_truth, register_persons
    ok = pl.col("_corrupt").is_null()
    emitted = pl.concat(inj.parts["patients"]).filter(ok).select("patient_id").unique()
    links = [pl.DataFrame({"patient_id": p.pid.astype(str), "enp": np.asarray(p.link, dtype=object).astype(str)})
             for p in inj.persons if p.link is not None] + inj.links
    links = (pl.concat(links).filter(pl.col("enp") != "").unique("patient_id", keep="last", maintain_order=True)
             .join(emitted, on="patient_id", how="semi"))
    pols = pl.concat(inj.parts["policies"]).filter(ok).sort("_order", maintain_order=True).unique(
        "policy_id", keep="first").select("policy_id", "patient_id")
    atts = pl.concat(inj.parts["attachments"]).filter(ok).sort("_order", maintain_order=True).unique(
        "attachment_id", keep="first").select("attachment_id", "patient_id")
    persons = register_persons(registry.sort("_order", maintain_order=True), inj.facts)
    return finish_truth(truth, links, pols, atts, persons)
