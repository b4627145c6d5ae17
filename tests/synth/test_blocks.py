"""A region generated in blocks (generate_region(block_patients=...)): deterministic, identifiers
unique across blocks, and its ground truth exact, both for the oracle and for Talon itself."""
from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from flows import pipeline, warehouse
from flows.synth import generate_region
from flows.synth.generator import block_sizes
from tests.e2e.test_ground_truth import compare
from tests.synth.conftest import AS_OF, read_truth, read_truth_v11
from tests.synth.oracle import read_file, run_oracle

BLOCK = 1_500
PATIENTS = 4_000  # three blocks of 1,334, 1,333 and 1,333 clean patients


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    out = tmp_path_factory.mktemp("blocks")
    return generate_region(out, patients=PATIENTS, seed=4, as_of=AS_OF, block_patients=BLOCK)


def test_block_sizes():
    assert block_sizes(1_000_000, 1_000_000) == [1_000_000]
    assert block_sizes(4_000, 1_500) == [1_334, 1_333, 1_333]
    assert block_sizes(10_000_000, 1_000_000) == [1_000_000] * 10
    assert sum(block_sizes(2_000_001, 1_000_000)) == 2_000_001 and len(block_sizes(2_000_001, 1_000_000)) == 3


def test_one_block_is_the_region_of_before(tmp_path):
    """A region that fits one block is the same files whatever block_patients is."""
    a = generate_region(tmp_path / "a", patients=1_200, seed=21, as_of=AS_OF)
    b = generate_region(tmp_path / "b", patients=1_200, seed=21, as_of=AS_OF, block_patients=1_200)
    assert digests(a.out) == digests(b.out)


def test_blocks_are_deterministic(blocks, tmp_path):
    again = generate_region(tmp_path, patients=PATIENTS, seed=4, as_of=AS_OF, block_patients=BLOCK)
    assert digests(again.out) == digests(blocks.out)
    assert again.rows == blocks.rows


def test_identifiers_unique_across_blocks(blocks):
    """Every file's key is unique but for the lines injected as ROW.DUPLICATE_ID; one id range runs
    across the blocks; a SNILS held by two patients is one a case made (a PAT.SNILS.* finding of
    one of them); cases alone give a doctor's SNILS to another doctor."""
    truth = pl.read_csv(blocks.truth, infer_schema=False)
    dup_ids = set(truth.filter(pl.col("check_code") == "ROW.DUPLICATE_ID")["record_id"])
    keys = {"patients": "patient_id", "policies": "policy_id", "attachments": "attachment_id",
            "slots": "slot_id", "registry": "enp"}
    rows = {}
    for name, key in keys.items():
        kept, _, dups = read_file(blocks.extract / f"{name}.csv")
        rows[name] = kept
        values = [r[key] for r in rows[name]]
        assert len(values) == len(set(values)), name
        assert set(dups) <= dup_ids, name
    for name, key in keys.items():  # the key ranges of the clean rows are contiguous across the blocks
        if name != "registry":
            ids = sorted(int(r[key]) for r in rows[name] if r[key].isdigit() and int(r[key]) < 90_000_000)
            assert ids[-1] - ids[0] + 1 - len(ids) < len(ids) // 50, name
    patients = rows["patients"]
    assert len(patients) > PATIENTS
    norm = [r["snils"].replace("-", "").replace(" ", "") for r in patients]
    seen: dict[str, list[str]] = {}
    for r, s in zip(patients, norm):
        if len(s) == 11 and s.isdigit():
            seen.setdefault(s, []).append(r["patient_id"])
    flagged = set(truth.filter(pl.col("check_code").str.starts_with("PAT.SNILS."))["record_id"])
    shared = [pids for pids in seen.values() if len(pids) > 1]
    assert shared and all(set(pids) & flagged for pids in shared)  # made by a case, which says so
    enps = [r["enp"] for r in rows["policies"] if r["enp"]]
    assert len(enps) - len(set(enps)) < 100  # the injected duplicates only (cases of a block)
    doctors: dict[str, set[str]] = {}
    for r in rows["slots"]:
        if r["doctor_snils"].strip():
            doctors.setdefault(r["doctor_snils"].replace("-", "").replace(" ", ""), set()).add(r["doctor_id"])
    blocks_of = {d for ds in doctors.values() if len(ds) > 1 for d in ds}
    assert len(blocks_of) < 50  # only cases share a doctor SNILS (SCH.DOCTOR.* within a block)


def test_blocks_truth_equals_oracle(blocks):
    assert run_oracle(blocks.extract, blocks.reference, AS_OF) == read_truth(blocks.truth)
    assert run_oracle(blocks.extract, blocks.reference, AS_OF, registry=False) == read_truth_v11(blocks.truth)


def test_blocks_density_like_one_block(blocks):
    """Every kind of case comes in every block: about the findings of three regions of a block's size."""
    truth = pl.read_csv(blocks.truth, infer_schema=False)
    malformed = truth.filter(pl.col("check_code") == "ROW.MALFORMED")["record_id"]
    assert malformed.str.contains(r"^(patients|policies|attachments|slots|registry)\.csv:[0-9]+$").all()
    lines = {int(x.split(":")[1]) for x in malformed if x.startswith("slots.csv:")}
    assert max(lines) > blocks.rows["slots"] * 2 // 3  # the last block's malformed lines, numbered in the file
    assert truth.group_by("check_code").len()["len"].min() >= 15  # at least five per block


def test_blocks_findings_equal_ground_truth(blocks, tmp_path):
    """Talon on the region of three blocks finds exactly its truth (routing and suggestions too)."""
    prepared = pipeline.prepare(blocks.extract, blocks.reference)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        assert pipeline.reconciliation(con, run_id)["reconciled"].all()
        findings = pipeline.run_checks(con, run_id, prepared.as_of)
    truth = pl.read_csv(blocks.truth, infer_schema=False).with_columns(pl.all().fill_null(""))
    compare(findings, truth.with_columns(pl.col("mo_code").replace("", None)))


def test_blocks_parquet_and_dense(tmp_path):
    """Parquet files appended block by block and a dense region in blocks: the oracle finds the truth."""
    result = generate_region(tmp_path, patients=4_000, seed=6, as_of=AS_OF, block_patients=BLOCK,
                             parquet=("slots", "registry"), defect_rate=0.4)
    import pyarrow.parquet as pq
    assert pq.ParquetFile(result.extract / "slots.parquet").metadata.num_rows == result.rows["slots"]
    assert run_oracle(result.extract, result.reference, AS_OF) == read_truth(result.truth)
    rate = sum(result.truth_counts.values()) / result.rows["patients"]
    assert 0.3 < rate < 0.55, rate


def test_case_surnames_of_each_block(blocks):
    """Register case persons of block b > 0 carry the block's second surname part, so no case person
    is a name-tier candidate of a case patient of another block."""
    from flows.synth.register import REG_SURNAMES, reg_surnames
    assert reg_surnames(0)[0] == REG_SURNAMES
    assert reg_surnames(1)[0][0] == REG_SURNAMES[0] + "-Гирей"
    assert len(set(reg_surnames(2)[0]) | set(reg_surnames(1)[0]) | set(REG_SURNAMES)) == 3 * len(REG_SURNAMES)
    kept, _, _ = read_file(blocks.extract / "patients.csv")
    last = [r["last_name"] for r in kept]
    for block in (1, 2):
        male, female = reg_surnames(block)
        assert any(x in male or x in female for x in last), block
