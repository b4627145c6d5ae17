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
from flows.synth.injector import S, Injector, People, _arr, _override, iso, pick_where, variants
from flows.synth.register import REG_SURNAMES, REG_SURNAMES_F, extra_persons, reg_name
from flows.synth.textfmt import date_text

# --- one-letter (dl1) and two-letter changes of the case surnames, precomputed per surname --------------

def _n(s: str) -> str:
    return s.upper().replace("Ё", "Е")


def _swap_at(s: str) -> int:
    return next(i for i in range(1, len(s) - 1) if _n(s[i]) != _n(s[i + 1]))


def _sub(s: str, i: int) -> str:
    return s[:i] + ("ш" if _n(s[i]) == "Ы" else "ы") + s[i + 1:]


_ALL = REG_SURNAMES + REG_SURNAMES_F
TYPO = {
    "sub": {s: _sub(s, 2) for s in _ALL},
    "del": {s: s[:2] + s[3:] for s in _ALL},
    "ins": {s: s[:3] + "о" + s[3:] for s in _ALL},
    "swap": {s: s[:_swap_at(s)] + s[_swap_at(s) + 1] + s[_swap_at(s)] + s[_swap_at(s) + 2:] for s in _ALL},
    "two": {s: _sub(_sub(s, 1), 4) for s in _ALL},  # two letters: not dl1
    "sub2": {s: _sub(_sub(s, 2), 5) for s in _ALL},  # dl1 from "sub", two from the surname
}


def typo(series: pl.Series, kind: str) -> pl.Series:
    return series.replace_strict(TYPO[kind], return_dtype=pl.String)


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
    malformed = v == 5
    rows, keys = inj.malformed(p.reg.filter(pl.Series(malformed)), ("drop_field", "extra_field", "unclosed_quote",
                                                                   "text_after_quote", "raw_delimiter"),
                               ("", "", "last_name", "first_name", "snils"))
    inj.reg_parts += [rows] + extra
    p.reg = p.reg.filter(pl.Series(~malformed & (v != 0)))
    inj.expect("ROW.MALFORMED", keys, "", registry_only=True)
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


REG_BUILDERS = (not_found, tiers)
