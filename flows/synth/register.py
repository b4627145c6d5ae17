"""The insured-persons register (registry.csv, catalogue v1.2) of a synthetic region, and the part of
the ground truth that follows mechanically from it.

The register is the whole region's: one row per clean patient (the person behind the patient's
current policy, attached where the patient is), one per person made for a defect case, and extra
persons who are nobody's patients (some deceased, some with a closed policy, some not attached).
It is written the way a TFOMS writes it: names in upper case with Ё written as Е in about half
of the rows, dates in both contract formats, SNILS as 11 digits or XXX-XXX-XXX YY, and the file's
dialect (encoding, BOM, delimiter, header spelling) chosen by the seed.

Every random choice here is drawn from a generator of its own (`reg_rng`), so a region generated
without a register has exactly the files it had before the register existed.

Clean patients link by their policy's ENP (tier 1) and raise nothing: a region with a register
writes the person's ENP into the current policy of type 1 and 2 too (v1.1 allows an ENP there).

`finish_truth` adds to the findings the cases stated: the suggested value of each (catalogue v1.2,
"Suggested values on v1.1 codes" and the REG codes) from the register row of the person the
patient links to (the link each case states), the v1.2 routing change, and the v1.1 routing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from flows.synth import names as nm
from flows.synth.dialects import Dialect
from flows.synth.identifiers import enp_text, luhn_valid, snils_check, snils_text
from flows.synth.region import REGISTRY_COLUMNS, World, blank
from flows.synth.textfmt import date_text

# Surnames only register cases use: at Damerau-Levenshtein distance >= 3 (after upper case and
# Ё -> Е) from every surname of names.SURNAMES (both genders) and from each other, so that a clean
# or v1.1 person is never a near-match candidate of a case patient, even after a one-letter typo.
REG_SURNAMES = (
    "Шереметьев", "Голицын", "Оболенский", "Трубецкой", "Волконский", "Бестужев", "Нарышкин", "Апраксин",
    "Шуйский", "Долгоруков", "Салтыков", "Воротынский", "Мещерский", "Ухтомский", "Ромодановский",
    "Хованский", "Куракин", "Лопухин", "Милославский", "Строганов", "Татищев", "Шаховской", "Барятинский",
    "Вяземский", "Потёмкин", "Разумовский", "Кутузов", "Аракчеев", "Сперанский", "Карамзин", "Батюшков",
    "Грибоедов", "Лермонтов", "Тютчев", "Некрасов", "Тургенев", "Достоевский", "Куприн", "Чаадаев",
    "Огарёв", "Герцен", "Веневитинов", "Кольцов", "Плещеев", "Анненский", "Хлебников", "Маяковский",
    "Ахматов", "Пастернак", "Гумилёв", "Северянин", "Шмелёв", "Зайчиков", "Булгаков", "Платонов",
    "Шолохов", "Паустовский", "Чуковский", "Драгунский", "Успенский", "Катаев", "Распутин", "Астафьев",
    "Вампилов", "Твардовский", "Исаковский", "Шпаликов", "Хвостенко", "Звягинцев", "Жеребцов",
    "Пятибратов", "Шестаков", "Мухортов", "Тряпицын", "Скоропадский", "Гетманов", "Дорошенко",
    "Самойлович", "Апостолов", "Полуботок", "Хмельницкий", "Выговский", "Брюховецкий",
    "Римский-Корсаков", "Бонч-Бруевич",
)
REG_SURNAMES_F = tuple(nm.feminine_surname(s) for s in REG_SURNAMES)
# A region generated in blocks: block b > 0 gives the case surnames a second part of its own (a
# word per digit of b - 1 in base len(BLOCK_WORDS); the words at least three letters apart), so no
# case person of one block is a name-tier candidate of another block's case patient.
BLOCK_WORDS = ("Гирей", "Задунайский", "Рымникский", "Таврический", "Смоленский", "Италийский", "Крымский",
               "Эриванский", "Забалканский", "Варшавский", "Амурский", "Сахалинский")


def reg_surnames(block: int = 0) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The case surnames of a block (male, female): REG_SURNAMES in block 0."""
    if block == 0:
        return REG_SURNAMES, REG_SURNAMES_F
    digits, b = [], block - 1
    while True:
        digits.append(BLOCK_WORDS[b % len(BLOCK_WORDS)])
        b //= len(BLOCK_WORDS)
        if b == 0:
            break
    male = tuple(s + "-" + "-".join(reversed(digits)) for s in REG_SURNAMES)
    return male, tuple(nm.feminine_surname(s) for s in male)

