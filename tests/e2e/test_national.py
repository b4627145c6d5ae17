"""National run: three generated regions (and one broken) on a two-worker local Dask cluster
through Prefect; each region's findings equal a single-region run of the plain functions on the
same data, and OUT/index.html lists the regions with the counts in their warehouses.

The national page reads each region under its warehouse's lock: it waits for a run holding it,
and lists a region whose lock stays taken instead of reading it (tests/e2e/test_national_lock.py).
Each worker's DuckDB gets its share of the host's memory and cores (the tests below)."""
from __future__ import annotations

import html
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows import national, pipeline, warehouse
from flows.errors import InputError
from flows.synth import generate_region

AS_OF = datetime(2026, 11, 25, 23, 0)
REGIONS = {"50": 21, "77": 22, "78": 23}  # region code (also the folder name) -> seed
PATIENTS = 600
KEY = ["check_code", "record_id", "mo_code"]


# --------------------------------------------------------------------------- layout (no Dask)


def _touch_batch(folder: Path, suffix: str = ".csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"patients{suffix}").write_text("patient_id\n")
    return folder


def test_layout_extract_and_reference_per_region(tmp_path):
    for code in ("77", "50"):
        _touch_batch(tmp_path / code / "extract")
        (tmp_path / code / "reference").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "README.txt").write_text("delivery note")
    assert national.is_national(tmp_path)
    regions = national.discover_regions(tmp_path)
    assert [(r.name, r.extracts, r.reference) for r in regions] == [
        (c, tmp_path / c / "extract", tmp_path / c / "reference") for c in ("50", "77")]


def test_layout_files_in_region_folder_with_shared_reference(tmp_path):
    _touch_batch(tmp_path / "16")
    _touch_batch(tmp_path / "02", ".parquet")
    (tmp_path / "02" / "reference").mkdir()  # its own wins over the shared one
    (tmp_path / "reference").mkdir()
    assert national.is_national(tmp_path)
    got = {r.name: (r.extracts, r.reference) for r in national.discover_regions(tmp_path)}
    assert got == {"02": (tmp_path / "02", tmp_path / "02" / "reference"),
                   "16": (tmp_path / "16", tmp_path / "reference")}
    other = tmp_path.parent / f"{tmp_path.name}-ref"
    other.mkdir()
    got = {r.name: r.reference for r in national.discover_regions(tmp_path, other)}
    assert got == {"02": tmp_path / "02" / "reference", "16": other}


def test_single_batches_are_not_national(tmp_path):
    single = _touch_batch(tmp_path / "batch")
    _touch_batch(single / "77")  # a batch folder stays a batch whatever else it holds
    generated = tmp_path / "generated"
    _touch_batch(generated / "extract")
    (generated / "reference").mkdir()
    empty = tmp_path / "empty"
    (empty / "docs").mkdir(parents=True)
    assert not national.is_national(single)
    assert not national.is_national(generated)
    assert not national.is_national(empty)
    assert not national.is_national(tmp_path / "missing")


@pytest.mark.parametrize("how, needle", [
    ("no_reference", "no reference/ folder"),
    ("no_batch", "holds no extract batch"),
    ("both", "both directly and in extract/"),
    ("bad_name", "rename it"),
    ("symlink", "symlink"),
])
def test_layout_errors_name_the_region(tmp_path, how, needle):
    _touch_batch(tmp_path / "50" / "extract")
    (tmp_path / "50" / "reference").mkdir()
    if how == "no_reference":
        shutil.rmtree(tmp_path / "50" / "reference")
        bad = tmp_path / "50"
    elif how == "no_batch":
        bad = tmp_path / "77"
        (bad / "docs").mkdir(parents=True)
    elif how == "both":
        bad = _touch_batch(tmp_path / "50")
    elif how == "bad_name":
        bad = _touch_batch(tmp_path / "Москва 77")
    else:
        bad = tmp_path / "78"
        os.symlink(tmp_path / "50", bad)
    with pytest.raises(InputError) as info:
        national.discover_regions(tmp_path)
    assert needle in str(info.value) and str(bad) in str(info.value)


def test_task_runner_options():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    local = national.task_runner(None, 2, regions=3)
    assert local.address is None and {k: local.cluster_kwargs[k] for k in (
        "n_workers", "threads_per_worker", "processes")} == {
        "n_workers": 2, "threads_per_worker": 1, "processes": True}
    # Each worker's Dask memory limit is the host's over the workers: DuckDB's share is cut from it.
    from distributed.system import MEMORY_LIMIT

    assert local.cluster_kwargs["memory_limit"] == national.local_worker_memory(2) == MEMORY_LIMIT // 2
    assert national.task_runner(None, None, regions=1).cluster_kwargs["n_workers"] == 1
    with pytest.raises(InputError, match="at least 1"):
        national.task_runner(None, 0, regions=3)
    with temporary_settings(updates={PREFECT_API_URL: "http://10.0.0.1:4200/api"}):
        remote = national.task_runner("tcp://10.0.0.5:8786", None, regions=3)
        assert remote.address == "tcp://10.0.0.5:8786" and remote.cluster_kwargs == {}
        with pytest.raises(InputError, match="cannot be combined"):
            national.task_runner("tcp://10.0.0.5:8786", 2, regions=3)
    # Without a Prefect server, only workers on this machine can reach the temporary one.
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(InputError, match="Prefect server its workers can reach"):
            national.task_runner("tcp://10.0.0.5:8786", None, regions=3)
        assert national.task_runner("tcp://127.0.0.1:8786", None, 3).address == "tcp://127.0.0.1:8786"


