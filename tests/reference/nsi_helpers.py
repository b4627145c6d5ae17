"""Builders of small synthetic classifier XML (official layouts) for the NSI tests."""
from __future__ import annotations

DECL = '<?xml version="1.0" encoding="windows-1251"?>\n'


def medcompany(mcod: str, periods=(), *, e_mail: str | None = "mo@example.ru",
               name: str = "ГБУЗ Поликлиника", tf_okato: str = "46000") -> str:
    """One <medCompany> in the synthetic F003 layout; periods = [(d_begin, d_end), ...]."""
    mail = "" if e_mail is None else f"<e_mail>{e_mail}</e_mail>"
    incl = "".join(f"<medInclude><d_begin>{b}</d_begin><d_end>{e}</d_end></medInclude>"
                   if e is not None else f"<medInclude><d_begin>{b}</d_begin><d_end/></medInclude>"
                   for b, e in periods)
    return (f"<medCompany><tf_okato>{tf_okato}</tf_okato><mcod>{mcod}</mcod>"
            f"<nam_mop>{name} полное</nam_mop><nam_mok>{name}</nam_mok>{mail}"
            f"<phone>+7 495 000-00-00</phone>{incl}</medCompany>")


def f003_text(*companies: str) -> str:
    return (DECL + "<packet><version>1.0</version><date>01.11.2026</date>\n"
            + "\n".join(companies) + "\n</packet>\n")


def zap_text(body: str) -> str:
    """A zap-style classifier (F008/F010/V021) around the given <zap> elements."""
    return (DECL + "<packet><zglv><type>T</type><version>1</version><date>01.01.2020</date>"
            "</zglv>\n" + body + "\n</packet>\n")


def f008_zap(iddoc: str, begin: str = "01.01.2011", end: str = "", name: str = "Полис") -> str:
    return (f"<zap><IDDOC>{iddoc}</IDDOC><DOCNAME>{name}</DOCNAME>"
            f"<DATEBEG>{begin}</DATEBEG><DATEEND>{end}</DATEEND></zap>")
