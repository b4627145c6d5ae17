"""What the generator needs to know about the reference folder it writes (or copies).

The ground truth depends on the classifiers: which insurers are out of the registry on D, which
specialties are valid on a slot's date, which KOD_TF an okato maps to. Reading the actual files
(synthetic or the real ones passed as reference_from) keeps the truth right for both.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from defusedxml import ElementTree


def _date(text: str | None) -> date | None:
    return datetime.strptime(text, "%d.%m.%Y").date() if text else None


def _valid_on(periods: list[tuple[date | None, date | None]], day: date) -> bool:
    """A reference code is valid on a day when any of its rows is (begin <= day <= end)."""
    return any((b is None or b <= day) and (e is None or e >= day) for b, e in periods)


def _excluded(periods: list[tuple[date | None, date | None]], day: date) -> bool:
    """Out of the registry: every inclusion period has a non-empty end before the day (vacuous if none)."""
    return all(e is not None and e < day for _, e in periods)


@dataclass
class Facts:
    D: date
    insurers: dict[str, tuple[str, bool]]  # smocod -> (tf_okato, excluded on D)
    mos: dict[str, tuple[str, bool]]  # mcod -> (tf_okato, excluded on D)
    policy_types: set[str]  # F008 IDDOC valid on D
    kod_tf: dict[str, str]  # okato -> KOD_TF, rows valid on D
    specialties: dict[str, list[tuple[date | None, date | None]]]  # IDSPEC -> validity rows

    def specialty_valid(self, code: str, day: date) -> bool:
        return code in self.specialties and _valid_on(self.specialties[code], day)

    def active_insurers(self, okato: str | None = None) -> list[str]:
        return sorted(s for s, (ok, ex) in self.insurers.items() if not ex and (okato is None or ok == okato))

    def excluded_insurers(self) -> list[str]:
        return sorted(s for s, (_, ex) in self.insurers.items() if ex)


def load_facts(reference: Path, D: date) -> Facts:
    reference = Path(reference)

    def root(name: str):
        return ElementTree.parse(str(reference / name)).getroot()

    insurers = {}
    for ic in root("F002.xml").iter("insCompany"):
        periods = [(_date(p.findtext("d_begin")), _date(p.findtext("d_end"))) for p in ic.findall("insInclude")]
        insurers[ic.findtext("smocod")] = (ic.findtext("tf_okato") or "", _excluded(periods, D))
    mos: dict[str, tuple[str, bool]] = {}
    mo_periods: dict[str, list] = {}
    mo_okato: dict[str, str] = {}
    for mc in root("F003.xml").iter("medCompany"):
        code = mc.findtext("mcod")
        mo_okato[code] = mc.findtext("tf_okato") or ""
        mo_periods.setdefault(code, []).extend(
            (_date(p.findtext("d_begin")), _date(p.findtext("d_end"))) for p in mc.findall("medInclude"))
    for code, periods in mo_periods.items():
        mos[code] = (mo_okato[code], _excluded(periods, D))
    types = {z.findtext("IDDOC") for z in root("F008.xml").iter("zap")
             if _valid_on([(_date(z.findtext("DATEBEG")), _date(z.findtext("DATEEND")))], D)}
    kod_tf: dict[str, str] = {}
    for z in root("F010.xml").iter("zap"):
        if _valid_on([(_date(z.findtext("DATEBEG")), _date(z.findtext("DATEEND")))], D):
            kod_tf[z.findtext("KOD_OKATO")] = z.findtext("KOD_TF")
    specialties: dict[str, list] = {}
    for z in root("V021.xml").iter("zap"):
        specialties.setdefault(z.findtext("IDSPEC"), []).append(
            (_date(z.findtext("DATEBEG")), _date(z.findtext("DATEEND"))))
    return Facts(D, insurers, mos, types, kod_tf, specialties)


def region_okato(reference: Path, region: str, D: date) -> str:
    """KOD_OKATO of a region (KOD_TF) in the F010 of a reference folder, rows valid on D."""
    found = {z.findtext("KOD_OKATO") for z in ElementTree.parse(str(Path(reference) / "F010.xml")).getroot().iter("zap")
             if z.findtext("KOD_TF") == region
             and _valid_on([(_date(z.findtext("DATEBEG")), _date(z.findtext("DATEEND")))], D)}
    if len(found) != 1:
        raise ValueError(f"region {region!r}: F010 has {len(found)} okato valid on {D}: {sorted(found)}")
    return found.pop()
