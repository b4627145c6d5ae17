"""Defect cases of the register reconciliation (REG.*, catalogue v1.2), every linking tier and its traps.

Only in a region with a register (Injector.registry). Case persons here carry surnames no other
person of the region has (register.REG_SURNAMES, far apart from every other surname), so the
candidates of a name tier (3, 4) are exactly the register rows a case writes. Each case states the
register rows of its persons (People.reg), whom each patient links to (People.link; "" = not
linked) and every finding, with v1.1 routing; the suggested values and the v1.2 routing change are
added from the stated links by register.finish_truth.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from flows.synth.cases_files import _after
from flows.synth.identifiers import enp_text, snils_text
from flows.synth.injector import S, Injector, People, _arr, _override, iso, latinize, pick_where, variants
from flows.synth.register import REG_SURNAMES, REG_SURNAMES_F, extra_persons, reg_name, reg_surnames
from flows.synth.textfmt import date_text

# --- one-letter (dl1) and two-letter changes of the case surnames, precomputed per surname --------------

def _n(s: str) -> str:
    return s.upper().replace("Ё", "Е")


def _swap_at(s: str) -> int:
    return next(i for i in range(1, len(s) - 1) if _n(s[i]) != _n(s[i + 1]))


def _sub(s: str, i: int) -> str:
    return s[:i] + ("ш" if _n(s[i]) == "Ы" else "ы") + s[i + 1:]


_ALL = REG_SURNAMES + REG_SURNAMES_F
TYPO_OPS = {
    "sub": lambda s: _sub(s, 2),
    "del": lambda s: s[:2] + s[3:],
    "ins": lambda s: s[:3] + "о" + s[3:],
    "swap": lambda s: s[:_swap_at(s)] + s[_swap_at(s) + 1] + s[_swap_at(s)] + s[_swap_at(s) + 2:],
    "two": lambda s: _sub(_sub(s, 1), 4),  # two letters: not dl1
    "sub2": lambda s: _sub(_sub(s, 2), 5),  # dl1 from "sub", two from the surname
}
TYPO = {kind: {s: op(s) for s in _ALL} for kind, op in TYPO_OPS.items()}


def typo(series: pl.Series, kind: str) -> pl.Series:
    """The surnames changed by TYPO_OPS[kind] (case surnames of any block: register.reg_surnames)."""
    table = TYPO[kind]
    other = [s for s in series.unique().to_list() if s is not None and s not in table]
    if other:
        table = {**table, **{s: TYPO_OPS[kind](s) for s in other}}
    return series.replace_strict(table, return_dtype=pl.String)


def sub_letter(series: pl.Series, pos: int) -> pl.Series:
    """One letter replaced (never by itself, nor by its Ё/Е twin)."""
    c = series.str.slice(pos, 1)
    repl = pl.Series(np.where((c.str.to_uppercase() == "Ы").to_numpy(), "ш", "ы"))
    return series.str.slice(0, pos) + repl + series.str.slice(pos + 1)


def dates(y, m, d) -> np.ndarray:
    """Epoch days of (year, month, day) arrays."""
    df = pl.DataFrame({"y": np.asarray(y, dtype=np.int32), "m": np.asarray(m, dtype=np.int8),
                       "d": np.asarray(d, dtype=np.int8)})
    return df.select(pl.date("y", "m", "d").cast(pl.Int32)).to_series().to_numpy().astype(np.int64)


def _look_alike(last: pl.Series) -> pl.Series:
    """A Latin look-alike letter in a register surname: О, А, Е as before; a surname with none of
    them (КУПРИН, ШУЙСКИЙ, ГУМИЛЁВ) gets one of its other letters (latinize), else it would not
    differ at all."""
    out = (last.str.replace("О", "O", literal=True).str.replace("А", "A", literal=True)
           .str.replace("Е", "E", literal=True))
    other = pl.select(latinize(pl.lit(last))).to_series()
    return out.zip_with(out != last, other)


def setreg(p: People, **values) -> None:
    p.reg = _override(p.reg, values)


def fresh_enp(inj: Injector, k: int) -> np.ndarray:
    return enp_text(inj.ctx.okato[:2], inj.ctx.enp.take(k)).to_numpy().astype(object)


def fresh_snils(inj: Injector, k: int, style=0) -> np.ndarray:
    return snils_text(inj.ctx.snils.take(k), style).to_numpy().astype(object)


def set_birth(p: People, days: np.ndarray, reg_days: np.ndarray | None = None, rng=None) -> None:
    p.birth = np.asarray(days, dtype=np.int64)
    p.pat = p.pat.with_columns(date_text(p.birth, 1).alias("birth_date"))
    reg_days = p.birth if reg_days is None else np.asarray(reg_days, dtype=np.int64)
    style = (rng.random(len(reg_days)) < 0.5).astype(np.int64) if rng is not None else 1
    p.reg = p.reg.with_columns(date_text(reg_days, style).alias("birth_date"))


def away(inj: Injector, p: People, pol, snils, linked) -> None:
    """Emit p so that tiers 1 and 2 do not link, with the findings that brings.
    pol: "none" (no policy: PAT.POLICY.NONE), "other" (a valid ENP the register does not have:
    REG.POLICY.ENP when linked), "bad" (an ENP with a trailing space: POL.ENP.FORMAT), "keep";
    snils: "missing" (PAT.SNILS.MISSING), "format" (dots: PAT.SNILS.FORMAT), "reg_empty" (the
    register row has no SNILS; the patient's is valid), "unknown" (a valid SNILS the register
    does not have), "keep"."""
    k = len(p.pid)
    pol, snils, linked = _arr(pol, k), _arr(snils, k), np.broadcast_to(np.asarray(linked, dtype=bool), (k,))
    other = fresh_enp(inj, k)
    enp = p.pol["enp"].to_numpy().astype(object)
    enp = np.where(pol == "other", other, np.where(pol == "bad", np.char.add(other.astype(str), " "), enp))
    p.pol = p.pol.with_columns(S("enp", enp),
                               S("policy_number", np.where(pol == "other", other, p.pol["policy_number"].to_numpy())))
    s = p.pat["snils"].to_numpy().astype(object)
    unknown = fresh_snils(inj, k)
    s = pick_where(snils, {"missing": "", "format": np.char.replace(s.astype(str), "-", "."), "reg_empty": s,
                           "unknown": unknown, "keep": s})
    p.pat = p.pat.with_columns(S("snils", s))
    p.reg = p.reg.with_columns(S("snils", np.where(snils == "reg_empty", "", p.reg["snils"].to_numpy())))
    inj.emit_people(p, pol=False)
    inj.emit("policies", p.pol.filter(pl.Series(pol != "none")))
    inj.expect("PAT.POLICY.NONE", p.pid[pol == "none"], p.mo[pol == "none"])
    hit = (pol == "other") & linked
    inj.expect("REG.POLICY.ENP", p.pol["policy_id"].to_numpy()[hit], p.mo[hit])
    inj.expect("POL.ENP.FORMAT", p.pol["policy_id"].to_numpy()[pol == "bad"], p.mo[pol == "bad"])
    inj.expect("PAT.SNILS.MISSING", p.pid[snils == "missing"], p.mo[snils == "missing"])
    inj.expect("PAT.SNILS.FORMAT", p.pid[snils == "format"], p.mo[snils == "format"])


def clone_rows(inj: Injector, p: People, sel: np.ndarray, **values) -> pl.DataFrame:
    """Further register rows copied from p.reg[sel] (another enp and SNILS unless given)."""
    k = int(np.sum(sel))
    rows = p.reg.filter(pl.Series(sel)).with_columns(S("enp", fresh_enp(inj, k)), S("snils", fresh_snils(inj, k)))
    return _override(rows, values)


# --- builders ----------------------------------------------------------------------------------------

def not_found(inj: Injector) -> None:
    """REG.PERSON.NOT_FOUND: no tier links. 0 not in the register; 1 there under another ENP, no
    SNILS, surname two letters off; 2 namesakes with the same birth date (tier 3 and 4 not unique);
    3 the only near candidate (day and month swapped) contradicted by SNILS; 4 the only near
    candidate (one-letter typo) contradicted by sex; 5 the person's register row is malformed; 6
    the register row's enp is no valid ENP (no lookup target); 7 the patient's birth date does not
    parse (no name tier); 8 two near candidates."""
    rng, ctx = inj.rng, inj.ctx
    k, v = variants(inj.k_pat, 9)
    p = inj.people(k, reg_names=True)
    p.link = np.full(k, "", dtype=object)
    y, m = rng.integers(1950, 2000, k), rng.integers(1, 13, k)
    d = np.where(v == 3, (m % 12) + 1, rng.integers(1, 29, k))  # v3: day <= 12 and != month
    set_birth(p, dates(y, m, d), rng=inj.reg_rng)
    last = p.reg["last_name"]
    # the patient's side
    pol = pick_where(v, {0: "none", 1: "keep", 2: "other", 3: "other", 4: "other", 5: "keep", 6: "keep",
                         7: "other", 8: "none"})
    snils = pick_where(v, {0: "keep", 1: "keep", 2: "missing", 3: "unknown", 4: "missing", 5: "keep",
                           6: "format", 7: "missing", 8: "missing"})
    p.pat = p.pat.with_columns(S("birth_date", np.where(v == 7, np.char.add("31.02.", y.astype(str)),
                                                        p.pat["birth_date"].to_numpy())))
    # the register's side
    setreg(p, enp=np.where(v == 1, fresh_enp(inj, k), np.where(v == 6, np.char.add(
        p.reg["enp"].str.slice(0, 15).to_numpy().astype(str),
        ((p.reg["enp"].str.slice(15, 1).cast(pl.Int64).to_numpy() + 1) % 10).astype(str)), p.reg["enp"].to_numpy())),
           snils=np.where(v == 1, "", p.reg["snils"].to_numpy()),
           last_name=np.where(v == 1, reg_name(typo(p.pat["last_name"], "two"), inj.reg_rng).to_numpy(),
                              np.where(v == 4, reg_name(typo(p.pat["last_name"], "sub"), inj.reg_rng).to_numpy(),
                                       last.to_numpy())),
           birth_date=np.where(v == 3, date_text(dates(y, np.where(v == 3, d, m), np.where(v == 3, m, d)), 1).to_numpy(),
                                p.reg["birth_date"].to_numpy()),
           sex=np.where(v == 4, np.where(p.pat["sex"].to_numpy() == "1", "2", "1"), p.pat["sex"].to_numpy()))
    extra = [clone_rows(inj, p, v == 2)]  # a namesake born the same day
    extra.append(clone_rows(inj, p, v == 8, last_name=reg_name(typo(p.pat["last_name"].filter(pl.Series(v == 8)),
                                                                    "sub2"), inj.reg_rng)))
    if 8 in v:  # the person's own row: one letter off the patient's typo
        p.pat = p.pat.with_columns(pl.Series("last_name", np.where(v == 8, typo(p.pat["last_name"], "sub").to_numpy(),
                                                                   p.pat["last_name"].to_numpy())))
    away(inj, p, pol, snils, False)
    malformed = v == 5  # (a Parquet register has no malformed rows: the row is just not there)
    if "registry" not in inj.parquet:
        rows, keys = inj.malformed(p.reg.filter(pl.Series(malformed)), ("drop_field", "extra_field", "unclosed_quote",
                                                                       "text_after_quote", "raw_delimiter"),
                                   ("", "", "last_name", "first_name", "snils"))
        inj.reg_parts.append(rows)
        inj.expect("ROW.MALFORMED", keys, "", registry_only=True)
    inj.reg_parts += extra
    p.reg = p.reg.filter(pl.Series(~malformed & (v != 0)))
    inj.expect("REG.PERSON.NOT_FOUND", p.pid, p.mo)
    inj.expect("PAT.BIRTHDATE.INVALID", p.pid[v == 7], p.mo[v == 7])


def tiers(inj: Injector) -> None:
    """Links by tiers 2, 3 and 4 (with what made tiers 1 and 2 fail) and their traps."""
    rng = inj.rng
    # tier 2 (SNILS): 0 no policy; 1 an old ENP on the active policy; 2 the register's birth date
    # does not parse (no BIRTHDATE.MISMATCH)
    k, v = variants(inj.k_pat, 3)
    p = inj.people(k, reg_names=True)
    if 2 in v:
        setreg(p, birth_date=np.where(v == 2, _arr(("00.00.1970", "1970", "1970-02-30"), k), p.reg["birth_date"].to_numpy()))
    away(inj, p, np.where(v == 0, "none", "other"), "keep", True)
    # tier 2 not unique (the register has the SNILS twice) -> tier 3 (same name and birth date,
    # written with Е for Ё, other case and spacing): no policy
    k = inj.k_pat
    p = inj.people(k, reg_names=True)
    p.pat = p.pat.with_columns(S("first_name", _arr(("Семён", "Пётр", "Артём", "Фёдор"), k)), sex=pl.lit("1"))
    setreg(p, sex="1", first_name=np.char.add(" ", _arr(("СЕМЕН", "ПЕТР", "АРТЁМ", "ФЕДОР"), k).astype(str)))
    twin = clone_rows(inj, p, np.ones(k, dtype=bool), snils=p.reg["snils"].to_numpy(),
                      last_name=reg_name(typo(p.pat["last_name"], "two"), inj.reg_rng).to_numpy(),
                      birth_date=date_text(p.birth - 400, 0).to_numpy())
    inj.reg_parts.append(twin)
    away(inj, p, "none", "keep", True)
    # tier 3: 0-1 no valid SNILS, 2 the register has no SNILS; 3-4 namesakes born the same day, one
    # contradicted by SNILS (3) or by sex (4): tier 4 links the other
    k, v = variants(inj.k_pat, 5)
    p = inj.people(k, reg_names=True)
    spaced = v == 2
    p.pat = p.pat.with_columns(pl.when(pl.Series(spaced)).then(pl.col("first_name") + " " + pl.col("first_name").str.to_lowercase())
                               .otherwise(pl.col("first_name")).alias("first_name"))
    setreg(p, first_name=np.where(spaced, (p.reg["first_name"] + "  " + p.reg["first_name"]).to_numpy(),
                                  p.reg["first_name"].to_numpy()))
    sex = p.pat["sex"].to_numpy()
    other_sex = np.where(sex == "1", "2", "1")
    inj.reg_parts.append(clone_rows(inj, p, v == 3))  # valid SNILS != the patient's
    inj.reg_parts.append(clone_rows(inj, p, v == 4, sex=other_sex[v == 4], snils=""))
    away(inj, p, pick_where(v, {0: "other", 1: "none", 2: "other", 3: "other", 4: "bad"}),
         pick_where(v, {0: "missing", 1: "format", 2: "reg_empty", 3: "reg_empty", 4: "missing"}), True)
    # tier 4 (a): one-letter typos, same birth date -> REG.NAME.MISMATCH
    kinds = ("sub", "del", "ins", "swap", "first", "middle", "reg_middle_empty")
    k, v = variants(inj.k_pat, len(kinds))
    p = inj.people(k, reg_names=True)
    last = p.pat["last_name"]
    for i, kind in enumerate(kinds[:4]):
        last = pl.Series(np.where(v == i, typo(p.pat["last_name"], kind).to_numpy(), last.to_numpy()))
    last = pl.Series(np.where(v == 6, typo(p.pat["last_name"], "sub").to_numpy(), last.to_numpy()))
    p.pat = p.pat.with_columns(
        last.alias("last_name"),
        pl.Series("first_name", np.where(v == 4, sub_letter(p.pat["first_name"], 1).to_numpy(),
                                         p.pat["first_name"].to_numpy())),
        pl.Series("middle_name", np.where(v == 5, sub_letter(p.pat["middle_name"], 3).to_numpy(),
                                          p.pat["middle_name"].to_numpy())))
    setreg(p, middle_name=np.where(v == 6, "", p.reg["middle_name"].to_numpy()))
    away(inj, p, _arr(("none", "other", "bad"), k), _arr(("missing", "reg_empty", "format", "missing"), k), True)
    inj.expect("REG.NAME.MISMATCH", p.pid, p.mo)
    # tier 4 (b): the same name, near birth dates -> REG.BIRTHDATE.MISMATCH; 4: the register has no
    # middle name (and so the names differ too)
    k, v = variants(inj.k_pat, 5)
    p = inj.people(k, reg_names=True)
    y = rng.integers(1950, 2000, k)
    y = np.where((v == 2) & ((y // 10) % 10 == y % 10), y - 1, y)  # two different last digits to swap
    m = rng.integers(1, 13, k)
    d = np.where(v == 0, m % 12 + 1, np.where(v == 3, rng.integers(10, 19, k), rng.integers(1, 29, k)))
    ones, tens = y % 10, (y // 10) % 10
    reg_y = pick_where(v, {1: y - ones + (ones + 1) % 10, 2: y - 10 * tens - ones + 10 * ones + tens,
                           4: y - ones + (ones + 9) % 10})
    reg_y = np.where((v == 1) | (v == 2) | (v == 4), reg_y, y).astype(np.int64)
    reg_m = np.where(v == 0, d, m)
    reg_d = np.where(v == 0, m, np.where(v == 3, d + 1, d))
    set_birth(p, dates(y, m, d), dates(reg_y, reg_m, reg_d), rng=inj.reg_rng)
    setreg(p, middle_name=np.where(v == 4, "", p.reg["middle_name"].to_numpy()))
    away(inj, p, _arr(("other", "none"), k), _arr(("missing", "reg_empty"), k), True)
    inj.expect("REG.BIRTHDATE.MISMATCH", p.pid, p.mo)
    inj.expect("REG.NAME.MISMATCH", p.pid[v == 4], p.mo[v == 4])


def person_codes(inj: Injector) -> None:
    """REG.PERSON.DECEASED, REG.NAME.MISMATCH, REG.BIRTHDATE.MISMATCH, REG.SNILS.MISMATCH (tier 1)
    and the names and dates that are the same after all."""
    rng, d0 = inj.rng, inj.ctx.d0
    # DECEASED: 0 long ago (ISO), 1 on D, 2 DD.MM.YYYY, 3 no active policy (PAT.POLICY.NONE suggests
    # nothing), 4 no active attachment, 5 the register's policy closed with the death (not CLOSED);
    # 6 nothing active (only PAT.POLICY.NONE); 7 dies tomorrow, 8 a death date that does not parse: nothing
    k, v = variants(inj.k_pat, 9)
    p = inj.people(k, reg_names=True)
    death = np.where(v == 1, d0, np.where(v == 7, d0 + 1, d0 - rng.integers(1, 900, k)))
    death_text = np.where(v == 0, iso(death), date_text(death, 1).to_numpy()).astype(object)
    death_text = np.where(v == 8, "31.02." + str(inj.ctx.D.year - 1), death_text)
    setreg(p, death_date=death_text, policy_end=np.where(v == 5, death_text, ""))
    expired = (v == 3) | (v == 6)
    p.pol = p.pol.with_columns(S("date_end", np.where(expired, iso(np.full(k, d0 - 3)), "")))
    no_att = (v == 4) | (v == 6)
    inj.emit_people(p, att=False)
    inj.emit("attachments", p.att.filter(pl.Series(~no_att)))
    route = np.where(no_att, "", p.mo)
    dead = v <= 5
    inj.expect("REG.PERSON.DECEASED", p.pid[dead], route[dead])
    inj.expect("PAT.POLICY.NONE", p.pid[expired], route[expired])
    inj.expect("PAT.ATTACHMENT.NONE", p.pid[v == 4], "")

    # NAME.MISMATCH: 0 a typo, 1 another first name, 2 another surname (married), 3 no middle name in
    # the clinic's record, 4 none in the register's, 5 a no-break space (not a space) in the
    # register, 6 a Latin look-alike letter in the register (not mapped)
    k, v = variants(inj.k_pat, 7)
    p = inj.people(k, reg_names=True)
    sex = p.pat["sex"].to_numpy()
    from flows.synth import names as nm
    other_first = nm.by_sex(nm.MALE_FIRST[:54], nm.FEMALE_FIRST[:54], rng.integers(0, 54, k), sex.astype(int))
    male, female = reg_surnames(inj.ctx.block)
    married = nm.by_sex(male, female, rng.integers(0, len(male), k), sex.astype(int))
    same = (other_first == p.pat["first_name"]).to_numpy()
    other_first = pl.Series(np.where(same, sub_letter(p.pat["first_name"], 1).to_numpy(), other_first.to_numpy()))
    same = (married == p.pat["last_name"]).to_numpy()
    married = pl.Series(np.where(same, typo(p.pat["last_name"], "two").to_numpy(), married.to_numpy()))
    first = p.pat["first_name"].to_numpy()
    p.pat = p.pat.with_columns(
        S("last_name", np.where(v == 0, typo(p.pat["last_name"], "swap").to_numpy(),
                                np.where(v == 2, married.to_numpy(), p.pat["last_name"].to_numpy()))),
        S("first_name", np.where(v == 1, other_first.to_numpy(), np.where(v == 5, np.char.add(
            np.char.add(first.astype(str), " "), first.astype(str)), first))),
        S("middle_name", np.where(v == 3, "", p.pat["middle_name"].to_numpy())))
    reg_first = p.reg["first_name"].to_numpy().astype(str)
    setreg(p, middle_name=np.where(v == 4, "", p.reg["middle_name"].to_numpy()),
           first_name=np.where(v == 5, np.char.add(np.char.add(reg_first, "\u00a0"), reg_first), reg_first),
           last_name=np.where(v == 6, _look_alike(p.reg["last_name"]).to_numpy(), p.reg["last_name"].to_numpy()))
    inj.emit_people(p)
    inj.expect("REG.NAME.MISMATCH", p.pid, p.mo)

    # the same names after all (tier 1): Ё / Е both ways, upper / lower case, runs of spaces, spaces
    # around a hyphen, spaces at the ends; a register birth date in the other format or unparseable
    k, v = variants(inj.k_pat, 6)
    p = inj.people(k, reg_names=True)
    yo_m = _arr(("Семён", "Пётр", "Артём", "Фёдор"), k)
    yo_r = _arr(("СЕМЕН", "ПЕТР", "АРТЕМ", "ФЕДОР"), k)
    e_m = _arr(("Семен", "Петр", "Артем", "Федор"), k)
    e_r = _arr(("СЕМЁН", "ПЁТР", "АРТЁМ", "ФЁДОР"), k)
    double = pl.Series(_arr(("Римский-Корсаков", "Бонч-Бруевич", "Бонч-Бруевич", "Римский-Корсаков"), k))
    double_r = pl.Series(_arr(("РИМСКИЙ - КОРСАКОВ", "БОНЧ -БРУЕВИЧ", "бонч- бруевич", "РИМСКИЙ-  КОРСАКОВ"), k))
    last = p.pat["last_name"].to_numpy()
    p.pat = p.pat.with_columns(
        S("sex", np.where(v <= 1, "1", p.pat["sex"].to_numpy())),
        S("first_name", np.where(v == 0, yo_m, np.where(v == 1, e_m, np.where(v == 2, np.char.add(
            p.pat["first_name"].to_numpy().astype(str), " Мария"), p.pat["first_name"].to_numpy())))),
        S("middle_name", np.where(v <= 1, "Фёдорович", p.pat["middle_name"].to_numpy())),
        S("last_name", np.where(v == 3, double.to_numpy(), np.where(v == 5, pl.Series(last).str.to_lowercase().to_numpy(),
                                                                     last))))
    setreg(p, sex=np.where(v <= 1, "1", p.reg["sex"].to_numpy()),
           first_name=np.where(v == 0, yo_r, np.where(v == 1, e_r, np.where(
               v == 2, np.char.add(p.reg["first_name"].to_numpy().astype(str), "   МАРИЯ "), p.reg["first_name"].to_numpy()))),
           middle_name=np.where(v == 0, "ФЕДОРОВИЧ", np.where(v == 1, "ФЁДОРОВИЧ", p.reg["middle_name"].to_numpy())),
           last_name=np.where(v == 3, double_r.to_numpy(), np.where(
               v == 4, np.char.add(np.char.add("  ", p.reg["last_name"].to_numpy().astype(str)), " "),
               p.reg["last_name"].to_numpy())),
           birth_date=np.where(v == 5, _arr(("00.00.1970", "1970", "1970-02-30"), k), p.reg["birth_date"].to_numpy()))
    inj.emit_people(p)

    # BIRTHDATE.MISMATCH (tier 1): 0 day and month swapped, 1 a year digit, 2 another date, 3 in the
    # other format and a day apart
    k, v = variants(inj.k_pat, 4)
    p = inj.people(k, reg_names=True)
    y, m = rng.integers(1950, 2000, k), rng.integers(1, 13, k)
    d = np.where(v == 0, m % 12 + 1, rng.integers(1, 28, k))
    reg = pick_where(v, {0: dates(y, np.where(v == 0, d, m), np.where(v == 0, m, d)),
                         1: dates(np.where(y % 10 == 9, y - 1, y + 1), m, d),
                         2: dates(y, m, d) - rng.integers(400, 4000, k), 3: dates(y, m, d) + 1}).astype(np.int64)
    set_birth(p, dates(y, m, d), reg, rng=inj.reg_rng)
    inj.emit_people(p)
    inj.expect("REG.BIRTHDATE.MISMATCH", p.pid, p.mo)

    # SNILS.MISMATCH (tier 1): another valid SNILS in the register (0 grouped, 1 bare, 2 the clinic's
    # written XXX-XXX-XXX-YY); 3-5 nothing: the same digits written otherwise, an invalid or no SNILS
    k, v = variants(inj.k_pat, 6)
    p = inj.people(k, reg_names=True)
    other = fresh_snils(inj, k, np.where(v == 1, 1, 0))
    digits = p.pat["snils"].str.replace_all("[- ]", "").to_numpy().astype(str)
    bad = np.array([s[:9] + f"{(int(s[9:]) + 1) % 100:02d}" for s in digits], dtype=object)
    setreg(p, snils=pick_where(v, {0: other, 1: other, 2: other, 3: digits, 4: bad, 5: ""}))
    p.pat = p.pat.with_columns(S("snils", np.where(v == 2, np.array(
        [f"{s[:3]}-{s[3:6]}-{s[6:9]}-{s[9:]}" for s in digits], dtype=object), p.pat["snils"].to_numpy())))
    inj.emit_people(p)
    inj.expect("REG.SNILS.MISMATCH", p.pid[v <= 2], p.mo[v <= 2])


def duplicates_and_borrowed(inj: Injector) -> None:
    """REG.PATIENT.DUPLICATE: one person behind two or three cards (linked by tiers 1-4), and a
    policy carrying another person's ENP (that card links to the other person)."""
    d0 = inj.ctx.d0
    groups = max(3, inj.k_pat // 2)
    k, v = variants(groups, 3)
    a = inj.people(k, reg_names=True)
    inj.emit_people(a)
    wide = np.arange(inj.wide, inj.wide + 2 * k).astype(str).astype(object)  # 9 digits: text order != number order
    inj.wide += 2 * k
    cards = []
    # B: g0 the same ENP on a policy of its own, no SNILS (tier 1); g1 no policy, the same SNILS
    # (tier 2); g2 no policy, no SNILS, a typo in the surname (tier 4)
    b_pid = np.where(v == 1, wide[:k], inj.new_ids("patients", k))
    b_pat = a.pat.with_columns(S("patient_id", b_pid),
                               S("snils", np.where(v == 1, a.pat["snils"].to_numpy(), "")),
                               S("last_name", np.where(v == 2, typo(a.pat["last_name"], "ins").to_numpy(),
                                                       a.pat["last_name"].to_numpy())))
    b_pol = a.pol.with_columns(S("patient_id", b_pid), S("policy_id", inj.new_ids("policies", k)),
                               S("date_begin", iso(np.full(k, d0 - 20))))
    b_att = a.att.with_columns(S("patient_id", b_pid), S("attachment_id", inj.new_ids("attachments", k)))
    inj.emit("patients", b_pat)
    inj.emit("policies", b_pol.filter(pl.Series(v == 0)))
    inj.emit("attachments", b_att)
    cards.append(b_pid)
    # C (g1 only): no policy, no SNILS, the same name and birth date (tier 3)
    g1 = v == 1
    c_pid = inj.new_ids("patients", int(g1.sum()))
    c_pat = a.pat.filter(pl.Series(g1)).with_columns(S("patient_id", c_pid), S("snils", np.full(len(c_pid), "")))
    c_att = a.att.filter(pl.Series(g1)).with_columns(S("patient_id", c_pid),
                                                      S("attachment_id", inj.new_ids("attachments", len(c_pid))))
    inj.emit("patients", c_pat)
    inj.emit("attachments", c_att)
    enp = a.reg["enp"].to_numpy()
    inj.links.append(pl.DataFrame({"patient_id": np.concatenate([b_pid, c_pid]).astype(str),
                                   "enp": np.concatenate([enp, enp[g1]]).astype(str)}))
    inj.expect("REG.PATIENT.DUPLICATE", np.concatenate([a.pid, b_pid, c_pid]),
               np.concatenate([a.mo, a.mo, a.mo[g1]]))
    inj.expect("PAT.SNILS.MISSING", np.concatenate([b_pid[v != 1], c_pid]), np.concatenate([a.mo[v != 1], a.mo[g1]]))
    inj.expect("PAT.SNILS.DUPLICATE", np.concatenate([a.pid[g1], b_pid[g1]]), np.concatenate([a.mo[g1], a.mo[g1]]))
    inj.expect("PAT.POLICY.NONE", np.concatenate([b_pid[v != 0], c_pid]), np.concatenate([a.mo[v != 0], a.mo[g1]]))
    inj.expect("POL.ACTIVE.MULTIPLE", [], [])
    inj.expect("REG.NAME.MISMATCH", b_pid[v == 2], a.mo[v == 2])

    # X's policy carries Y's ENP: X links to Y (tier 1): both REG.PATIENT.DUPLICATE; X's name, birth
    # date and SNILS are not Y's. X's own register row links nobody. Every other X is attached to
    # another clinic than its Y: neither clinic's duplicate names the other's card.
    k = inj.k_pat
    y = inj.people(k, reg_names=True)
    x = inj.people(k, mo=np.where(np.arange(k) % 2 == 0, y.mo, np.roll(y.mo, 1)), reg_names=True)
    x.birth = y.birth - 1000
    x.pat = x.pat.with_columns(date_text(x.birth, 1).alias("birth_date"))
    x.reg = x.reg.with_columns(date_text(x.birth, 0).alias("birth_date"))
    x.pol = x.pol.with_columns(y.pol["enp"], y.pol["policy_number"], y.pol["smo_code"])
    x.link = y.reg["enp"].to_numpy().astype(object)
    inj.emit_people(y)
    inj.emit_people(x)
    inj.expect("REG.PATIENT.DUPLICATE", np.concatenate([x.pid, y.pid]), np.concatenate([x.mo, y.mo]))
    same_name = ((x.pat["last_name"] == y.pat["last_name"]) & (x.pat["first_name"] == y.pat["first_name"])
                 & (x.pat["middle_name"] == y.pat["middle_name"])).to_numpy()
    inj.expect("REG.NAME.MISMATCH", x.pid[~same_name], x.mo[~same_name])
    inj.expect("REG.BIRTHDATE.MISMATCH", x.pid, x.mo)
    inj.expect("REG.SNILS.MISMATCH", x.pid, x.mo)
    moved = x.mo != y.mo  # the register (Y's row) attaches X's person to Y's clinic
    inj.expect("REG.ATTACHMENT.MISMATCH", x.att["attachment_id"].to_numpy()[moved], x.mo[moved])


def policy_codes(inj: Injector) -> None:
    """REG.POLICY.ENP (more variants), REG.POLICY.CLOSED, REG.POLICY.SMO."""
    ctx, rng, d0 = inj.ctx, inj.rng, inj.ctx.d0
    ins = list(inj.w.insurers)
    # ENP: 0 type 1 (series and number, no ENP), 1 type 2 without ENP, 2 type '03' without ENP (not
    # exempt: POL.TYPE.UNKNOWN too), 3 a second active type 3 policy with another ENP (tier 1 by
    # the first: active, then latest begin -> the second is tried first and is nobody's)
    k, v = variants(inj.k_pat, 4)
    p = inj.people(k, reg_names=True)
    n9 = rng.integers(100_000_000, 999_999_999, k).astype(str)
    p.pol = p.pol.with_columns(
        S("policy_type", pick_where(v, {0: "1", 1: "2", 2: "03", 3: "3"})),
        S("policy_series", np.where(v == 0, "ЕА", "")),
        S("policy_number", pick_where(v, {0: rng.integers(100_000, 9_999_999, k).astype(str), 1: n9, 2: n9,
                                          3: p.pol["policy_number"].to_numpy()})),
        S("enp", np.where(v == 3, p.pol["enp"].to_numpy(), "")),
        S("date_begin", np.where(v == 1, iso(np.full(k, d0 - 10)), p.pol["date_begin"].to_numpy())),
        S("date_end", np.where(v == 1, iso(np.full(k, d0 + 30)), "")))
    second = inj.extra_policies(p, date_begin=iso(np.full(k, d0 - 5)))
    inj.emit_people(p)
    inj.emit("policies", second.filter(pl.Series(v == 3)))
    sec = second["policy_id"].to_numpy()[v == 3]
    inj.expect("REG.POLICY.ENP", np.concatenate([p.pol["policy_id"].to_numpy()[v != 3], sec]),
               np.concatenate([p.mo[v != 3], p.mo[v == 3]]))
    inj.expect("POL.TYPE.UNKNOWN", p.pol["policy_id"].to_numpy()[v == 2], p.mo[v == 2])
    inj.expect("POL.ACTIVE.MULTIPLE", np.concatenate([p.pol["policy_id"].to_numpy()[v == 3], sec]),
               np.concatenate([p.mo[v == 3], p.mo[v == 3]]))
    # CLOSED: 0 yesterday, 1 a year ago (ISO), 2 closed and another insurer (CLOSED only), 3 no
    # active policy in the clinic (PAT.POLICY.NONE suggests nothing); 4 ends on D, 5 an end that
    # does not parse: nothing
    k, v = variants(2 * inj.k_pat, 6)
    p = inj.people(k, reg_names=True)
    end = pick_where(v, {0: date_text(np.full(k, d0 - 1), 1).to_numpy(), 1: iso(np.full(k, d0 - 365)),
                         2: date_text(np.full(k, d0 - 40), 1).to_numpy(), 3: iso(np.full(k, d0 - 100)),
                         4: date_text(np.full(k, d0), 1).to_numpy(), 5: "31.04." + str(ctx.D.year - 1)})
    smo = p.reg["smo_code"].to_numpy()
    setreg(p, policy_end=end, smo_code=np.where(v == 2, [ins[(ins.index(s) + 1) % len(ins)] for s in smo], smo))
    p.pol = p.pol.with_columns(S("date_end", np.where(v == 3, iso(np.full(k, d0 - 100)), "")),
                               S("date_begin", np.where(v == 3, iso(np.full(k, d0 - 1000)), p.pol["date_begin"].to_numpy())))
    inj.emit_people(p)
    closed = v <= 2
    inj.expect("REG.POLICY.CLOSED", p.pol["policy_id"].to_numpy()[closed], p.mo[closed])
    inj.expect("PAT.POLICY.NONE", p.pid[v == 3], p.mo[v == 3])
    # SMO: 0 another insurer of the region, 1 a code F002 does not have, 2 two active policies with
    # the person's ENP, one at another insurer (POL.ACTIVE.MULTIPLE on both)
    k, v = variants(inj.k_pat, 3)
    p = inj.people(k, reg_names=True)
    smo = p.reg["smo_code"].to_numpy()
    other = np.array([ins[(ins.index(s) + 1) % len(ins)] for s in smo], dtype=object)
    setreg(p, smo_code=np.where(v == 0, other, np.where(v == 1, ctx.region + "998", smo)))
    second = inj.extra_policies(p, enp=p.pol["enp"].to_numpy(), policy_number=p.pol["policy_number"].to_numpy(),
                                smo_code=other, date_begin=iso(np.full(k, d0 - 7)))
    inj.emit_people(p)
    inj.emit("policies", second.filter(pl.Series(v == 2)))
    two = v == 2
    inj.expect("REG.POLICY.SMO", np.concatenate([p.pol["policy_id"].to_numpy()[~two], second["policy_id"].to_numpy()[two]]),
               np.concatenate([p.mo[~two], p.mo[two]]))
    inj.expect("POL.ACTIVE.MULTIPLE", np.concatenate([p.pol["policy_id"].to_numpy()[two], second["policy_id"].to_numpy()[two]]),
               np.concatenate([p.mo[two], p.mo[two]]))


def attachment_codes(inj: Injector) -> None:
    """REG.ATTACHMENT.MISMATCH, REG.ATTACHMENT.UNREGISTERED and the v1.2 routing change."""
    rng, d0 = inj.rng, inj.ctx.d0
    mos, w = inj.clean_mos, inj.w.mos
    nxt = lambda mo: mos[(np.searchsorted(mos, mo) + 1) % len(mos)]  # noqa: E731
    # MISMATCH: the register says 0 another clean MO, 1 a code F003 lacks, 2 an excluded MO; 3 two
    # active attachments, the register knows the earlier one
    k, v = variants(inj.k_pat, 4)
    p = inj.people(k, reg_names=True)
    setreg(p, attach_mo_code=pick_where(v, {0: nxt(p.mo), 1: _arr(w.unknown, k), 2: _arr(w.excluded, k), 3: p.mo}))
    later = inj.extra_attachments(p, mo_code=nxt(p.mo), attach_date=iso(np.full(k, d0 - 5)))
    inj.emit_people(p)
    inj.emit("attachments", later.filter(pl.Series(v == 3)))
    two = v == 3
    inj.expect("REG.ATTACHMENT.MISMATCH", np.concatenate([p.att["attachment_id"].to_numpy()[~two],
                                                          later["attachment_id"].to_numpy()[two]]),
               np.concatenate([p.mo[~two], nxt(p.mo)[two]]))
    inj.expect("ATT.ACTIVE.MULTIPLE", np.concatenate([p.att["attachment_id"].to_numpy()[two],
                                                      later["attachment_id"].to_numpy()[two]]),
               np.concatenate([p.mo[two], nxt(p.mo)[two]]))
    # UNREGISTERED: 0 one attachment, 1 two (both), 2 at the neighbour region's MO; 3 at an excluded
    # MO: ATT.MO.EXCLUDED only (suggesting nothing)
    k, v = variants(inj.k_pat, 4)
    mo = np.where(v == 2, _arr(w.foreign, k), np.where(v == 3, _arr(w.excluded, k), mos[rng.integers(0, len(mos), k)]))
    p = inj.people(k, mo=mo, reg_names=True)
    if 2 in v:  # insured at home, attached next door: ATT.POLICY.REGION as well
        pass
    setreg(p, attach_mo_code="")
    later = inj.extra_attachments(p, mo_code=nxt(p.mo), attach_date=iso(np.full(k, d0 - 5)))
    inj.emit_people(p)
    inj.emit("attachments", later.filter(pl.Series(v == 1)))
    one = v != 3
    two = v == 1
    inj.expect("REG.ATTACHMENT.UNREGISTERED", np.concatenate([p.att["attachment_id"].to_numpy()[one],
                                                              later["attachment_id"].to_numpy()[two]]),
               np.concatenate([p.mo[one], nxt(p.mo)[two]]))
    inj.expect("ATT.ACTIVE.MULTIPLE", np.concatenate([p.att["attachment_id"].to_numpy()[two],
                                                      later["attachment_id"].to_numpy()[two]]),
               np.concatenate([p.mo[two], nxt(p.mo)[two]]))
    inj.expect("ATT.POLICY.REGION", p.att["attachment_id"].to_numpy()[v == 2], p.mo[v == 2])
    inj.expect("ATT.MO.EXCLUDED", p.att["attachment_id"].to_numpy()[v == 3], p.mo[v == 3])
    # routing: no routing attachment (0, 2-5: none active; 1: only at an unknown MO) and the register
    # attaches 0-1, 5-6 to a clean MO (the findings go there), 2 to an excluded MO, 3 to a code F003
    # lacks, 4 nowhere (unassigned, as in v1.1); 5 a policy finding too; 6 a duplicate card row
    k, v = variants(inj.k_pat, 7)
    mo = np.where(v == 1, _arr(w.unknown, k), mos[rng.integers(0, len(mos), k)])
    p = inj.people(k, mo=mo, reg_names=True)
    setreg(p, attach_mo_code=pick_where(v, {0: nxt(mos[rng.integers(0, len(mos), k)]), 1: p.reg["attach_mo_code"].to_numpy(),
                                            2: _arr(w.excluded, k), 3: _arr(w.unknown, k), 4: "",
                                            5: p.mo, 6: p.mo}))
    p.pat = p.pat.with_columns(sex=pl.lit("0"))
    p.pol = p.pol.with_columns(S("smo_code", np.where(v == 5, inj.ctx.region + "997", p.pol["smo_code"].to_numpy())))
    first = p.pat.with_columns(pl.Series("_order", rng.random(k) * inj.n_rows["patients"]))
    copy = first.filter(pl.Series(v == 6))
    copy = copy.with_columns(pl.Series("_order", _after(copy["_order"].to_numpy(), inj.n_rows["patients"], rng)))
    inj.emit("patients", pl.concat([first, copy]))
    inj.emit_people(p, pat=False, att=False)
    inj.emit("attachments", p.att.filter(pl.Series(v == 1)))
    none = v != 1
    inj.expect("PAT.SEX.INVALID", p.pid, "")
    inj.expect("PAT.ATTACHMENT.NONE", p.pid[none], "")
    inj.expect("ATT.MO.UNKNOWN", p.att["attachment_id"].to_numpy()[v == 1], "")
    inj.expect("POL.SMO.UNKNOWN", p.pol["policy_id"].to_numpy()[v == 5], "")
    inj.expect("ROW.DUPLICATE_ID", p.pid[v == 6], "")


def registry_rows(inj: Injector) -> None:
    """ROW.MALFORMED and ROW.DUPLICATE_ID on registry.csv (entity insured, keyed on the enp text,
    unassigned), on persons who are nobody's patients, and register rows that are no lookup
    target (an enp that is no valid ENP) and raise nothing."""
    rng, ctx = inj.reg_rng, inj.ctx
    n = inj.n_rows["registry"]
    k = inj.k_file
    if "registry" not in inj.parquet:
        rows = extra_persons(inj.w, rng, k, enp=enp_text(ctx.okato[:2], ctx.enp.take(k)),
                             snils=snils_text(ctx.snils.take(k), 0))
        ops = ("drop_field", "extra_field", "unclosed_quote", "text_after_quote", "raw_delimiter")
        rows, keys = inj.malformed(rows, ops, ("", "", "first_name", "last_name", "middle_name"))
        inj.reg_parts.append(rows)
        inj.expect("ROW.MALFORMED", keys, "", registry_only=True)
    # duplicates: 0 an exact copy, 1 a copy that says otherwise, 2 three rows, 3 an enp that is no
    # valid ENP (15 digits) twice, 4 a patient's person again with another MO (the first row counts)
    k, v = variants(inj.k_file, 5)
    rows = extra_persons(inj.w, rng, k, enp=enp_text(ctx.okato[:2], ctx.enp.take(k)),
                         snils=snils_text(ctx.snils.take(k), 0))
    rows = rows.with_columns(S("enp", np.where(v == 3, rows["enp"].str.slice(0, 15).to_numpy(), rows["enp"].to_numpy())))
    p = inj.people(k, reg_names=True)
    inj.emit_people(p)
    mine = p.reg.filter(pl.Series(v == 4))
    p.reg = p.reg.filter(pl.Series(v != 4))
    rows = pl.concat([rows.filter(pl.Series(v != 4)), mine])
    vv = np.concatenate([v[v != 4], v[v == 4]])
    first = rows.with_columns(pl.Series("_order", rng.random(len(rows)) * n))
    second = first.with_columns(pl.Series("_order", _after(first["_order"].to_numpy(), n, rng)))
    changed = (vv == 1) | (vv == 4)
    second = second.with_columns(
        S("attach_mo_code", np.where(changed, inj.clean_mos[rng.integers(0, len(inj.clean_mos), len(rows))],
                                     second["attach_mo_code"].to_numpy())),
        S("last_name", np.where(vv == 1, "ДРУГОЙ", second["last_name"].to_numpy())))
    third = second.filter(pl.Series(vv == 2))
    third = third.with_columns(pl.Series("_order", _after(third["_order"].to_numpy(), n, rng)))
    inj.reg_parts += [first, second, third]
    inj.expect("ROW.DUPLICATE_ID", rows["enp"], "", registry_only=True)
    # no lookup target, nothing to find: a checksum error, a letter, an empty enp (once: in the
    # first block of a region generated in blocks, two would be duplicates)
    k = 2 if "empty_enp" in inj.next else 3
    inj.next["empty_enp"] = 1
    rows = extra_persons(inj.w, rng, k, enp=enp_text(ctx.okato[:2], ctx.enp.take(k)),
                         snils=snils_text(ctx.snils.take(k), 0))
    e = rows["enp"].to_numpy().astype(str)
    rows = rows.with_columns(S("enp", [e[0][:15] + str((int(e[0][15]) + 1) % 10), e[1][:8] + "О" + e[1][9:], ""][:k]))
    inj.reg_parts.append(rows)


REG_BUILDERS = (not_found, tiers, person_codes, duplicates_and_borrowed, policy_codes, attachment_codes,
                registry_rows)
