"""generate → run at several seeds: findings equal the generator's ground truth exactly
(precision and recall 1.0 per code), and routing and suggested values match; a region run without
its registry.csv finds exactly the v1.1 part of the truth, routed as v1.1, suggesting nothing."""
from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from checks import catalogue
from flows import pipeline, warehouse
from flows.synth import generate_region

AS_OF = datetime(2026, 11, 25, 23, 0)


def run_region(tmp_path, patients: int, seed: int, without_registry: bool = False,
               defect_rate: float | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    region = tmp_path / f"r{seed}"
    generate_region(region, patients=patients, seed=seed, region="50", as_of=AS_OF, defect_rate=defect_rate)
    if without_registry:
        (region / "extract" / "registry.csv").unlink()
    prepared = pipeline.prepare(region / "extract", region / "reference")
    assert prepared.as_of == AS_OF  # taken from the manifest
    with warehouse.connect(tmp_path / f"w{seed}.duckdb") as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        assert pipeline.reconciliation(con, run_id)["reconciled"].all()
        findings = pipeline.run_checks(con, run_id, prepared.as_of)
    truth = pl.read_csv(region / "truth.csv", infer_schema=False).with_columns(pl.all().fill_null(""))
    if without_registry:  # the findings of a run without the register: v1.1 ones, v1.1 routing
        truth = truth.filter(pl.col("registry_only") == "0").with_columns(
            pl.col("v11_mo_code").alias("mo_code"), pl.lit("").alias("suggested_value"))
    truth = truth.with_columns(pl.col("mo_code").replace("", None))
    return findings, truth


def compare(findings: pl.DataFrame, truth: pl.DataFrame) -> None:
    if "suggested_value" not in findings.columns:
        findings = findings.with_columns(pl.lit("").alias("suggested_value"))
    got = findings.select("check_code", "record_id", "mo_code",
                          pl.col("suggested_value").cast(pl.String).fill_null(""))
    missed = truth.join(got, on=["check_code", "record_id"], how="anti")
    extra = got.join(truth, on=["check_code", "record_id"], how="anti")
    per_code = []
    for code in sorted(set(truth["check_code"]) | set(got["check_code"])):
        tp = got.filter(pl.col("check_code") == code).join(
            truth.filter(pl.col("check_code") == code), on="record_id", how="semi").height
        n_got = got.filter(pl.col("check_code") == code).height
        n_true = truth.filter(pl.col("check_code") == code).height
        if tp != n_got or tp != n_true:
            per_code.append(f"{code}: found {n_got}, true {n_true}, matched {tp}")
    assert not per_code, ("precision/recall below 1.0:\n" + "\n".join(per_code)
                          + f"\nmissed e.g. {missed.head(5).rows()}\nextra e.g. {extra.head(5).rows()}")
    routed = truth.join(got, on=["check_code", "record_id"], how="inner", suffix="_found")
    wrong = routed.filter(~pl.col("mo_code").eq_missing(pl.col("mo_code_found")))
    assert wrong.height == 0, f"routing differs for {wrong.height} findings, e.g. {wrong.head(5).rows()}"
    wrong = routed.filter(pl.col("suggested_value").fill_null("") != pl.col("suggested_value_found"))
    assert wrong.height == 0, (f"suggested values differ for {wrong.height} findings, e.g. "
                               f"{wrong.select('check_code', 'record_id', 'suggested_value', 'suggested_value_found').head(5).rows()}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_findings_equal_ground_truth(tmp_path, seed):
    findings, truth = run_region(tmp_path, patients=3_000, seed=seed)
    # every code of one night (feed health compares nights: tests/e2e/test_feed_nights.py)
    one_night = {c.code for c in catalogue.CHECKS if c.engine is not catalogue.Engine.GX}
    assert set(truth["check_code"]) == one_night, "generator must inject every code"
    assert truth.filter(pl.col("suggested_value") != "").height > 0
    assert truth.group_by("check_code").len()["len"].min() >= 5
    compare(findings, truth)


def test_without_registry_the_v11_findings(tmp_path):
    """The same region with registry.csv deleted: exactly the truth rows with registry_only 0,
    routed to v11_mo_code, nothing suggested."""
    findings, truth = run_region(tmp_path, patients=3_000, seed=2, without_registry=True)
    assert not truth["check_code"].str.starts_with("REG.").any()
    compare(findings, truth)
    if "suggested_value" in findings.columns:
        assert (findings["suggested_value"].fill_null("") == "").all()


@pytest.mark.slow
def test_findings_equal_ground_truth_50k(tmp_path):
    findings, truth = run_region(tmp_path, patients=50_000, seed=11)
    compare(findings, truth)


def test_dense_findings_equal_ground_truth(tmp_path):
    """A dense region (defect_rate 0.5, the benchmark's dense profile): about 0.5 findings per
    patient over every code, and Talon finds exactly the truth."""
    findings, truth = run_region(tmp_path, patients=4_000, seed=12, defect_rate=0.5)
    patients = (tmp_path / "r12" / "extract" / "patients.csv").read_bytes().count(b"\n") - 1  # data lines
    assert 0.45 <= findings.height / patients <= 0.56
    one_night = {c.code for c in catalogue.CHECKS if c.engine is not catalogue.Engine.GX}
    assert set(truth["check_code"]) == one_night
    compare(findings, truth)


def test_clean_region_has_no_findings(tmp_path):
    region = tmp_path / "clean"
    generate_region(region, patients=2_000, seed=5, region="50", as_of=AS_OF, defects=False)
    prepared = pipeline.prepare(region / "extract", region / "reference")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        findings = pipeline.run_checks(con, run_id, prepared.as_of)
    assert findings.height == 0, findings.group_by("check_code").len().rows()


def test_links_equal_the_oracles(tmp_path):
    """reg_links (patient, person, tier) equal the naive reading of the four tiers (tests/synth/oracle.py)."""
    from tests.synth.oracle import link_patients, pdate, read_file

    region = tmp_path / "r"
    generate_region(region, patients=3_000, seed=4, region="50", as_of=AS_OF)
    prepared = pipeline.prepare(region / "extract", region / "reference")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        pipeline.run_checks(con, run_id, prepared.as_of)
        got = set(con.execute("SELECT patient_id, enp, tier FROM reg_links WHERE run_id = ?", [run_id]).fetchall())
    extract = region / "extract"
    patients, policies, reg = (read_file(extract / f"{n}.csv")[0] for n in ("patients", "policies", "registry"))
    D = AS_OF.date()

    def active(r):
        b, e = pdate(r["date_begin"]), pdate(r["date_end"])
        return b is not None and b <= D and (r["date_end"] == "" or (e is not None and e >= D))

    expected = {(pid, r["enp"], tier) for pid, (r, tier) in link_patients(patients, policies, reg, active).items()}
    assert {t for *_, t in expected} == {1, 2, 3, 4}
    assert got == expected, (sorted(got - expected)[:5], sorted(expected - got)[:5])
