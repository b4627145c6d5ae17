"""A small generated region loaded into a fresh warehouse, for tests that stage a real run."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flows import pipeline, warehouse
from flows.synth import generate_region


def load_generated_region(base: Path, *, patients: int, seed: int,
                          as_of: datetime) -> tuple[Path, str, datetime]:
    """Generate a region under `base`, load it into `base/w.duckdb`; (warehouse, run_id, as_of)."""
    region = base / "region"
    generate_region(region, patients=patients, seed=seed, region="50", as_of=as_of)
    db = base / "w.duckdb"
    prepared = pipeline.prepare(region / "extract", region / "reference")
    with warehouse.connect(db) as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
    return db, run_id, prepared.as_of