# FFOMS element names a register header may use instead of the contract's (any letter case).
FFOMS_NAMES = {"enp": ("ENP",), "last_name": ("FAM",), "first_name": ("IM",), "middle_name": ("OT",),
               "birth_date": ("DR",), "sex": ("W",), "snils": ("SS", "SNILS"), "smo_code": ("SMO",),
               "policy_begin": ("DBEG",), "policy_end": ("DEND",), "death_date": ("death_date",),
               "attach_mo_code": ("LPU", "CODE_MO"), "attach_date": ("LPUDT", "DATE_ATTACH")}

ISO_RX, DMY_RX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", r"^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$"


# --- rendering register values ---------------------------------------------------------------------

def reg_name(names: pl.Series, rng: np.random.Generator, yo: np.ndarray | None = None) -> pl.Series:
    """Upper case; Ё written as Е where yo is False (default: about half of the rows)."""
    yo = rng.random(len(names)) < 0.5 if yo is None else np.broadcast_to(np.asarray(yo, dtype=bool), (len(names),))
    up = names.str.to_uppercase()
    return up.zip_with(pl.Series(yo), up.str.replace_all("Ё", "Е", literal=True))


def reg_snils(snils: pl.Series, rng: np.random.Generator, style=None) -> pl.Series:
    """A valid SNILS (any accepted form) re-rendered as 11 digits (style 1) or XXX-XXX-XXX YY (0)."""
    digits = snils.str.replace_all("[- ]", "")
    style = (rng.random(len(snils)) < 0.4) if style is None else np.broadcast_to(np.asarray(style) == 1, (len(snils),))
    grouped = (digits.str.slice(0, 3) + "-" + digits.str.slice(3, 3) + "-" + digits.str.slice(6, 3) + " "
               + digits.str.slice(9, 2))
    return digits.zip_with(pl.Series(style), grouped)


