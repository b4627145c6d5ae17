"""The ground truth equals what a naive row-by-row reading of the catalogue finds (tests/synth/oracle.py),
with the register (findings, routing, suggested values) and without it (registry_only 0 rows, v1.1
routing), the clean base produces nothing, every code is injected, generation is deterministic,
and a region without a register is byte for byte the region of before the register."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from flows.synth import generate_region
from tests.synth.conftest import AS_OF, TRUTH_HEADER, read_truth, read_truth_v11, truth_rows
from tests.synth.oracle import read_file, run_oracle

CODES = (
    "PAT.SNILS.MISSING", "PAT.SNILS.FORMAT", "PAT.SNILS.CHECKSUM", "PAT.SNILS.DUPLICATE", "PAT.NAME.INVALID",
    "PAT.BIRTHDATE.INVALID", "PAT.SEX.INVALID", "PAT.POLICY.NONE", "PAT.ATTACHMENT.NONE",
    "POL.TYPE.UNKNOWN", "POL.ENP.MISSING", "POL.ENP.FORMAT", "POL.ENP.CHECKSUM", "POL.NUMBER.FORMAT",
    "POL.SMO.UNKNOWN", "POL.DATES.INVALID", "POL.ACTIVE.MULTIPLE", "POL.PATIENT.ORPHAN",
    "ATT.MO.UNKNOWN", "ATT.MO.EXCLUDED", "ATT.POLICY.REGION", "ATT.ACTIVE.MULTIPLE", "ATT.DATES.INVALID",
    "ATT.METHOD.INVALID", "ATT.DOCTOR.SNILS", "ATT.PATIENT.ORPHAN",
    "SCH.MO.UNKNOWN", "SCH.SPECIALTY.UNKNOWN", "SCH.SLOT.INVALID", "SCH.PAST.FREE", "SCH.DOCTOR.INACTIVE",
    "SCH.OVERLAP", "SCH.DOUBLE_BOOKING", "SCH.BOOKED.ORPHAN", "SCH.STALE", "SCH.DOCTOR.SNILS",
    "SCH.HORIZON.EMPTY", "ROW.MALFORMED", "ROW.DUPLICATE_ID",
)
REG_CODES = (
    "REG.PERSON.NOT_FOUND", "REG.PERSON.DECEASED", "REG.PATIENT.DUPLICATE", "REG.NAME.MISMATCH",
    "REG.BIRTHDATE.MISMATCH", "REG.SNILS.MISMATCH", "REG.POLICY.ENP", "REG.POLICY.CLOSED", "REG.POLICY.SMO",
    "REG.ATTACHMENT.MISMATCH", "REG.ATTACHMENT.UNREGISTERED",
)


def test_every_code_injected_at_least_five_times(region):
    counts = Counter(code for code, *_ in read_truth(region.truth))
    assert set(counts) == set(CODES) | set(REG_CODES)
    assert min(counts.values()) >= 5, counts
    assert counts == Counter(region.truth_counts)


def test_truth_file_shape(region):
    raw = region.truth.read_bytes()
    raw.decode("utf-8")
    with open(region.truth, encoding="utf-8", newline="") as f:
        records = list(csv.reader(f))
    assert records[0] == TRUTH_HEADER
    keys = [(r[0], r[1]) for r in records[1:]]
    assert len(keys) == len(set(keys))  # one row per (check_code, record_id)
    assert any(r[2] == "" for r in records[1:]) and any(r[2] != "" for r in records[1:])
    assert keys == sorted(keys)
    assert {r[5] for r in records[1:]} == {"0", "1"}
    assert all(r[0].startswith("REG.") == (r[5] == "1") for r in records[1:] if not r[0].startswith("ROW."))
    assert {r[1].split(":")[0] for r in records[1:] if r[0] == "ROW.MALFORMED" and r[5] == "1"} == {"registry.csv"}
    assert any(r[2] != r[4] for r in records[1:])  # the register routes some unassigned findings
    assert any(r[3] for r in records[1:] if r[5] == "0") and any(r[3] for r in records[1:] if r[5] == "1")


def test_truth_equals_oracle(region):
    assert run_oracle(region.extract, region.reference, AS_OF) == read_truth(region.truth)
    assert run_oracle(region.extract, region.reference, AS_OF, registry=False) == read_truth_v11(region.truth)


@pytest.mark.parametrize("seed", [1, 2, 8])
def test_truth_equals_oracle_seeds(tmp_path, seed):
    """Other seeds: other register dialects, other people; with and without the register."""
    result = generate_region(tmp_path, patients=1200, seed=seed, as_of=AS_OF)
    assert run_oracle(result.extract, result.reference, AS_OF) == read_truth(result.truth)
    assert run_oracle(result.extract, result.reference, AS_OF, registry=False) == read_truth_v11(result.truth)
    (result.extract / "registry.csv").unlink()  # a run without the register finds the v1.1 part
    assert run_oracle(result.extract, result.reference, AS_OF) == read_truth_v11(result.truth)


def test_truth_equals_oracle_real_reference_parquet_and_odd_as_of(tmp_path, nsi_dir):
    """Real F002/F008/F010/V021, one file as Parquet (no malformed lines there), as_of with seconds."""
    as_of = datetime(2026, 2, 28, 17, 59, 59)
    result = generate_region(tmp_path, patients=2200, seed=11, as_of=as_of, reference_from=nsi_dir,
                             parquet=("slots", "registry"))
    assert (result.extract / "slots.parquet").exists() and not (result.extract / "slots.csv").exists()
    assert (result.extract / "registry.parquet").exists() and not (result.extract / "registry.csv").exists()
    truth = read_truth(result.truth)
    assert not any(r.startswith(("slots.csv:", "registry")) for c, r, *_ in truth if c == "ROW.MALFORMED")
    assert run_oracle(result.extract, result.reference, as_of) == truth
    assert run_oracle(result.extract, result.reference, as_of, registry=False) == read_truth_v11(result.truth)
    for name in ("F002.xml", "F008.xml", "F010.xml", "V021.xml"):
        assert (result.reference / name).read_bytes() == (nsi_dir / name).read_bytes()


def test_clean_region_has_no_findings(clean_region):
    assert read_truth(clean_region.truth) == set()
    assert run_oracle(clean_region.extract, clean_region.reference, datetime(2026, 3, 2, 8, 0)) == set()


def test_oracle_sees_a_changed_record(clean_region, tmp_path):
    """The comparison can fail: one patient's sex changed in a copy of the clean region is found."""
    extract = tmp_path / "extract"
    extract.mkdir()
    for f in clean_region.extract.iterdir():
        (extract / f.name).write_bytes(f.read_bytes())
    lines = (extract / "patients.csv").read_bytes().split(b"\n")
    fields = lines[1].split(b";")
    fields[5] = b"3"
    lines[1] = b";".join(fields)
    (extract / "patients.csv").write_bytes(b"\n".join(lines))
    found = run_oracle(extract, clean_region.reference, datetime(2026, 3, 2, 8, 0))
    assert {(c, r) for c, r, *_ in found} == {("PAT.SEX.INVALID", fields[0].decode())}


