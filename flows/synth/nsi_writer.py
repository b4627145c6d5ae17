"""Synthetic FFOMS classifiers (F002, F003, F008, F010, V021) in the official XML layouts.

Windows-1251 with the XML declaration, element names and nesting as in the published files, so
the same loaders read the real and the synthetic ones. Only the rows a synthetic region needs
are written; codes are chosen so a region generated against the real classifiers behaves the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

# (KOD_TF, KOD_OKATO, SUBNAME, OKRUG, DATEBEG, DATEEND): the central regions and a few others as
# published in F010, including its versioned duplicates (03, 75).
F010_ROWS = (
    ("03", "81000", "Республика Бурятия", "7", "01.01.2011", "02.11.2018"),
    ("03", "81000", "Республика Бурятия", "8", "03.11.2018", ""),
    ("31", "14000", "Белгородская область", "1", "01.01.2011", ""),
    ("32", "15000", "Брянская область", "1", "01.01.2011", ""),
    ("33", "17000", "Владимирская область", "1", "01.01.2011", ""),
    ("36", "20000", "Воронежская область", "1", "01.01.2011", ""),
    ("37", "24000", "Ивановская область", "1", "01.01.2011", ""),
    ("40", "29000", "Калужская область", "1", "01.01.2011", ""),
    ("44", "34000", "Костромская область", "1", "01.01.2011", ""),
    ("46", "38000", "Курская область", "1", "01.01.2011", ""),
    ("47", "41000", "Ленинградская область", "2", "01.01.2011", ""),
    ("48", "42000", "Липецкая область", "1", "01.01.2011", ""),
    ("50", "46000", "Московская область", "1", "01.01.2011", ""),
    ("57", "54000", "Орловская область", "1", "01.01.2011", ""),
    ("62", "61000", "Рязанская область", "1", "01.01.2011", ""),
    ("67", "66000", "Смоленская область", "1", "01.01.2011", ""),
    ("68", "68000", "Тамбовская область", "1", "01.01.2011", ""),
    ("69", "28000", "Тверская область", "1", "01.01.2011", ""),
    ("71", "70000", "Тульская область", "1", "01.01.2011", ""),
    ("75", "76000", "Забайкальский край", "7", "01.01.2011", "02.11.2018"),
    ("75", "76000", "Забайкальский край", "8", "03.11.2018", ""),
    ("76", "78000", "Ярославская область", "1", "01.01.2011", ""),
    ("77", "45000", "г. Москва", "1", "01.01.2011", ""),
    ("78", "40000", "г. Санкт-Петербург", "2", "01.01.2011", ""),
)

# V021 specialties the generator uses: (IDSPEC, SPECNAME, POSTNAME, IDPOST_MZ).
SPECIALTIES = (
    ("2", "Акушерство и гинекология", "врач-акушер-гинеколог", "13"),
    ("8", "Гастроэнтерология", "врач-гастроэнтеролог", "19"),
    ("17", "Дерматовенерология", "врач-дерматовенеролог", "24"),
    ("24", "Инфекционные болезни", "врач-инфекционист", "33"),
    ("25", "Кардиология", "врач-кардиолог", "34"),
    ("35", "Неврология", "врач-невролог", "45"),
    ("38", "Нефрология", "врач-нефролог", "48"),
    ("39", "Общая врачебная практика (семейная медицина)", "врач общей практики (семейный врач)", "49"),
    ("45", "Оториноларингология", "врач-оториноларинголог", "53"),
    ("46", "Офтальмология", "врач-офтальмолог", "54"),
    ("49", "Педиатрия", "врач-педиатр", "58"),
    ("55", "Пульмонология", "врач-пульмонолог", "90"),
    ("59", "Ревматология", "врач-ревматолог", "93"),
    ("69", "Стоматология общей практики", "врач-стоматолог", "100"),
    ("76", "Терапия", "врач-терапевт", "109"),
    ("79", "Травматология и ортопедия", "врач-травматолог-ортопед", "114"),
    ("84", "Урология", "врач-уролог", "117"),
    ("90", "Хирургия", "врач-хирург", "122"),
    ("92", "Эндокринология", "врач-эндокринолог", "125"),
)
# Specialties whose only V021 rows ended on 31.10.2019 (as in the published V021).
ENDED_SPECIALTIES = (
    ("42", "Организация здравоохранения и общественное здоровье"),
    ("100", "Сестринское дело"),
    ("284", "Бактериология"),
)

_INSURER_BRANDS = ("РЕСО-МЕД", "МАКС-М", "МЕДСТРАХ", "СОГАЗ-МЕД", "КАПИТАЛ МС", "ИНГОССТРАХ-М",
                   "ИНКО-МЕД", "АЛЬФАСТРАХОВАНИЕ-ОМС")


@dataclass(frozen=True)
class Insurer:
    smocod: str
    tf_okato: str
    name: str
    periods: tuple[tuple[str, str], ...]  # (d_begin, d_end) as DD.MM.YYYY, d_end may be ""


@dataclass(frozen=True)
class MedCompany:
    mcod: str
    tf_okato: str
    full_name: str
    short_name: str
    e_mail: str
    address: str
    periods: tuple[tuple[str, str], ...]  # medInclude (d_begin, d_end); may be empty
    head: tuple[str, str, str] = ("", "", "")
    extra: dict = field(default_factory=dict)


def ddmmyyyy(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def region_row(region: str) -> tuple[str, ...]:
    for row in F010_ROWS:
        if row[0] == region and row[5] == "":
            return row
    raise ValueError(f"region {region!r} is not in the generator's F010 table; pass reference_from "
                     "with a real F010.xml")


def neighbour_region(region: str) -> str:
    """A region people of `region` commonly move to or are insured in: Moscow, or Moscow oblast."""
    return "77" if region != "77" else "50"


def synthetic_insurers(region: str, as_of: date) -> tuple[Insurer, ...]:
    """Five insurers in the region (one with a closed then a reopened period), one excluded, two
    in the neighbour region."""
    okato = region_row(region)[1]
    nb = neighbour_region(region)
    nb_okato = region_row(nb)[1]
    excluded_end = ddmmyyyy(date(as_of.year - 3, 12, 31))
    ins = [
        Insurer(region + "005", okato, _INSURER_BRANDS[0], (("25.05.2011", ""),)),
        Insurer(region + "006", okato, _INSURER_BRANDS[1], (("08.08.2011", ""),)),
        Insurer(region + "012", okato, _INSURER_BRANDS[2], (("01.01.2011", "31.12.2015"), ("01.01.2016", ""))),
        Insurer(region + "046", okato, _INSURER_BRANDS[3], (("08.08.2011", ""),)),
        Insurer(region + "051", okato, _INSURER_BRANDS[4], (("06.08.2013", ""),)),
        Insurer(region + "003", okato, _INSURER_BRANDS[5], (("01.01.2011", excluded_end),)),
        Insurer(nb + "008", nb_okato, _INSURER_BRANDS[0], (("01.01.2011", ""),)),
        Insurer(nb + "016", nb_okato, _INSURER_BRANDS[6], (("01.01.2011", ""),)),
    ]
    return tuple(ins)


# --- XML rendering -------------------------------------------------------------------------------

def _node(tag: str, value, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, list):  # children: list of (tag, value)
        lines = [f"{pad}<{tag}>"]
        for child_tag, child_value in value:
            lines.extend(_node(child_tag, child_value, depth + 1))
        lines.append(f"{pad}</{tag}>")
        return lines
    text = "" if value is None else str(value)
    return [f"{pad}<{tag}/>"] if text == "" else [f"{pad}<{tag}>{escape(text)}</{tag}>"]


def _write_packet(path: Path, children: list[tuple[str, object]], declared: str = "windows-1251") -> None:
    lines = [f'<?xml version="1.0" encoding="{declared}"?>'] + _node("packet", children, 0)
    Path(path).write_bytes(("\n".join(lines) + "\n").encode("cp1251"))


def _zglv(kind: str, version: str, published: str) -> tuple[str, object]:
    return ("zglv", [("type", kind), ("version", version), ("date", published)])


def write_f002(path: Path, insurers: tuple[Insurer, ...], published: str) -> None:
    companies = []
    for k, ins in enumerate(insurers):
        body = [
            ("tf_okato", ins.tf_okato), ("smocod", ins.smocod),
            ("nam_smop", f'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "СТРАХОВАЯ МЕДИЦИНСКАЯ КОМПАНИЯ {ins.name}"'),
            ("nam_smok", f'ООО "СМК {ins.name}"'),
            ("inn", f"77{k:02d}{(7 * k + 3) % 10}30351"[:10]), ("Ogrn", f"10277390{k:05d}"[:13]),
            ("KPP", f"7705010{k:02d}"[:9]),
            ("jurAddress", [("index_j", "115184"), ("addr_j", f"Г. МОСКВА, УЛ. МАЛАЯ ОРДЫНКА, ДОМ {10 + k}")]),
            ("pstAddress", [("index_f", "115184"), ("addr_f", f"Г. МОСКВА, УЛ. МАЛАЯ ОРДЫНКА, ДОМ {10 + k}")]),
            ("okopf", "12300"), ("fam_ruk", "ПЕТРОВ"), ("im_ruk", "ИГОРЬ"), ("ot_ruk", "СЕРГЕЕВИЧ"),
            ("phone", f"8-495-2765{k:03d}"), ("fax", ""), ("hot_line", "8-800-5553322"),
            ("e_mail", f"oms{ins.smocod}@insurer.example"), ("www", ""),
            ("licenziy", [("n_doc", f"ОС-{3230 + k}-01"), ("d_start", "28.02.2019"),
                          ("date_e", "31.12.2099"), ("d_term", "")]),
            ("org", "2"),
        ]
        body += [("insInclude", [("d_begin", b), ("d_end", e), ("name_e", ""), ("Nal_p", "2")])
                 for b, e in ins.periods]
        body += [("d_edit", "28.07.2020")]
        companies.append(("insCompany", body))
    _write_packet(path, [("version", "1.0.1"), ("date", published)] + companies, declared="Windows-1251")


def write_f003(path: Path, mos: list[MedCompany], published: str) -> None:
    companies = []
    for k, mo in enumerate(mos):
        fam, im, ot = mo.head
        body = [
            ("tf_okato", mo.tf_okato), ("mcod", mo.mcod), ("nam_mop", mo.full_name), ("nam_mok", mo.short_name),
            ("inn", f"50{k:08d}"), ("Ogrn", f"10250{k:08d}"), ("KPP", f"50{k:04d}001"[:9]),
            ("jurAddress", [("index_j", f"14{k % 10000:04d}"), ("addr_j", mo.address)]),
            ("okopf", "75203"), ("vedpri", "1"), ("org", "1"),
            ("fam_ruk", fam), ("im_ruk", im), ("ot_ruk", ot),
            ("phone", f"8-496-{k % 1000:03d}-{(k * 37) % 100:02d}-{(k * 11) % 100:02d}"), ("fax", ""),
            ("e_mail", mo.e_mail), ("www", ""),
        ]
        body += [("medInclude", [("d_begin", b), ("d_end", e)]) for b, e in mo.periods]
        companies.append(("medCompany", body))
    _write_packet(path, [("version", "1.0"), ("date", published)] + companies)


def write_f008(path: Path) -> None:
    rows = (
        ("1", "Полис ОМС старого образца", "01.01.2011"),
        ("2", "Временное свидетельство, подтверждающее оформление полиса обязательного медицинского страхования", "01.01.2011"),
        ("3", "Полис ОМС единого образца", "01.01.2011"),
        ("4", "Состояние на учёте без полиса ОМС", "01.01.2014"),
        ("5", "Состояние на учёте без временного свидетельства при приёме заявления в иную организацию", "01.07.2014"),
    )
    zaps = [("zap", [("IDDOC", c), ("DOCNAME", n), ("DATEBEG", b), ("DATEEND", "")]) for c, n, b in rows]
    _write_packet(path, [_zglv("TipOMS", "2.0", "15.12.2017")] + zaps)


def write_f010(path: Path) -> None:
    zaps = [("zap", [("KOD_TF", tf), ("KOD_OKATO", ok), ("SUBNAME", name), ("OKRUG", okrug),
                     ("DATEBEG", b), ("DATEEND", e)]) for tf, ok, name, okrug, b, e in F010_ROWS]
    _write_packet(path, [_zglv("Subekti", "2.4", "14.02.2023")] + zaps)


def write_v021(path: Path) -> None:
    zaps = []
    for code, name, post, idpost in SPECIALTIES:
        zaps.append(("zap", [("IDSPEC", code), ("SPECNAME", name), ("POSTNAME", ""), ("IDPOST_MZ", ""),
                             ("DATEBEG", "28.11.2015"), ("DATEEND", "31.10.2019")]))
        zaps.append(("zap", [("IDSPEC", code), ("SPECNAME", name), ("POSTNAME", post), ("IDPOST_MZ", idpost),
                             ("DATEBEG", "01.11.2019"), ("DATEEND", "")]))
    for code, name in ENDED_SPECIALTIES:
        zaps.append(("zap", [("IDSPEC", code), ("SPECNAME", name), ("POSTNAME", ""), ("IDPOST_MZ", ""),
                             ("DATEBEG", "28.11.2015"), ("DATEEND", "31.10.2019")]))
    zaps.sort(key=lambda z: int(z[1][0][1]))
    _write_packet(path, [_zglv("MedSpec", "4.5", "26.05.2020")] + zaps)