# --------------------------------------------------------------------------- on Dask


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    """DIR/<code>/extract + DIR/<code>/reference per region, plus a broken region folder
    (files directly in it, slots missing)."""
    root = tmp_path_factory.mktemp("national") / "delivery"
    for code, seed in REGIONS.items():
        generate_region(root / code, patients=PATIENTS, seed=seed, region=code, as_of=AS_OF)
    broken = root / "broken"
    broken.mkdir()
    for name in ("patients", "policies", "attachments"):
        shutil.copy(next((root / "50" / "extract").glob(f"{name}.*")), broken)
    shutil.copytree(root / "50" / "reference", broken / "reference")
    return root


def _single_region_findings(region: Path, db: Path) -> pl.DataFrame:
    """The reference: the plain functions, no Prefect, no Dask (GX does not change findings)."""
    prepared = pipeline.prepare(region / "extract", region / "reference")
    with warehouse.connect(db) as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        return pipeline.run_checks(con, run_id, prepared.as_of,
                                   pipeline.CheckParams(gx_crosscheck=False)).select(KEY)


def _warehouse_findings(db: Path, run_id: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql("SELECT check_code, record_id, mo_code FROM findings WHERE run_id = ?",
                       params=[run_id]).pl()


def _counts(db: Path, run_id: str) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            """SELECT count(*),
                      count(*) FILTER (WHERE severity = 'blocker'),
                      count(*) FILTER (WHERE severity = 'warning'),
                      count(DISTINCT patient_id) FILTER (WHERE severity = 'blocker'),
                      count(DISTINCT patient_id), count(DISTINCT mo_code)
               FROM findings WHERE run_id = ?""", [run_id]).fetchall()[0]
    return dict(zip(("findings", "blockers", "warnings", "patients_blocked",
                     "patients_affected", "clinics"), row))


def _region_rows(page: str) -> dict[str, dict[str, int]]:
    """region -> {metric: value} from the region table of the national page."""
    table = page.split('id="table-region"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for region, body in re.findall(r'<tr data-region="([^"]+)">(.*?)</tr>', table, re.S):
        rows[region] = {m: int(v) for m, v in
                        re.findall(r'data-metric="([a-z_]+)">([0-9]+)<', body)}
        rows[region]["link"] = re.search(r'<a href="([^"]+)">', body).group(1)
    return rows


@pytest.mark.slow
def test_national_run_on_dask(prefect_server, delivery, tmp_path):
    out, wh_dir = tmp_path / "out", tmp_path / "warehouses"
    summary = national.national_flow(delivery, None, out, wh_dir, workers=2)

    by_region = {r.region: r for r in summary.regions}
    assert set(by_region) == set(REGIONS) | {"broken"}
    assert [r.region for r in summary.failed] == ["broken"]
    assert "slots" in by_region["broken"].error and summary.exit_code == 2

    page = summary.index.read_text(encoding="utf-8")
    rows = _region_rows(page)
    assert set(rows) == set(REGIONS)
    for code in REGIONS:
        result = by_region[code]
        assert result.status == "completed" and result.warehouse == wh_dir / f"{code}.duckdb"
        assert result.region_code == code and result.recon["reconciled"].all()  # polars via Dask
        with duckdb.connect(str(result.warehouse), read_only=True) as con:
            assert con.execute("SELECT run_id, status FROM runs").fetchall() == [
                (result.run_id, "completed")]
        # The region's findings equal a single-region run's on the same data.
        got = _warehouse_findings(result.warehouse, result.run_id)
        want = _single_region_findings(delivery / code, tmp_path / f"single-{code}.duckdb")
        assert got.height == want.height > 0
        assert got.sort(KEY, nulls_last=True).equals(want.sort(KEY, nulls_last=True)), code
        # The national page shows that region's counts as stored in its warehouse.
        counts = _counts(result.warehouse, result.run_id)
        assert {k: rows[code][k] for k in counts} == counts
        assert counts["blockers"] == result.findings_by_severity.get("blocker", 0)
        assert rows[code]["link"] == f"{code}/latest/index.html"
        assert (out / code / "latest" / "index.html").is_file()
        assert (out / code / "latest").resolve() == result.folder.resolve()
    # Each worker's DuckDB got its share of the host (half of the worker's memory limit, the
    # cores over the workers), worked out once and passed to the task, and not DuckDB's default.
    share = national.local_share(2)
    assert share.memory_limit and share.threads == max(1, national.host_cores() // 2)
    assert {by_region[c].duckdb for c in REGIONS} == {share}
    # Regions differ, so a mix-up between regions would show.
    assert len({rows[c]["findings"] for c in REGIONS}) > 1
    assert 'data-region="broken"' in page.split('id="table-failed"', 1)[1]
    assert not (out / "broken" / "latest").exists()

    # Offline and without personal data: no URL, no SNILS, surname or patient id of the input.
    assert not re.search(r"(?i)https?://", page)
    text = html.unescape(page)
    for code in REGIONS:
        with duckdb.connect(str(wh_dir / f"{code}.duckdb"), read_only=True) as con:
            people = con.execute(
                "SELECT snils, last_name, patient_id FROM raw_patients USING SAMPLE 200 ROWS"
            ).fetchall()
        leaked = {v for row in people for v in row if v and len(v) >= 6 and v in text}
        assert not leaked, f"personal data on the national page: {sorted(leaked)[:5]}"

    # The same warehouses render in English too (read back, nothing recomputed).
    from reports.national import RegionEntry, write_national_report

    en = write_national_report([RegionEntry(r.region, r.warehouse, r.run_id, r.error)
                                for r in summary.regions], tmp_path / "en", "en")
    en_text = en.read_text(encoding="utf-8")
    assert "National data quality summary" in en_text and "Национальная" not in en_text
    assert _region_rows(en_text) == rows