def test_oracle_quarantine(tmp_path):
    path = tmp_path / "slots.csv"
    path.write_bytes("slot_id,mo_code\n1,a\n2,\"b\n3,c,d\n1,z\n4,\"e\"x\n".encode())
    kept, malformed, dups = read_file(path)
    assert [r["slot_id"] for r in kept] == ["1"] and malformed == [3, 4, 6]
    assert dups == {"1": {"slot_id": "1", "mo_code": "a"}}


def _digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_by_seed(tmp_path):
    a = generate_region(tmp_path / "a", patients=1200, seed=21, as_of=AS_OF)
    b = generate_region(tmp_path / "b", patients=1200, seed=21, as_of=AS_OF)
    c = generate_region(tmp_path / "c", patients=1200, seed=22, as_of=AS_OF)
    files_a = _digest(a.out)
    assert len(files_a) == 12 and files_a == _digest(b.out)
    assert _digest(c.out)["extract/patients.csv"] != files_a["extract/patients.csv"]


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_region(tmp_path, patients=9, seed=1, as_of=AS_OF)
    with pytest.raises(ValueError):
        generate_region(tmp_path, patients=10, seed=1, as_of=AS_OF, parquet=("doctors",))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("key", ["3-2500", "5-2000"])
def test_without_registry_the_files_of_before(tmp_path, key):
    """registry=False writes byte for byte what the generator wrote before the register existed
    (its randomness is a stream of its own); truth.csv has the same rows, nothing suggested."""
    saved = json.loads((Path(__file__).parent / "data" / "v11_digests.json").read_text())
    seed, n = (int(x) for x in key.split("-"))
    result = generate_region(tmp_path, patients=n, seed=seed, as_of=datetime(2026, 11, 25, 23, 0),
                             defects=seed != 5, registry=False)
    expected = saved["regions"][key]
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(expected)
    for rel, digest in expected.items():
        data = (tmp_path / rel).read_bytes()
        if rel == "truth.csv":
            rows = truth_rows(tmp_path / rel)
            assert all(r["suggested_value"] == "" and r["v11_mo_code"] == r["mo_code"] and r["registry_only"] == "0"
                       for r in rows)
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(
                [TRUTH_HEADER[:3]] + [[r["check_code"], r["record_id"], r["mo_code"]] for r in rows])
            data = out.getvalue().encode()
        assert _sha(data) == digest, rel


