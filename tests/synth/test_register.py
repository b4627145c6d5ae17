"""registry.csv as the generator writes it: dialects that vary by seed, realistic register data, the
links it makes (every clean patient by ENP; every tier in a region with defects), and the oracle's
own primitives of the v1.2 contract (dl1, near dates, norm)."""
from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date, datetime
from xml.etree import ElementTree

import pytest

from flows.extract.contract import REGISTRY
from flows.synth import generate_region
from tests.synth.conftest import AS_OF
from tests.synth.oracle import dl1, link_patients, near_dates, norm, pdate, read_file

COLUMNS = ("enp", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils", "smo_code",
           "policy_begin", "policy_end", "death_date", "attach_mo_code", "attach_date")


def _sniff(data: bytes) -> tuple[str, bool, str, list[str]]:
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        data.decode("utf-8")
        enc = "utf-8"
    except UnicodeDecodeError:
        enc = "cp1251"
    head = data.split(b"\n", 1)[0].decode(enc).lstrip("\ufeff")
    delim = ";" if head.count(";") > head.count(",") else ","
    return enc, bom, delim, next(csv.reader([head], delimiter=delim))


@pytest.fixture(scope="module")
def dialects(tmp_path_factory):
    out = []
    for seed in range(14):
        path = tmp_path_factory.mktemp(f"d{seed}")
        generate_region(path, patients=60, seed=seed, as_of=AS_OF, defects=False)
        out.append((seed, path / "extract" / "registry.csv"))
    return out


def test_register_dialect_varies_by_seed(dialects):
    seen = Counter()
    for seed, path in dialects:
        data = path.read_bytes()
        enc, bom, delim, header = _sniff(data)
        seen[enc, bom] += 1
        seen[delim] += 1
        # every contract column exactly once, under its own name or an FFOMS element name, any case
        names = {c: {n.lower() for n in REGISTRY.names_for(c)} for c in COLUMNS}
        mapped = [next(c for c in COLUMNS if h.strip().lower() in names[c]) for h in header]
        assert sorted(mapped) == sorted(COLUMNS), (seed, header)
        ffoms = any(h.lower() != c for h, c in zip(header, mapped))
        seen["ffoms" if ffoms else "contract"] += 1
        seen["reordered" if tuple(mapped) != COLUMNS else "ordered"] += 1
        for h in header:
            seen[h] += 1
        if enc == "cp1251":
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
    for key in (("utf-8", True), ("utf-8", False), ("cp1251", False), ";", ",", "ffoms", "contract", "reordered"):
        assert seen[key], (key, seen)
    assert not seen["cp1251", True]  # a BOM only on UTF-8
    lowered = {h.lower() for h in seen if isinstance(h, str)}
    assert {"ss", "snils"} <= lowered and ({"lpu", "code_mo"} & lowered) and ({"lpudt", "date_attach"} & lowered)
    assert any(h.isupper() and len(h) > 1 for h in seen if isinstance(h, str))
    assert any(h[:1].isupper() and h[1:].islower() for h in seen if isinstance(h, str) and len(h) > 2)