def parse_date(e: pl.Expr) -> pl.Expr:
    """A contract date (YYYY-MM-DD or DD.MM.YYYY, exactly) as a Date; anything else null."""
    return (pl.when(e.str.contains(ISO_RX)).then(e.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
            .when(e.str.contains(DMY_RX)).then(e.str.strptime(pl.Date, "%d.%m.%Y", strict=False)))


def restyle_date(text: pl.Series, rng: np.random.Generator, p_dmy: float = 0.7) -> pl.Series:
    """Dates that parse re-rendered in a random contract format; others kept as written."""
    d = pl.DataFrame({"t": text}).select(parse_date(pl.col("t"))).to_series()
    style = (rng.random(len(text)) < p_dmy).astype(np.int64)
    days = d.cast(pl.Int32).fill_null(0).to_numpy()
    out = date_text(days, style)
    return out.zip_with(d.is_not_null(), text)


def known_live(facts, mo) -> np.ndarray:
    """MO codes F003 knows and has not excluded on D."""
    mo = np.asarray(mo, dtype=object).astype(str)
    return np.array([m in facts.mos and not facts.mos[m][1] for m in mo], dtype=bool)


# --- register rows -----------------------------------------------------------------------------------

def person_rows(inj, p) -> pl.DataFrame:
    """The register rows of template persons (Injector.people): what the clinic's records say when
    they are right, attached where the patient is when that MO is known and not excluded (else to a
    clean MO: the register knows better)."""
    rng = inj.reg_rng
    k = len(p.pid)
    mo = np.asarray(p.mo, dtype=object).astype(str)
    fallback = inj.clean_mos[rng.integers(0, len(inj.clean_mos), k)].astype(str)
    attach = np.where(known_live(inj.facts, mo), mo, fallback)
    return pl.DataFrame({
        "enp": p.pol["enp"], "last_name": reg_name(p.pat["last_name"], rng),
        "first_name": reg_name(p.pat["first_name"], rng), "middle_name": reg_name(p.pat["middle_name"], rng),
        "birth_date": date_text(p.birth, (rng.random(k) < 0.7).astype(np.int64)), "sex": p.pat["sex"],
        "snils": reg_snils(p.pat["snils"], rng), "smo_code": p.pol["smo_code"],
        "policy_begin": restyle_date(p.pol["date_begin"], rng), "policy_end": blank(k), "death_date": blank(k),
        "attach_mo_code": pl.Series(attach, dtype=pl.String),
        "attach_date": restyle_date(p.att["attach_date"], rng),
    })


def clean_register(world: World, tables: dict[str, pl.DataFrame], rng: np.random.Generator
                   ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The clean patients' register rows (tier 1 links, nothing to find) and extra persons; the
    current policy of type 1 / 2 gets the person's ENP."""
    ctx = world.ctx
    pat = tables["patients"]
    n = len(pat)
    person = pl.DataFrame({"patient_id": pat["patient_id"], "_penp": world.person_enp})
    pol = tables["policies"]
    # current policy = the last of each patient (policies are written per patient, oldest first)
    pol = pol.with_columns(pl.int_range(pl.len()).alias("_i"))
    cur = pol.group_by("patient_id", maintain_order=True).agg(pl.col("_i").last())
    pol = (pol.join(cur.with_columns(pl.lit(True).alias("_cur")), on=["patient_id", "_i"], how="left")
           .join(person, on="patient_id", how="left"))
    pol = pol.with_columns(pl.when(pl.col("_cur").fill_null(False) & (pl.col("enp") == ""))
                           .then(pl.col("_penp")).otherwise(pl.col("enp")).alias("enp"))
    cur_pol = pol.filter(pl.col("_cur").fill_null(False)).select("patient_id", "enp", "smo_code", "date_begin",
                                                                  "date_end")
    tables = dict(tables, policies=pol.drop("_i", "_cur", "_penp"))
    att = tables["attachments"]
    cur_att = att.group_by("patient_id", maintain_order=True).agg(pl.col("mo_code", "attach_date").last())
    rows = (pat.join(cur_pol, on="patient_id", how="left", maintain_order="left")
            .join(cur_att, on="patient_id", how="left", maintain_order="left"))
    assert len(rows) == n and rows["enp"].null_count() == 0 and rows["mo_code"].null_count() == 0
    births = pl.DataFrame({"t": rows["birth_date"]}).select(parse_date(pl.col("t"))).to_series()
    reg = pl.DataFrame({
        "enp": rows["enp"], "last_name": reg_name(rows["last_name"], rng),
        "first_name": reg_name(rows["first_name"], rng), "middle_name": reg_name(rows["middle_name"], rng),
        "birth_date": date_text(births.cast(pl.Int32).to_numpy(), (rng.random(n) < 0.7).astype(np.int64)),
        "sex": rows["sex"], "snils": reg_snils(rows["snils"], rng), "smo_code": rows["smo_code"],
        "policy_begin": restyle_date(rows["date_begin"], rng), "policy_end": restyle_date(rows["date_end"], rng),
        "death_date": blank(n), "attach_mo_code": rows["mo_code"],
        "attach_date": restyle_date(rows["attach_date"], rng),
    })
    return tables, pl.concat([reg, extra_persons(world, rng, max(5, n // 10))])


def extra_persons(world: World, rng: np.random.Generator, m: int, enp: pl.Series | None = None,
                  snils: pl.Series | None = None) -> pl.DataFrame:
    """Insured persons of the region who are not the clinics' patients (the register is the whole
    region's): some not attached or attached elsewhere, some deceased, some with a closed policy,
    a few with a birth date that does not parse. Identifiers from ranges of the pools nobody else
    uses (fork: no random draw)."""
    ctx = world.ctx
    d0 = ctx.d0
    sex = rng.integers(1, 3, m)
    last, first, middle = nm.person_names(rng, sex)
    middle = middle.zip_with(pl.Series(rng.random(m) >= 0.02), blank(m))
    birth = d0 - rng.integers(30, 95 * 365, m)
    if enp is None:
        if ctx.extra_enp is None:
            ctx.extra_enp = ctx.enp.fork(9 * 10 ** 12)
        enp = enp_text(ctx.okato[:2], ctx.extra_enp.take(m))
    if snils is None:
        if ctx.extra_snils is None:
            ctx.extra_snils = ctx.snils.fork(800_000_000)
        snils = snils_text(ctx.extra_snils.take(m), (rng.random(m) < 0.4).astype(np.int64))
    snils = snils.zip_with(pl.Series(rng.random(m) >= 0.05), blank(m))  # some without SNILS
    u = rng.random(m)
    deceased = u < 0.04
    closed = (u >= 0.04) & (u < 0.09)
    begin = d0 - (rng.random(m) * np.minimum(d0 - birth, 5000)).astype(np.int64)
    death = d0 - rng.integers(0, 3000, m)
    end = np.where(deceased, death, np.where(closed, d0 - rng.integers(1, 2000, m), 0))
    style = (rng.random(m) < 0.7).astype(np.int64)
    mos = world.mos
    pool = list(mos.clean) + list(mos.excluded) + list(mos.foreign)
    w = rng.random(m)
    attach = np.where(w < 0.8, np.asarray(mos.clean, dtype=object)[rng.integers(0, len(mos.clean), m)],
                      np.where(w < 0.95, "", np.asarray(pool, dtype=object)[rng.integers(0, len(pool), m)]))
    birth_text = date_text(birth, style)
    odd = rng.random(m) < 0.01  # a register birth date that does not parse (at least one)
    odd[:1] = True
    birth_text = birth_text.zip_with(pl.Series(~odd), pl.Series(np.where(rng.random(m) < 0.5, "00.00.", "1.1.")
                                                                .astype(object) + (1930 + birth % 60).astype(str)))
    return pl.DataFrame({
        "enp": enp, "last_name": reg_name(last, rng), "first_name": reg_name(first, rng),
        "middle_name": reg_name(middle, rng), "birth_date": birth_text, "sex": pl.Series(sex).cast(pl.String),
        "snils": snils, "smo_code": nm.pick(rng, tuple(world.insurers), m),
        "policy_begin": date_text(begin, style),
        "policy_end": date_text(end, style).zip_with(pl.Series(deceased | closed), blank(m)),
        "death_date": date_text(death, 1 - style).zip_with(pl.Series(deceased), blank(m)),
        "attach_mo_code": pl.Series(attach.astype(str), dtype=pl.String),
        "attach_date": date_text(begin + rng.integers(0, 30, m), style).zip_with(pl.Series(attach != ""), blank(m)),
    })


# --- the file's dialect ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegisterDialect:
    dialect: Dialect
    header: tuple[str, ...]  # the names written in the header, in file order
    columns: tuple[str, ...]  # the contract columns in file order


def choose_dialect(rng: np.random.Generator) -> RegisterDialect:
    """cp1251 or UTF-8 (with or without BOM), `;` or `,`, contract or FFOMS names (any case), and
    sometimes a column order of its own."""
    enc = int(rng.integers(0, 3))  # 0 cp1251, 1 utf-8, 2 utf-8 with BOM
    delim = ";" if rng.random() < 0.6 else ","
    quote_all = bool(rng.random() < 0.2)
    ffoms = bool(rng.random() < 0.5)
    columns = list(REGISTRY_COLUMNS)
    if rng.random() < 0.3:
        columns = [columns[i] for i in rng.permutation(len(columns))]
    header = []
    for c in columns:
        name = c
        if ffoms:
            choices = FFOMS_NAMES[c]
            name = choices[int(rng.integers(0, len(choices)))]
            case = int(rng.integers(0, 4))  # as written, upper, lower, capitalised
            name = (name, name.upper(), name.lower(), name.capitalize())[case]
        header.append(name)
    d = Dialect("cp1251" if enc == 0 else "utf-8", enc == 2, delim, quote_all, tuple(columns))
    return RegisterDialect(d, tuple(header), tuple(columns))


# --- the ground truth's register part -----------------------------------------------------------------

PATIENT_PREFIXES = ("PAT.", "REG.PERSON.", "REG.PATIENT.", "REG.NAME.", "REG.BIRTHDATE.", "REG.SNILS.")
POLICY_PREFIXES = ("POL.", "REG.POLICY.")
SUGGESTS = {
    "PAT.SNILS.MISSING": "snils", "PAT.SNILS.FORMAT": "snils", "PAT.SNILS.CHECKSUM": "snils",
    "REG.SNILS.MISMATCH": "snils", "PAT.NAME.INVALID": "name", "REG.NAME.MISMATCH": "name",
    "PAT.BIRTHDATE.INVALID": "birth_date", "REG.BIRTHDATE.MISMATCH": "birth_date",
    "POL.ENP.MISSING": "enp", "POL.ENP.FORMAT": "enp", "POL.ENP.CHECKSUM": "enp", "REG.POLICY.ENP": "enp",
    "PAT.POLICY.NONE": "enp_if_insured", "PAT.ATTACHMENT.NONE": "attach_mo_code",
    "ATT.MO.UNKNOWN": "attach_mo_code", "ATT.MO.EXCLUDED": "attach_mo_code",
    "REG.ATTACHMENT.MISMATCH": "attach_mo_code", "REG.PERSON.DECEASED": "death_date",
    "REG.PATIENT.DUPLICATE": "other_patients", "REG.POLICY.SMO": "smo_code", "REG.POLICY.CLOSED": "policy_end",
}


def valid_enp(e: pl.Series) -> np.ndarray:
    ok = e.str.contains(r"^[0-9]{16}$").fill_null(False).to_numpy()
    out = np.zeros(len(e), dtype=bool)
    if ok.any():
        out[ok] = luhn_valid(e.filter(pl.Series(ok)).cast(pl.Int64).to_numpy())
    return out


def snils_form(s: pl.Series) -> pl.Series:
    """A valid SNILS as XXX-XXX-XXX YY; '' when the text is not a valid SNILS."""
    digits = s.str.replace_all("[- ]", "")
    shape = s.str.contains(r"^([0-9]{11}|[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2})$").fill_null(False).to_numpy()
    body = np.where(shape, pl.Series(digits).str.slice(0, 9).cast(pl.Int64, strict=False).fill_null(0).to_numpy(), 0)
    check = np.where(shape, pl.Series(digits).str.slice(9, 2).cast(pl.Int64, strict=False).fill_null(-1).to_numpy(), -1)
    ok = shape & (body > 1_001_998) & (snils_check(body) == check)
    formatted = (digits.str.slice(0, 3) + "-" + digits.str.slice(3, 3) + "-" + digits.str.slice(6, 3) + " "
                 + digits.str.slice(9, 2))
    return formatted.zip_with(pl.Series(ok), blank(len(s)))


def register_persons(reg: pl.DataFrame, facts) -> pl.DataFrame:
    """Register persons (first non-quarantined row per enp text, the enp a valid ENP) with every
    value a suggestion or the routing change needs. reg is in file order, with _corrupt."""
    D = facts.D
    rows = reg.filter(pl.col("_corrupt").is_null()).unique("enp", keep="first", maintain_order=True)
    rows = rows.filter(pl.Series(valid_enp(rows["enp"])))
    dmy = lambda c: parse_date(pl.col(c)).dt.strftime("%d.%m.%Y").fill_null("")  # noqa: E731
    attach = rows["attach_mo_code"].to_numpy().astype(str)
    return rows.select(
        "enp", "attach_mo_code", "smo_code",
        pl.concat_str([pl.col("last_name"), pl.lit(" "), pl.col("first_name"),
                       pl.when(pl.col("middle_name") != "").then(pl.lit(" ") + pl.col("middle_name"))
                       .otherwise(pl.lit(""))]).alias("s_name"),
        dmy("birth_date").alias("s_birth_date"), snils_form(rows["snils"]).alias("s_snils"),
        dmy("policy_end").alias("s_policy_end"), dmy("death_date").alias("s_death_date"),
        (parse_date(pl.col("death_date")) <= pl.lit(D)).fill_null(False).alias("deceased"),
        (parse_date(pl.col("policy_end")) < pl.lit(D)).fill_null(False).alias("closed"),
        pl.Series("attach_live", known_live(facts, attach)),
    )


def finish_truth(truth: pl.DataFrame, links: pl.DataFrame, policies: pl.DataFrame, attachments: pl.DataFrame,
                 persons: pl.DataFrame) -> pl.DataFrame:
    """Truth rows (check_code, record_id, mo_code = v1.1 routing, registry_only) -> the truth columns
    with the suggested value and the v1.2 routing. links: (patient_id, enp) of every linked case
    patient (emitted, not quarantined); policies / attachments: (id, patient_id) of case records."""
    code = pl.col("check_code")
    is_pat = pl.any_horizontal(*(code.str.starts_with(p) for p in PATIENT_PREFIXES))
    is_pol = pl.any_horizontal(*(code.str.starts_with(p) for p in POLICY_PREFIXES))
    is_att = code.is_in(["ATT.MO.UNKNOWN", "ATT.MO.EXCLUDED"]) | code.str.starts_with("REG.ATTACHMENT.")
    dup = code == "ROW.DUPLICATE_ID"
    pol_map = policies.select(pl.col("policy_id").alias("_rid"), pl.col("patient_id").alias("_pol_pid"))
    att_map = attachments.select(pl.col("attachment_id").alias("_rid"), pl.col("patient_id").alias("_att_pid"))
    link_pids = links.select(pl.col("patient_id").alias("_rid"), pl.lit(True).alias("_is_patient"))
    t = (truth.with_columns(pl.col("record_id").alias("_rid"))
         .join(pol_map, on="_rid", how="left").join(att_map, on="_rid", how="left")
         .join(link_pids.unique("_rid"), on="_rid", how="left"))
    # whose finding: the patient (patient codes; a duplicate patient id), the policy's patient
    t = t.with_columns(
        pl.when(is_pat | (dup & pl.col("_is_patient").fill_null(False))).then(pl.col("record_id"))
        .when(is_pol | dup).then(pl.col("_pol_pid")).otherwise(None).alias("_pid"),
        pl.when(is_att).then(pl.col("_att_pid")).otherwise(None).alias("_apid"))
    t = t.with_columns(pl.coalesce("_pid", "_apid").alias("_who"))
    t = t.join(links.rename({"patient_id": "_who"}), on="_who", how="left").join(persons, on="enp", how="left")
    kind = code.replace_strict(SUGGESTS, default="")
    linked = pl.col("enp").is_not_null() & pl.col("s_name").is_not_null()
    sugg = (pl.when(~linked).then(pl.lit(""))
            .when(kind == "snils").then(pl.col("s_snils"))
            .when(kind == "name").then(pl.col("s_name"))
            .when(kind == "birth_date").then(pl.col("s_birth_date"))
            .when(kind == "enp").then(pl.col("enp"))
            .when(kind == "enp_if_insured").then(
                pl.when(pl.col("deceased") | pl.col("closed")).then(pl.lit("")).otherwise(pl.col("enp")))
            .when(kind == "attach_mo_code").then(pl.col("attach_mo_code"))
            .when(kind == "death_date").then(pl.col("s_death_date"))
            .when(kind == "smo_code").then(pl.col("smo_code"))
            .when(kind == "policy_end").then(pl.col("s_policy_end"))
            .otherwise(pl.lit("")))
    reroute = linked & pl.col("_pid").is_not_null() & (pl.col("mo_code") == "") & pl.col("attach_live")
    out = t.select(
        "check_code", "record_id",
        pl.when(reroute).then(pl.col("attach_mo_code")).otherwise(pl.col("mo_code")).alias("mo_code"),
        sugg.fill_null("").alias("suggested_value"), pl.col("mo_code").alias("v11_mo_code"), "registry_only",
        "enp", linked.alias("_linked"))
    return _same_clinic_others(out).drop("enp", "_linked")


def _same_clinic_others(truth: pl.DataFrame) -> pl.DataFrame:
    """REG.PATIENT.DUPLICATE's suggestion (other_patients): the other linked patients of the same
    person whose duplicate finding goes to the same clinic; the steward's list (mo_code '') names
    them all."""
    dup = truth.filter((pl.col("check_code") == "REG.PATIENT.DUPLICATE") & pl.col("_linked"))
    pairs = (dup.select("record_id", "enp", "mo_code")
             .join(dup.select(pl.col("record_id").alias("other"), "enp", pl.col("mo_code").alias("other_mo")),
                   on="enp")
             .filter((pl.col("other") != pl.col("record_id"))
                     & ((pl.col("mo_code") == "") | (pl.col("other_mo") == pl.col("mo_code"))))
             .sort("other").group_by("record_id").agg(pl.col("other").str.join(", ").alias("_same")))
    is_dup = pl.col("check_code") == "REG.PATIENT.DUPLICATE"
    return (truth.join(pairs, on="record_id", how="left")
            .with_columns(pl.when(is_dup).then(pl.col("_same").fill_null("")).otherwise(pl.col("suggested_value"))
                          .alias("suggested_value"))
            .drop("_same"))