# --- dense regions (defect_rate) -------------------------------------------------------------------

def test_default_rate_is_the_region_of_before(tmp_path):
    """defect_rate=None (the default, passed or not) writes byte for byte the files of before the
    option existed (digests taken at commit 4bf667a)."""
    saved = json.loads((Path(__file__).parent / "data" / "default_digests.json").read_text())["regions"]["21-1200"]
    implicit = generate_region(tmp_path / "a", patients=1200, seed=21, as_of=AS_OF)
    explicit = generate_region(tmp_path / "b", patients=1200, seed=21, as_of=AS_OF, defect_rate=None)
    files = _digest(implicit.out)
    assert files == _digest(explicit.out)
    assert {rel: _sha(data) for rel, data in files.items()} == saved


@pytest.mark.parametrize("seed,registry", [(6, True), (9, False)])
def test_dense_truth_equals_oracle(tmp_path, seed, registry):
    """defect_rate=0.5: about 3,000 patients in all and 0.5 findings per patient, spread over every
    code, and the truth still equals the oracle's reading."""
    result = generate_region(tmp_path, patients=3000, seed=seed, as_of=AS_OF, defect_rate=0.5, registry=registry)
    truth = read_truth(result.truth)
    counts = Counter(code for code, *_ in truth)
    assert set(counts) == set(CODES) | (set(REG_CODES) if registry else set())
    assert max(counts.values()) < 0.1 * len(truth)  # not one check's findings
    assert 2250 <= result.rows["patients"] <= 3300  # "about": small regions have more slots per patient
    assert 0.45 <= len(truth) / result.rows["patients"] <= 0.56
    assert run_oracle(result.extract, result.reference, AS_OF) == truth
    if registry:
        assert run_oracle(result.extract, result.reference, AS_OF, registry=False) == read_truth_v11(result.truth)


def test_dense_deterministic_and_denser(tmp_path):
    a = generate_region(tmp_path / "a", patients=3000, seed=4, as_of=AS_OF, defect_rate=0.3)
    b = generate_region(tmp_path / "b", patients=3000, seed=4, as_of=AS_OF, defect_rate=0.3)
    c = generate_region(tmp_path / "c", patients=3000, seed=4, as_of=AS_OF, defect_rate=0.8)
    assert _digest(a.out) == _digest(b.out)
    rate = lambda r: sum(r.truth_counts.values()) / r.rows["patients"]  # noqa: E731
    assert 0.27 <= rate(a) <= 0.36 and 0.7 <= rate(c) <= 0.9


def test_dense_rejects_bad_rates(tmp_path):
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError):
            generate_region(tmp_path, patients=1000, seed=1, as_of=AS_OF, defect_rate=bad)
    with pytest.raises(ValueError):
        generate_region(tmp_path, patients=1000, seed=1, as_of=AS_OF, defect_rate=0.5, defects=False)