def test_register_looks_like_a_register(clean_region):
    rows, malformed, dups = read_file(clean_region.extract / "registry.csv")
    assert not malformed and not dups
    patients, _, _ = read_file(clean_region.extract / "patients.csv")
    policies, _, _ = read_file(clean_region.extract / "policies.csv")
    assert len(rows) > len(patients)  # the whole region: extra insured persons who are nobody's patients
    mine = {p["enp"] for p in policies}
    assert sum(r["enp"] not in mine for r in rows) >= len(patients) // 20
    names = [r[c] for r in rows for c in ("last_name", "first_name", "middle_name")]
    assert not any(re.search("[а-яё]", n) for n in names)  # upper case
    assert any("Ё" in n for n in names) and any("ё" in p["first_name"] or "ё" in p["last_name"] for p in patients)
    by_enp = {r["enp"]: r for r in rows}
    yo = [(p, by_enp[pol["enp"]]) for p in patients for pol in policies
          if pol["patient_id"] == p["patient_id"] and pol["enp"] in by_enp and "ё" in p["last_name"]]
    assert any("Ё" not in r["last_name"] for _, r in yo)  # Е for Ё, inconsistently
    assert {r["sex"] for r in rows} == {"1", "2"}
    births = [r["birth_date"] for r in rows]
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d", b) for b in births) and any(re.fullmatch(r"\d\d\.\d\d\.\d{4}", b) for b in births)
    assert any(pdate(b) is None for b in births)  # a few that do not parse
    snils = [r["snils"] for r in rows]
    assert any(re.fullmatch(r"\d{11}", s) for s in snils) and any(re.fullmatch(r"\d{3}-\d{3}-\d{3} \d\d", s) for s in snils)
    assert "" in snils
    f002 = {ic.findtext("smocod") for ic in ElementTree.parse(clean_region.reference / "F002.xml").getroot().iter("insCompany")}
    assert {r["smo_code"] for r in rows} <= f002
    assert any(r["attach_mo_code"] == "" for r in rows)  # not attached
    D = date(2026, 3, 2)
    assert any(pdate(r["death_date"]) is not None and pdate(r["death_date"]) <= D for r in rows)
    assert any(pdate(r["policy_end"]) is not None and pdate(r["policy_end"]) < D for r in rows)


def test_every_clean_patient_links_by_enp(clean_region):
    reg, _, _ = read_file(clean_region.extract / "registry.csv")
    patients, _, _ = read_file(clean_region.extract / "patients.csv")
    policies, _, _ = read_file(clean_region.extract / "policies.csv")
    D = date(2026, 3, 2)

    def active(r):
        b, e = pdate(r["date_begin"]), pdate(r["date_end"])
        return b is not None and b <= D and (r["date_end"] == "" or (e is not None and e >= D))

    links = link_patients(patients, policies, reg, active)
    assert len(links) == len(patients) and {tier for _, tier in links.values()} == {1}
    assert len({r["enp"] for r, _ in links.values()}) == len(patients)


def test_every_tier_links_patients(region):
    reg, _, _ = read_file(region.extract / "registry.csv")
    patients, _, _ = read_file(region.extract / "patients.csv")
    policies, _, _ = read_file(region.extract / "policies.csv")
    D = AS_OF.date()

    def active(r):
        b, e = pdate(r["date_begin"]), pdate(r["date_end"])
        return b is not None and b <= D and (r["date_end"] == "" or (e is not None and e >= D))

    tiers = Counter(tier for _, tier in link_patients(patients, policies, reg, active).values())
    assert set(tiers) == {1, 2, 3, 4} and min(tiers.values()) >= 5, tiers


def test_oracle_primitives():
    """The oracle's own reading of the v1.2 terms, on the contract's edges."""
    assert dl1("ИВАНОВ", "ИВАНОВ") and dl1("ИВАНОВ", "ИВАНОВА") and dl1("ИВАНОВ", "ИВНОВ")
    assert dl1("ИВАНОВ", "ИВАНЫВ") and dl1("ИВАНОВ", "ИВНАОВ") and dl1("", "А")
    assert not dl1("ИВАНОВ", "ИВНАВО") and not dl1("ИВАНОВ", "ИВАНОВСКИЙ") and not dl1("АБВ", "ВБА")
    assert near_dates(date(1985, 3, 14), date(1985, 3, 15)) and near_dates(date(1985, 3, 4), date(1985, 4, 3))
    assert near_dates(date(1985, 3, 14), date(1958, 3, 14)) and near_dates(date(1985, 3, 14), date(1986, 3, 14))
    assert not near_dates(date(1985, 3, 14), date(1985, 3, 14)) and not near_dates(date(1985, 3, 14), date(1987, 3, 15))
    assert not near_dates(date(1985, 3, 14), date(1986, 3, 15))
    assert norm(" пётр  ивanов ") == "ПЕТР ИВANОВ"
    assert norm("Римский - Корсаков") == norm("РИМСКИЙ-  КОРСАКОВ") == "РИМСКИЙ-КОРСАКОВ"
    assert norm("АННА\u00a0МАРИЯ") != norm("АННА МАРИЯ") and norm("А\tБ") == "А\tБ"
