"""The Prefect artifacts of a run: findings per check and severity (table), the booking impact
(markdown) and a link to the report, read back from the Prefect server."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime

import polars as pl
from prefect import flow

from flows import pipeline, warehouse
from flows.artifacts import create_run_artifacts
from flows.synth import generate_region


async def _latest(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return sorted(found, key=lambda a: a.created)[-1]


def test_run_artifacts_carry_counts_impact_and_link(prefect_server, tmp_path):
    region = tmp_path / "r"
    generate_region(region, patients=400, seed=12, region="50", as_of=datetime(2026, 11, 25, 23))
    prepared = pipeline.prepare(region / "extract", region / "reference")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        findings = pipeline.run_checks(con, run_id, prepared.as_of, pipeline.CheckParams(gx_crosscheck=False))
        folder = tmp_path / "out" / "run"
        folder.mkdir(parents=True)
        flow(name="artifacts-test")(create_run_artifacts)(con, run_id, folder)

    table = asyncio.run(_latest("talon-findings-by-check"))
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    got = {(r["check_code"], r["severity"]): r["findings"] for r in rows}
    want = {(c, s): n for c, s, n in findings.group_by("check_code", "severity").len().iter_rows()}
    assert got == want

    md = asyncio.run(_latest("talon-booking-impact")).data
    blocked = findings.filter(pl.col("severity") == "blocker")["patient_id"].drop_nulls().n_unique()
    assert f"**{blocked:,} patients cannot book online**" in md and run_id in md

    link = asyncio.run(_latest("talon-report"))
    assert "](file:///" in link.data and link.data.endswith("/out/run/index.html)")
