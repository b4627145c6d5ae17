"""Synthetic classifiers are well-formed Windows-1251 XML in the official FFOMS layouts."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

import pytest
from defusedxml import ElementTree

NAMES = ("F002.xml", "F003.xml", "F008.xml", "F010.xml", "V021.xml")
F003_COMPANY = ["tf_okato", "mcod", "nam_mop", "nam_mok", "inn", "Ogrn", "KPP", "jurAddress", "okopf", "vedpri",
                "org", "fam_ruk", "im_ruk", "ot_ruk", "phone", "fax", "e_mail", "www"]


def _d(text):
    return datetime.strptime(text, "%d.%m.%Y").date() if text else None


@pytest.mark.parametrize("name", NAMES)
def test_cp1251_with_declaration_and_well_formed(clean_region, name):
    data = (clean_region.reference / name).read_bytes()
    assert data.lower().startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    text = data.decode("cp1251")
    assert any("А" <= ch <= "я" for ch in text)
    root = ElementTree.fromstring(data)
    assert root.tag == "packet"


def test_f003_layout_and_registry(clean_region):
    root = ElementTree.parse(str(clean_region.reference / "F003.xml")).getroot()
    assert [c.tag for c in root][:2] == ["version", "date"]
    companies = root.findall("medCompany")
    D = date(2026, 3, 2)
    excluded, emails = [], []
    for mc in companies:
        tags = [c.tag for c in mc]
        assert tags[: len(F003_COMPANY)] == F003_COMPANY and set(tags[len(F003_COMPANY):]) <= {"medInclude"}
        assert [c.tag for c in mc.find("jurAddress")] == ["index_j", "addr_j"]
        periods = [(_d(p.findtext("d_begin")), _d(p.findtext("d_end"))) for p in mc.findall("medInclude")]
        if all(e is not None and e < D for _, e in periods):
            excluded.append(mc.findtext("mcod"))
        emails.append(mc.findtext("e_mail"))
        assert len(mc.findtext("mcod")) == 6
    assert 2 <= len(excluded) < len(companies) / 2
    assert all("@" in e for e in emails)
    assert sum(m.findtext("mcod").startswith("50") for m in companies) >= len(companies) - 2


def test_f002_f008_f010_v021_contents(clean_region):
    ref = clean_region.reference
    D = date(2026, 3, 2)
    ins = ElementTree.parse(str(ref / "F002.xml")).getroot().findall("insCompany")
    region = [i for i in ins if i.findtext("tf_okato") == "46000"]
    gone = [i for i in region if all(_d(p.findtext("d_end")) and _d(p.findtext("d_end")) < D
                                     for p in i.findall("insInclude"))]
    assert len(region) >= 5 and len(gone) == 1
    assert all(i.find("insInclude/d_begin") is not None for i in ins)
    f008 = [z.findtext("IDDOC") for z in ElementTree.parse(str(ref / "F008.xml")).getroot().iter("zap")]
    assert f008 == ["1", "2", "3", "4", "5"]
    f010 = defaultdict(list)
    for z in ElementTree.parse(str(ref / "F010.xml")).getroot().iter("zap"):
        f010[z.findtext("KOD_TF")].append((z.findtext("KOD_OKATO"), z.findtext("DATEEND")))
    assert f010["50"] == [("46000", None)] or f010["50"] == [("46000", "")]
    assert any(len(v) > 1 for v in f010.values())  # a versioned duplicate
    v021 = defaultdict(list)
    for z in ElementTree.parse(str(ref / "V021.xml")).getroot().iter("zap"):
        v021[z.findtext("IDSPEC")].append(_d(z.findtext("DATEEND")))
    ended = [k for k, ends in v021.items() if all(e is not None and e < D for e in ends)]
    assert ended and len(v021) >= 10


@pytest.mark.parametrize("name, record, key", [("F002.xml", "insCompany", "smocod"), ("F008.xml", "zap", "IDDOC"),
                                               ("F010.xml", "zap", "KOD_TF"), ("V021.xml", "zap", "IDSPEC")])
def test_same_element_names_as_the_published_files(clean_region, nsi_dir, name, record, key):
    real = ElementTree.parse(str(nsi_dir / name)).getroot()
    ours = ElementTree.parse(str(clean_region.reference / name)).getroot()

    def tags(root):
        return {c.tag for c in root}, {c.tag for r in root.iter(record) for c in r}

    (real_top, real_rec), (our_top, our_rec) = tags(real), tags(ours)
    assert our_top == real_top and our_rec <= real_rec and key in our_rec
