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

import polars as pl

from flows.synth.cases_files import duplicates, edges, malformed
from flows.synth.cases_patients import pat_coverage, pat_fields, pat_routing, pat_snils
from flows.synth.cases_records import attachments, policies
from flows.synth.cases_schedule import doctor_codes, horizon, slot_codes
from flows.synth.injector import HELPER_COLUMNS, Injector
from flows.synth.region import COLUMNS, EXTRA_COLUMNS, World

BUILDERS = (pat_snils, pat_fields, pat_coverage, pat_routing, policies, attachments, slot_codes, doctor_codes,
            horizon, malformed, duplicates, edges)


def inject(world: World, tables: dict[str, pl.DataFrame], parquet: tuple[str, ...] = ()
           ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Add every case to the clean tables; return the tables and the ground truth."""
    inj = Injector(world, tables, parquet)
    for build in BUILDERS:
        build(inj)
    out = {}
    for name, df in tables.items():
        clean = df.with_columns(*(pl.lit(None, dtype=pl.String).alias(c) for c in HELPER_COLUMNS[1:]))
        clean = clean.select(COLUMNS[name] + EXTRA_COLUMNS.get(name, ()) + HELPER_COLUMNS)
        out[name] = pl.concat([clean] + inj.parts[name], how="vertical")
    truth = pl.concat(inj.truth).with_columns(
        pl.when(pl.col("mo_code") == "").then(None).otherwise(pl.col("mo_code")).alias("mo_code"))
    world.next_ids.update(inj.next)
    return out, truth
