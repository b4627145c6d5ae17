"""The clean population of a synthetic region: MOs, patients, policies, attachments, doctors, slots.

Clean means Talon must find nothing in it: every identifier valid, one active policy and one active
attachment per patient, schedules without overlaps and with free slots ahead for every MO and
specialty. Realistic noise that the catalogue deliberately tolerates is included on purpose
(old expired policies with a departed insurer, detached attachments to excluded or vanished MOs
with an empty method or doctor, blocked schedules of doctors on leave, a policy whose okato is not
in F010, an MO whose inclusion ends exactly on D). tests/synth checks the clean base against an
independent reading of the catalogue: it must produce no finding.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import ceil

import numpy as np
import polars as pl

from flows.synth import names as nm
from flows.synth.facts import Facts
from flows.synth.identifiers import Pool, enp_pool, enp_text, snils_pool, snils_text
from flows.synth.nsi_writer import MedCompany, ddmmyyyy
from flows.synth.textfmt import date_text, epoch_day, epoch_second, ts_text

PATIENT_COLUMNS = ("patient_id", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils")
POLICY_COLUMNS = ("policy_id", "patient_id", "policy_type", "policy_series", "policy_number", "enp",
                  "smo_code", "okato", "date_begin", "date_end")
ATTACHMENT_COLUMNS = ("attachment_id", "patient_id", "mo_code", "attach_method", "attach_date",
                      "detach_date", "area_code", "doctor_snils")
SLOT_COLUMNS = ("slot_id", "mo_code", "doctor_id", "doctor_snils", "doctor_status", "specialty_code",
                "slot_start", "slot_end", "status", "patient_id", "updated_at")
# The insured-persons register (catalogue v1.2, optional fifth file): one row per insured person.
REGISTRY_COLUMNS = ("enp", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils", "smo_code",
                    "policy_begin", "policy_end", "death_date", "attach_mo_code", "attach_date")
COLUMNS = {"patients": PATIENT_COLUMNS, "policies": POLICY_COLUMNS,
           "attachments": ATTACHMENT_COLUMNS, "slots": SLOT_COLUMNS, "registry": REGISTRY_COLUMNS}
# Extra (ignored) columns some files carry, to exercise the contract's "extra columns" rule.
EXTRA_COLUMNS = {"attachments": ("area_name",), "slots": ("doctor_name",)}

CORE_SPECIALTIES = ("76", "49")  # every MO: therapy, paediatrics (district doctors)
OPTIONAL_SPECIALTIES = ("39", "35", "46", "45", "90", "2", "25", "92", "84", "17", "69", "79")
RESERVE_SPECIALTIES = ("59", "8", "38", "55", "24")  # never used by clean MOs: dedicated defect pairs
ENDED_SPECIALTIES = ("42", "100", "284")  # V021 rows all ended in 2019
UNKNOWN_SPECIALTIES = ("999", "076", "76 ")  # not V021 codes as exact text

NO_END = -10 ** 7  # epoch-day sentinel: no end date (real dates before 1970 are negative)
SLOT_WINDOW_DAYS = 21  # schedules cover D-21 .. D+21
PATIENT_ID0, POLICY_ID0, ATTACHMENT_ID0, SLOT_ID0, DOCTOR_ID0 = 10_000_001, 20_000_001, 30_000_001, 40_000_001, 7_000_001
DOCTOR_SNILS_START = 500_000_000  # doctors draw SNILS from a disjoint index range of the pool

# SNILS whose check sum is 100, 101 or 201 (check number 00); given to a few clean patients.
EDGE_SNILS_BODIES = (402102488, 141141702, 642185924)


@dataclass
class Ctx:
    """Generation context: the seeded random generator, as_of / D, the region, identifier pools."""
    rng: np.random.Generator
    as_of: datetime
    region: str
    okato: str  # the region's KOD_OKATO (F010)
    nb_region: str  # a neighbour region (KOD_TF) and its okato
    nb_okato: str
    facts: Facts | None = None
    block: int = 0  # the block of a region generated in blocks (register.reg_surnames)
    # the ranges of the pools the register's extra persons draw from (created on first use; a
    # region generated in blocks shares them, and the pools above, between its blocks)
    extra_enp: Pool | None = None
    extra_snils: Pool | None = None
    D: date = field(init=False)
    d0: int = field(init=False)  # D as epoch days
    t0: int = field(init=False)  # as_of as epoch seconds
    snils: Pool = field(init=False)
    doctor_snils: Pool = field(init=False)
    enp: Pool = field(init=False)

    def __post_init__(self):
        self.D = self.as_of.date()
        self.d0 = epoch_day(self.D)
        self.t0 = epoch_second(self.as_of)
        self.snils = snils_pool(self.rng, reserved=EDGE_SNILS_BODIES)
        self.doctor_snils = self.snils.fork(DOCTOR_SNILS_START)
        self.enp = enp_pool(self.rng)


def blank(n: int) -> pl.Series:
    return pl.repeat("", n, eager=True, dtype=pl.String)


def lookup(values, idx) -> pl.Series:
    """values[idx] as a polars String series (values: a short list of strings)."""
    return pl.Series(list(values), dtype=pl.String).gather(np.asarray(idx, dtype=np.int64))


def ids(start: int, n: int) -> pl.Series:
    return pl.Series(np.arange(start, start + n, dtype=np.int64)).cast(pl.String)


@dataclass
class MoRegistry:
    companies: list[MedCompany]
    clean: list[str]  # known, not excluded on D, region prefix: patients attach and doctors work here
    excluded: list[str]  # region prefix, out of the registry on D
    foreign: list[str]  # known MOs of the neighbour region
    unknown: list[str]  # region-prefixed codes absent from F003


@dataclass
class World:
    """The clean tables plus what the defect injector needs to build isolated cases."""
    ctx: Ctx
    mos: MoRegistry
    tables: dict[str, pl.DataFrame]
    extras: dict[str, pl.DataFrame]  # ignored extra columns, aligned row by row with tables
    pairs: pl.DataFrame  # clean (mo_code, specialty_code) with an active doctor and a free slot ahead
    bookable: pl.DataFrame  # clean patients: patient_id, mo_code (may be booked by case doctors)
    insurers: list[str]  # active insurers of the region
    next_ids: dict[str, int] = field(default_factory=dict)
    # the ENP of each clean patient (row order of patients): its current policy's, also where the
    # policy (type 1 or 2) does not carry it; a region with a register writes it there too
    person_enp: pl.Series | None = None


def mo_counts(n_patients: int) -> tuple[int, int]:
    """Clean and excluded MOs of a region of n_patients clean patients."""
    n_mo = max(6, ceil(n_patients / 4000))
    return n_mo, max(3, n_mo // 20)


def build_mos(ctx: Ctx, n_patients: int, counts: tuple[int, int] | None = None) -> MoRegistry:
    """MO registry (the synthetic F003): clean MOs, a few excluded, two of the neighbour region.
    counts: (clean, excluded) MOs instead of mo_counts(n_patients) (a region generated in blocks)."""
    rng, region, D = ctx.rng, ctx.region, ctx.D
    okato, nb, nb_okato = ctx.okato, ctx.nb_region, ctx.nb_okato
    n_mo, n_excl = counts or mo_counts(n_patients)
    numbers = np.sort(rng.choice(np.arange(101, 9900), n_mo + n_excl, replace=False))
    order = rng.permutation(len(numbers))
    clean_n, excl_n = numbers[order[:n_mo]], numbers[order[n_mo:]]
    companies: list[MedCompany] = []

    def company(code: str, tf_okato: str, k: int, periods) -> MedCompany:
        town = nm.TOWNS[k % len(nm.TOWNS)]
        kind = ("ГОРОДСКАЯ ПОЛИКЛИНИКА", "ЦЕНТРАЛЬНАЯ РАЙОННАЯ БОЛЬНИЦА", "ГОРОДСКАЯ БОЛЬНИЦА")[k % 3]
        number = 1 + k // len(nm.TOWNS)
        short = f'ГБУЗ "{town.upper()} {kind} № {number}"'
        full = f'ГОСУДАРСТВЕННОЕ БЮДЖЕТНОЕ УЧРЕЖДЕНИЕ ЗДРАВООХРАНЕНИЯ "{town.upper()} {kind} № {number}"'
        head = (nm.SURNAMES[(k * 7) % len(nm.SURNAMES)].upper(), nm.MALE_FIRST[k % len(nm.MALE_FIRST)].upper(),
                nm.PATRONYMIC_M[k % len(nm.PATRONYMIC_M)].upper())
        return MedCompany(code, tf_okato, full, short, f"mo{code}@zdrav{code[:2]}.ru",
                          f"{town.upper()}, УЛ. ЛЕНИНА, Д. {1 + k % 90}", tuple(periods), head)

    begin = "01.01.2011"
    clean = [region + f"{x:04d}" for x in clean_n]
    for k, code in enumerate(clean):
        if k == 1:  # closed once, re-included: not excluded
            periods = [(begin, "31.12.2015"), ("01.01.2016", "")]
        elif k == 2:  # leaves the registry today: d_end == D is not < D, so still included
            periods = [(begin, ddmmyyyy(D))]
        elif k == 3:  # leaves in half a year
            periods = [(begin, ddmmyyyy(D + timedelta(days=180)))]
        else:
            periods = [(f"01.0{1 + k % 9}.{2011 + k % 8}", "")]
        companies.append(company(code, okato, k, periods))
    excluded = [region + f"{x:04d}" for x in excl_n]
    for j, code in enumerate(excluded):
        if j == 0:
            periods = []  # no inclusion period at all: excluded (vacuously)
        elif j == 1:
            periods = [(begin, "31.12.2014"), ("01.01.2016", ddmmyyyy(D - timedelta(days=1)))]
        else:
            periods = [(begin, ddmmyyyy(D - timedelta(days=30 * j)))]
        companies.append(company(code, okato, n_mo + j, periods))
    foreign = [nb + f"{x:04d}" for x in (1101, 2202)]
    for j, code in enumerate(foreign):
        companies.append(company(code, nb_okato, n_mo + n_excl + j, [(begin, "")]))
    unknown = [region + f"{x}" for x in range(9901, 9921)]
    companies.sort(key=lambda c: c.mcod)
    return MoRegistry(companies, clean, excluded, foreign, unknown)


def _groups(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable order of items by group key, and per-group start / count in that order."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, starts, counts


def _pick_in_group(rng, order, starts, counts, group: np.ndarray) -> np.ndarray:
    """One random member (index into the original items) of each requested group (groups non-empty)."""
    assert (counts[group] > 0).all()
    return order[starts[group] + (rng.random(len(group)) * counts[group]).astype(np.int64)]


ENP_ERA = epoch_day(date(2011, 1, 1))


def build_clean(ctx: Ctx, mos: MoRegistry, n_patients: int, first_ids: dict[str, int] | None = None) -> World:
    """The clean population. first_ids: the first id of each kind (World.next_ids of the block before,
    in a region generated in blocks); default PATIENT_ID0, POLICY_ID0, ... Other keys are passed
    on in World.next_ids."""
    first_ids = first_ids or {}
    pid0, polid0 = first_ids.get("patients", PATIENT_ID0), first_ids.get("policies", POLICY_ID0)
    attid0, slotid0, docid0 = (first_ids.get("attachments", ATTACHMENT_ID0), first_ids.get("slots", SLOT_ID0),
                               first_ids.get("doctors", DOCTOR_ID0))
    rng, d0, t0, facts, okato, nb_okato = ctx.rng, ctx.d0, ctx.t0, ctx.facts, ctx.okato, ctx.nb_okato
    insurers = facts.active_insurers(okato)
    if not insurers:
        raise ValueError(f"F002 has no active insurer with tf_okato {okato}")
    nb_insurers = facts.active_insurers(nb_okato) or insurers
    gone_insurers = facts.excluded_insurers() or insurers
    n = n_patients
    n_mo = len(mos.clean)

    # --- patients -------------------------------------------------------------------------------
    sex = rng.integers(1, 3, n)
    child = rng.random(n) < 0.2
    age_days = np.where(child, rng.integers(30, 18 * 365, n), rng.integers(18 * 365, 92 * 365, n))
    if n >= 50:  # born on 01.01.1900 exactly: not before 1900-01-01, valid
        age_days[11] = d0 - epoch_day(date(1900, 1, 1))
        child[11] = False
    birth = d0 - age_days
    last, first, middle = nm.person_names(rng, sex)
    middle = middle.zip_with(pl.Series(rng.random(n) >= 0.01), blank(n))  # 1%: no patronymic
    style = np.where(rng.random(n) < 0.06, 1, np.where(rng.random(n) < 0.03, 2, 0))
    snils = snils_text(ctx.snils.take(n), style)
    if n >= 50 and ctx.block == 0:  # check sums 100, 101, 201 -> check number 00 (worked
        # examples of the catalogue); in the first block only (a SNILS twice is a duplicate)
        edge_rows = np.arange(len(EDGE_SNILS_BODIES)) * (n // 7) + 5
        snils = snils.scatter(edge_rows, snils_text(np.array(EDGE_SNILS_BODIES), 0))
    patient_id = ids(pid0, n)
    patients = pl.DataFrame({
        "patient_id": patient_id, "last_name": last, "first_name": first, "middle_name": middle,
        "birth_date": date_text(birth, 1), "sex": pl.Series(sex).cast(pl.String), "snils": snils,
    })

    # patients per MO (sizes vary); every MO has patients
    weights = rng.dirichlet(np.full(n_mo, 3.0))
    mo_idx = rng.choice(n_mo, n, p=weights)
    mo_idx[: min(n, n_mo)] = np.arange(min(n, n_mo))
    mo_codes = list(mos.clean)

    # --- doctors (loop over MOs and doctors only) ---------------------------------------------------
    attached = np.bincount(mo_idx, minlength=n_mo)
    d_mo, d_spec, d_first = [], [], []
    for m in range(n_mo):
        k_opt = int(rng.integers(1, 7))
        specs = list(CORE_SPECIALTIES) + [str(x) for x in rng.choice(OPTIONAL_SPECIALTIES, k_opt, replace=False)]
        extra = max(2, int(round(attached[m] / 700)) - len(specs))
        u = rng.random(extra)
        extra_spec = [("76" if x < 0.6 else "49" if x < 0.85 else str(rng.choice(specs))) for x in u]
        d_mo += [m] * (len(specs) + extra)
        d_spec += specs + extra_spec
        d_first += [True] * len(specs) + [False] * extra  # the first doctor of every specialty
    d_mo = np.asarray(d_mo)
    d_spec = np.asarray(d_spec)
    d_first = np.asarray(d_first)
    n_doc = len(d_mo)
    v = rng.random(n_doc)
    d_status = np.where(v < 0.06, 1, np.where(v < 0.11, 2, 0))  # 0 active, 1 on_leave, 2 dismissed
    extras = np.flatnonzero(~d_first)
    d_status[extras[:2]] = [1, 2]  # the tolerated statuses occur even in tiny regions
    d_status[d_first] = 0  # ... but never for the doctor that keeps a pair bookable
    statuses = ("active", "on_leave", "dismissed")
    doctor_id = ids(docid0, n_doc)
    d_snils = snils_text(ctx.doctor_snils.take(n_doc), np.where(rng.random(n_doc) < 0.3, 1, 0))
    d_last, d_first_name, d_middle = nm.person_names(rng, rng.integers(1, 3, n_doc))
    d_name = (pl.DataFrame({"l": d_last, "f": d_first_name, "m": d_middle, "r": rng.integers(1, 450, n_doc)})
              .select(pl.concat_str([pl.col("l"), pl.lit(" "), pl.col("f").str.slice(0, 1), pl.lit("."),
                                     pl.col("m").str.slice(0, 1), pl.lit("., каб. "), pl.col("r").cast(pl.String)]))
              .to_series())

    # --- policies -------------------------------------------------------------------------------
    u = rng.random(n)
    ptype = np.where(u < 0.04, 1, np.where(u < 0.10, 2, 3))
    ptype = np.where((ptype == 1) & (age_days < 2200), 3, ptype)
    begin_ago = np.where(ptype == 2, rng.integers(1, 41, n),
                         np.where(ptype == 1, rng.integers(2000, np.maximum(age_days, 2001) + 1),
                                  1 + (rng.random(n) * (np.minimum(age_days, 5500) - 1)).astype(np.int64)))
    begin = d0 - np.minimum(begin_ago, age_days - 1)
    end = np.where(ptype == 2, begin + 44, np.where(rng.random(n) < 0.05, d0 + rng.integers(0, 2000, n), NO_END))
    has_old = (begin - birth >= 90) & (rng.random(n) < 0.6)
    old_begin = birth + (rng.random(n) * (begin - birth - 60)).astype(np.int64)
    old_type = np.where((rng.random(n) < 0.5) | (old_begin < ENP_ERA), 1, 3)  # ENP policies since 2011
    w = rng.random(n)
    old_kind = np.where(w < 0.7, 0, np.where(w < 0.9, 1, 2))  # region / departed insurer / neighbour
    series_values = ("ЕА", "ЕВ", "ЕЕ", "МО", "5002", "5010")

    def policy_frame(rows: np.ndarray, seq: int, types: np.ndarray, b: np.ndarray, e: np.ndarray,
                     smo: pl.Series, ok: pl.Series, keep_enp: np.ndarray) -> pl.DataFrame:
        m = len(rows)
        t = pl.col("policy_type")
        return pl.DataFrame({
            "_p": rows, "_seq": np.full(m, seq, dtype=np.int8), "patient_id": patient_id.gather(rows),
            "policy_type": pl.Series(types).cast(pl.String), "_ser": nm.pick(rng, series_values, m),
            "_n1": rng.integers(100_000, 99_999_999, m), "_n2": rng.integers(100_000_000, 999_999_999, m),
            "_enp": enp_text(okato[:2], ctx.enp.take(m)), "_keep": keep_enp, "smo_code": smo, "okato": ok,
            "date_begin": date_text(b, 0), "_end": e,
        }).with_columns(
            pl.when(t == "1").then(pl.col("_ser")).otherwise(pl.lit("")).alias("policy_series"),
            pl.when(t == "1").then(pl.col("_n1").cast(pl.String))
            .when(t == "2").then(pl.col("_n2").cast(pl.String)).otherwise(pl.col("_enp")).alias("policy_number"),
            pl.when(pl.col("_keep")).then(pl.col("_enp")).otherwise(pl.lit("")).alias("enp"),
        )

    typo_okato = rng.random(n) < 0.002  # okato absent from F010: the region check does not apply
    assert okato[:4] + "1" not in facts.kod_tf
    cur = policy_frame(np.arange(n), 1, ptype, begin, end, nm.pick(rng, tuple(insurers), n),
                       lookup((okato, okato[:4] + "1"), typo_okato.astype(int)),
                       (ptype == 3) | ((ptype == 2) & (rng.random(n) < 0.5)))
    person_enp = cur["_enp"]
    oi = np.flatnonzero(has_old)
    kind = old_kind[oi]
    smo_pool = list(insurers) + list(gone_insurers) + list(nb_insurers)
    offsets = np.array([0, len(insurers), len(insurers) + len(gone_insurers)])
    sizes = np.array([len(insurers), len(gone_insurers), len(nb_insurers)])
    smo_idx = offsets[kind] + (rng.random(len(oi)) * sizes[kind]).astype(np.int64)
    old = policy_frame(oi, 0, old_type[oi], old_begin[oi], begin[oi] - 1, lookup(smo_pool, smo_idx),
                       lookup((okato, nb_okato), (kind == 2).astype(int)), old_type[oi] == 3)
    policies = pl.concat([old, cur]).sort(["_p", "_seq"], maintain_order=True)
    ends = policies["_end"].to_numpy()
    policies = policies.with_columns(
        ids(polid0, len(policies)).alias("policy_id"),
        date_text(np.where(ends == NO_END, 0, ends), 0).zip_with(pl.Series(ends != NO_END), blank(len(ends)))
        .alias("date_end"),
    ).select(POLICY_COLUMNS)

    # --- attachments ------------------------------------------------------------------------------
    district = np.empty(n, dtype=np.int64)
    for spec, who in (("76", ~child), ("49", child)):
        sel = np.flatnonzero((d_spec == spec) & (d_status != 2))
        order, starts, counts = _groups(d_mo[sel], n_mo)
        rows = np.flatnonzero(who)
        district[rows] = _pick_in_group(rng, sel[order], starts, counts, mo_idx[rows])
    attach = d0 - (rng.random(n) * np.minimum(age_days - 1, 4000)).astype(np.int64)
    a_style = np.where(rng.random(n) < 0.3, 1, 0)
    area = rng.integers(1, 41, n)
    att_cur = pl.DataFrame({
        "_p": np.arange(n), "_seq": np.ones(n, dtype=np.int8), "patient_id": patient_id,
        "mo_code": lookup(mo_codes, mo_idx),
        "attach_method": lookup(("1", "2", "3"), rng.choice(3, n, p=[0.7, 0.25, 0.05])),
        "attach_date": date_text(attach, a_style), "detach_date": blank(n), "_area": area,
        "doctor_snils": d_snils.gather(district),
    })
    ai = np.flatnonzero((attach - birth >= 90) & (rng.random(n) < 0.4))
    m_att = len(ai)
    old_attach = birth[ai] + (rng.random(m_att) * (attach[ai] - birth[ai] - 60)).astype(np.int64)
    mo_pool = mo_codes + list(mos.excluded) + list(mos.unknown)
    kind = rng.choice(3, m_att, p=[0.75, 0.22, 0.03])  # history: clean / excluded / vanished MO
    offsets = np.array([0, n_mo, n_mo + len(mos.excluded)])
    sizes = np.array([n_mo, len(mos.excluded), len(mos.unknown)])
    old_mo = lookup(mo_pool, offsets[kind] + (rng.random(m_att) * sizes[kind]).astype(np.int64))
    att_old = pl.DataFrame({
        "_p": ai, "_seq": np.zeros(m_att, dtype=np.int8), "patient_id": patient_id.gather(ai),
        "mo_code": old_mo, "attach_method": lookup(("", "1", "2"), rng.choice(3, m_att, p=[0.1, 0.6, 0.3])),
        "attach_date": date_text(old_attach, a_style[ai]), "detach_date": date_text(attach[ai], a_style[ai]),
        "_area": rng.integers(1, 41, m_att),
        "doctor_snils": d_snils.gather(rng.integers(0, n_doc, m_att)).zip_with(
            pl.Series(rng.random(m_att) >= 0.4), blank(m_att)),
    })
    attachments = pl.concat([att_old, att_cur]).sort(["_p", "_seq"], maintain_order=True).with_columns(
        ids(attid0, len(att_old) + n).alias("attachment_id"),
        pl.col("_area").cast(pl.String).str.zfill(2).alias("area_code"),
    )
    att_extra = attachments.select(
        pl.concat_str([pl.lit("Участок № "), pl.col("_area").cast(pl.String)]).alias("area_name"))
    attachments = attachments.select(ATTACHMENT_COLUMNS)

    # --- slots: doctors x working days x slot index ------------------------------------------------
    slot_len = np.where(rng.random(n_doc) < 0.5, 15, 20) * 60
    shift = np.where(rng.random(n_doc) < 0.6, 8 * 3600, 14 * 3600)
    saturday = rng.random(n_doc) < 0.15
    per_day = (6 * 3600) // slot_len
    days = np.arange(d0 - SLOT_WINDOW_DAYS, d0 + SLOT_WINDOW_DAYS + 1)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    dd = np.repeat(np.arange(n_doc), len(days))
    day = np.tile(days, n_doc)
    wd = np.tile(weekday, n_doc)
    keep = ((wd < 5) | ((wd == 5) & saturday[dd])) & ~((d_status[dd] == 2) & (day >= d0 - 14))
    dd, day = dd[keep], day[keep]
    reps = per_day[dd]
    sd = np.repeat(dd, reps)
    j = np.arange(len(sd)) - np.repeat(np.cumsum(reps) - reps, reps)
    start = np.repeat(day, reps) * 86400 + shift[sd] + j * slot_len[sd]
    m = len(sd)
    future = start >= t0
    u = rng.random(m)
    near = start < t0 + 3 * 86400
    status = np.where(~future, np.where(u < 0.85, 1, 2),  # 0 free, 1 booked, 2 blocked
                      np.where(u < np.where(near, 0.75, 0.35), 1, np.where(u > 0.95, 2, 0)))
    status = np.where(future & (d_status[sd] == 1), 2, status)  # on leave: schedule blocked
    fut = np.flatnonzero(future)
    _, first_pos = np.unique(sd[fut], return_index=True)  # slots are sorted by doctor, then start
    first_future = fut[first_pos]
    status[first_future[d_status[sd[first_future]] == 0]] = 0  # a free slot on the first day ahead
    booked = status == 1
    order, starts, counts = _groups(mo_idx, n_mo)
    who = np.zeros(m, dtype=np.int64)
    who[booked] = _pick_in_group(rng, order, starts, counts, d_mo[sd[booked]])
    updated = np.where(future, t0 - rng.integers(600, 20 * 3600, m), start - rng.integers(3600, 14 * 86400, m))
    ts_style = rng.choice(3, m, p=[0.6, 0.25, 0.15])
    slots = pl.DataFrame({
        "slot_id": ids(slotid0, m), "mo_code": lookup(mo_codes, d_mo[sd]), "doctor_id": doctor_id.gather(sd),
        "doctor_snils": d_snils.gather(sd), "doctor_status": lookup(statuses, d_status[sd]),
        "specialty_code": lookup(d_spec, sd),
        "slot_start": ts_text(start, ts_style), "slot_end": ts_text(start + slot_len[sd], ts_style),
        "status": lookup(("free", "booked", "blocked"), status),
        "patient_id": patient_id.gather(who).zip_with(pl.Series(booked), blank(m)),
        "updated_at": ts_text(updated, np.where(rng.random(m) < 0.5, 5, rng.choice(6, m))),
    })
    slot_extra = pl.DataFrame({"doctor_name": d_name.gather(sd)})

    pairs = (pl.DataFrame({"mo_code": lookup(mo_codes, d_mo), "specialty_code": pl.Series(d_spec)})
             .filter(pl.Series(d_first)).unique(maintain_order=True).sort("mo_code", "specialty_code"))
    return World(
        ctx=ctx, mos=mos,
        tables={"patients": patients, "policies": policies, "attachments": attachments, "slots": slots},
        extras={"attachments": att_extra, "slots": slot_extra},
        pairs=pairs,
        bookable=pl.DataFrame({"patient_id": patient_id, "mo_code": lookup(mo_codes, mo_idx)}),
        insurers=list(insurers), person_enp=person_enp,
        next_ids={**first_ids, "patients": pid0 + n, "policies": polid0 + len(policies),
                  "attachments": attid0 + len(attachments), "slots": slotid0 + m,
                  "doctors": docid0 + n_doc},
    )
