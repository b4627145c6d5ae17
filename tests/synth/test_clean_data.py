"""Clean data is valid by independent checks (the oracle's plain-Python SNILS / ENP / name rules)."""
from __future__ import annotations

import csv
import re

import pytest

from tests.synth.oracle import NAME, luhn_ok, pdate, snils_digits, snils_state


@pytest.mark.parametrize("snils, state", [
    ("112-233-445 95", "valid"), ("123-456-789 64", "valid"), ("402-102-488 00", "valid"),
    ("141-141-702 00", "valid"), ("642-185-924 00", "valid"), ("11223344595", "valid"),
    ("112-233-445-95", "valid"), ("001-001-998 00", "checksum"), ("112-233-445 96", "checksum"),
    ("112 233 445 95", "format"), ("112-233-445 95 ", "format"), ("112-2З3-445 95", "format"), ("", "missing"),
])
def test_independent_snils_rule(snils, state):
    assert snils_state(snils) == state


@pytest.mark.parametrize("enp, ok", [("1234567890123452", True), ("7788899730000765", True),
                                     ("1234567890123456", False)])
def test_independent_enp_rule(enp, ok):
    assert luhn_ok(enp) is ok


def _records(path, encoding, delimiter):
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def test_clean_patients_valid_and_unique(clean_region):
    patients = _records(clean_region.extract / "patients.csv", "cp1251", ";")
    assert len(patients) == 2000
    assert all(snils_state(p["snils"]) == "valid" for p in patients)
    digits = [snils_digits(p["snils"]) for p in patients]
    assert len(set(digits)) == len(digits)
    assert any(re.fullmatch(r"[0-9]{11}", p["snils"]) for p in patients)  # some bare 11 digits
    assert sum(re.fullmatch(r"[0-9]{3}-[0-9]{3}-[0-9]{3} [0-9]{2}", p["snils"]) is not None
               for p in patients) > 0.8 * len(patients)
    assert all(NAME.fullmatch(p["last_name"]) and NAME.fullmatch(p["first_name"]) for p in patients)
    assert all(p["middle_name"] == "" or NAME.fullmatch(p["middle_name"]) for p in patients)
    assert all(p["sex"] in ("1", "2") and pdate(p["birth_date"]) is not None for p in patients)
    # patronymics agree with sex
    male = [p["middle_name"] for p in patients if p["sex"] == "1" and p["middle_name"]]
    female = [p["middle_name"] for p in patients if p["sex"] == "2" and p["middle_name"]]
    assert all(m.endswith(("ич",)) for m in male) and all(f.endswith(("на",)) for f in female)


def test_clean_policies_valid(clean_region):
    policies = _records(clean_region.extract / "policies.csv", "utf-8-sig", ",")
    enps = [p["enp"] for p in policies if p["enp"]]
    assert enps and all(re.fullmatch(r"[0-9]{16}", e) and luhn_ok(e) for e in enps)
    assert all(p["enp"] for p in policies if p["policy_type"] == "3")
    assert all(re.fullmatch(r"[0-9]{9}", p["policy_number"]) for p in policies if p["policy_type"] == "2")
    assert all(p["policy_series"] and p["policy_number"] for p in policies if p["policy_type"] == "1")
    by_patient = {}
    for p in policies:
        by_patient.setdefault(p["patient_id"], []).append(p)
    assert any(len(v) == 2 for v in by_patient.values())  # histories: an old expired policy, then a current one


def test_clean_slots_realistic(clean_region):
    slots = _records(clean_region.extract / "slots.csv", "utf-8", ",")
    patients = {p["patient_id"] for p in _records(clean_region.extract / "patients.csv", "cp1251", ";")}
    booked = [s for s in slots if s["status"] == "booked"]
    assert booked and all(s["patient_id"] in patients for s in booked)
    assert {s["status"] for s in slots} == {"free", "booked", "blocked"}
    assert {s["doctor_status"] for s in slots} == {"active", "on_leave", "dismissed"}
    assert all(s["mo_code"].startswith("50") and len(s["mo_code"]) == 6 for s in slots)
    assert all(snils_state(s["doctor_snils"]) == "valid" for s in slots)
