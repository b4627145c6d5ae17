import io
from datetime import datetime

from rich.console import Console

from flows import pipeline, progress, warehouse
from flows.synth import generate_region


def test_check_stages_drive_the_progress_bar(tmp_path):
    region = tmp_path / "r"
    generate_region(region, patients=200, seed=2, region="50", as_of=datetime(2026, 11, 25, 23))
    prepared = pipeline.prepare(region / "extract", region / "reference")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        with progress.show_progress(console, total=7, enabled=True):
            pipeline.run_checks(con, run_id, prepared.as_of, pipeline.CheckParams(gx_crosscheck=False))
    text = buffer.getvalue()
    assert "Checks done" in text and "7/7" in text


def test_no_bar_off_a_terminal():
    buffer = io.StringIO()
    with progress.show_progress(Console(file=buffer), total=3):
        progress.step("invisible")
    assert buffer.getvalue() == ""
