"""Defect cases of patients (PAT.*), including the routing-attachment rules."""
from __future__ import annotations

import numpy as np
import polars as pl

from flows.synth.injector import S, Injector, _arr, dmy, iso, latinize, pick_where, variants

from flows.synth.identifiers import snils_check, snils_text

def pat_snils(inj: Injector) -> None:
    ctx, rng = inj.ctx, inj.rng
    # PAT.SNILS.MISSING
    p = inj.people(inj.k_pat)
    p.pat = p.pat.with_columns(snils=pl.lit(""))
    inj.emit_people(p)
    inj.expect("PAT.SNILS.MISSING", p.pid, p.mo)
    # PAT.SNILS.FORMAT: letter O (Latin / Cyrillic), spaces, trailing space, 10 digits, dots,
    # and a clean patient's valid digits written with spaces (no duplicate: not a valid SNILS)
    k, v = variants(inj.k_pat, 7)
    p = inj.people(k)
    s = pl.col("snils")
    digits = s.str.replace_all("[- ]", "")
    other = inj.clean_snils.gather(rng.integers(0, len(inj.clean_snils), k)).str.replace_all("[- ]", "")
    other = other.str.slice(0, 3) + " " + other.str.slice(3, 3) + " " + other.str.slice(6, 3) + " " + other.str.slice(9, 2)
    p.pat = p.pat.with_columns(pl.Series("_v", v), other.alias("_other")).with_columns(
        pl.when(pl.col("_v") == 0).then(s.str.slice(0, 4) + "O" + s.str.slice(5))
        .when(pl.col("_v") == 1).then(s.str.slice(0, 8) + "О" + s.str.slice(9))
        .when(pl.col("_v") == 2).then(s.str.replace_all("-", " ", literal=True))
        .when(pl.col("_v") == 3).then(s + " ")
        .when(pl.col("_v") == 4).then(digits.str.slice(0, 10))
        .when(pl.col("_v") == 5).then(s.str.replace_all("-", ".", literal=True))
        .otherwise(pl.col("_other")).alias("snils"))
    inj.emit_people(p)
    inj.expect("PAT.SNILS.FORMAT", p.pid, p.mo)
    # PAT.SNILS.CHECKSUM: wrong check number (formatted, bare), numbers <= 001-001-998
    k, v = variants(inj.k_pat, 5)
    p = inj.people(k)
    body = ctx.snils.take(k)
    check = (snils_check(body) + 1 + rng.integers(0, 98, k)) % 100  # never the right one
    low = rng.integers(0, 1_001_998, k)
    body = np.where(v == 2, low, np.where(v == 3, 1_001_998, np.where(v == 4, 0, body)))
    check = np.where(v >= 2, snils_check(body), check)
    check = np.where(v == 4, 0, check)
    p.pat = p.pat.with_columns(snils_text(body, np.where(v == 1, 1, 0), check).alias("snils"))
    inj.emit_people(p)
    inj.expect("PAT.SNILS.CHECKSUM", p.pid, p.mo)
    # PAT.SNILS.DUPLICATE: the same valid SNILS on 2-3 patients, in different accepted forms
    groups = max(3, inj.k_pat // 2)
    shapes = ((0, 1), (0, 1, 2), (0, 2))
    g = np.concatenate([[i] * len(shapes[i % 3]) for i in range(groups)])  # loop over groups
    style = np.concatenate([shapes[i % 3] for i in range(groups)])
    p = inj.people(len(g))
    body = ctx.snils.take(groups)[g]
    p.pat = p.pat.with_columns(snils_text(body, style).alias("snils"))
    inj.emit_people(p)
    inj.expect("PAT.SNILS.DUPLICATE", p.pid, p.mo)
    if inj.registry:  # the register knows the SNILS as the first one's; the others' register SNILS differs
        owner = style == 0
        p.reg = p.reg.with_columns(p.reg["snils"].zip_with(pl.Series(~owner), p.pat["snils"]))
        inj.expect_reg("REG.SNILS.MISMATCH", p.pid[~owner], p.mo[~owner])


def pat_fields(inj: Injector) -> None:
    ctx, rng = inj.ctx, inj.rng
    # PAT.NAME.INVALID
    k, v = variants(inj.k_pat, 10)
    p = inj.people(k)
    L, F, M, V = pl.col("last_name"), pl.col("first_name"), pl.col("middle_name"), pl.col("_v")
    p.pat = p.pat.with_columns(pl.Series("_v", v)).with_columns(
        pl.when(V == 0).then(latinize(L))
        .when(V == 3).then(pl.when(L.str.contains("о", literal=True)).then(L.str.replace("о", "0", literal=True))
                           .otherwise(L + "1"))
        .when(V == 5).then(L + " ").when(V == 7).then(pl.lit("")).when(V == 8).then(L + ".")
        .otherwise(L).alias("last_name"),
        pl.when(V == 1).then(latinize(F)).when(V == 4).then(F + "  Мария").when(V == 6).then(pl.lit(""))
        .otherwise(F).alias("first_name"),
        pl.when(V == 2).then(latinize(M)).when(V == 9).then(M + "-").otherwise(M).alias("middle_name"),
    )
    inj.emit_people(p)
    inj.expect("PAT.NAME.INVALID", p.pid, p.mo)
    # PAT.BIRTHDATE.INVALID; born after D also puts the attachment before the birth date
    k, v = variants(inj.k_pat, 8)
    p = inj.people(k)
    future = dmy(ctx.d0 + rng.integers(30, 400, k))
    y = ctx.D.year
    birth = pick_where(v, {0: "", 1: "31.02.1985", 2: "1.2.1985", 3: "15/03/1985", 4: future,
                           5: "31.12.1899", 6: f"{y - 40}-02-30", 7: "00.00.0000"})
    p.pat = p.pat.with_columns(S("birth_date", birth))
    inj.emit_people(p)
    inj.expect("PAT.BIRTHDATE.INVALID", p.pid, p.mo)
    inj.expect("ATT.DATES.INVALID", p.att["attachment_id"].to_numpy()[v == 4], p.mo[v == 4])
    # PAT.SEX.INVALID
    k, v = variants(inj.k_pat, 7)
    p = inj.people(k)
    p.pat = p.pat.with_columns(S("sex", _arr(("0", "3", "М", "Ж", "", "m", "1.0"), k)))
    inj.emit_people(p)
    inj.expect("PAT.SEX.INVALID", p.pid, p.mo)


def pat_coverage(inj: Injector) -> None:
    rng, d0 = inj.rng, inj.ctx.d0
    # PAT.POLICY.NONE: no policy; expired yesterday; begins tomorrow or later; expired temporary one
    k, v = variants(inj.k_pat, 4)
    p = inj.people(k)
    pol = p.pol.with_columns(
        S("date_begin", pick_where(v, {0: "", 1: iso(np.full(k, d0 - 800)), 2: iso(d0 + rng.integers(1, 30, k)),
                                       3: iso(np.full(k, d0 - 100))})),
        S("date_end", pick_where(v, {0: "", 1: iso(np.full(k, d0 - 1)), 2: "", 3: iso(np.full(k, d0 - 56))})),
        S("policy_type", np.where(v == 3, "2", "3")),
        S("policy_number", np.where(v == 3, rng.integers(100_000_000, 999_999_999, k).astype(str),
                                    p.pol["policy_number"].to_numpy())),
        S("enp", np.where(v == 3, "", p.pol["enp"].to_numpy())),
    )
    inj.emit_people(p, pol=False)
    inj.emit("policies", pol.filter(pl.Series(v != 0)))
    inj.expect("PAT.POLICY.NONE", p.pid, p.mo)
    # PAT.ATTACHMENT.NONE (unassigned: no active attachment to route by): none; detached on D; long ago
    k, v = variants(inj.k_pat, 3)
    p = inj.people(k)
    att = p.att.with_columns(
        S("attach_date", np.where(v == 1, iso(np.full(k, d0 - 500)), iso(np.full(k, d0 - 2000)))),
        S("detach_date", np.where(v == 1, iso(np.full(k, d0)), iso(np.full(k, d0 - 500)))),
    )
    inj.emit_people(p, att=False)
    inj.emit("attachments", att.filter(pl.Series(v != 0)))
    inj.expect("PAT.ATTACHMENT.NONE", p.pid, "")


ROUTING8_BLOCKS = 90_000_000  # first 8-digit attachment id of the routing cases in a region in blocks


def pat_routing(inj: Injector) -> None:
    """Patient findings routed by the routing attachment: latest attach_date among active attachments
    with a known MO, tie -> smallest attachment_id as text (not as a number)."""
    d0, rng = inj.ctx.d0, inj.rng
    per = max(2, inj.k_pat // 5)
    mos = inj.clean_mos
    # R1: same attach date at two MOs; ids "38000xxx" (8 digits) and "300000xxx" (9): text order wins
    p = inj.people(per)
    ia = rng.integers(0, len(mos), per)
    a_mo, b_mo = mos[ia], mos[(ia + 1) % len(mos)]
    same = iso(d0 - rng.integers(10, 900, per))
    base = inj.next.get("routing8")  # a region in blocks: from 90_000_000 on, block after block
    if base is None:
        base = 38_000_000  # ids 8 digits, above ATTACHMENT_ID0: a large region's ids reach it, take 90_000_000
        if inj.next["attachments"] + 80 * inj.k_pat + 10 * inj.k_file >= base:
            base = 90_000_000
    elif inj.next["attachments"] + 80 * inj.k_pat + 10 * inj.k_file >= ROUTING8_BLOCKS:
        raise ValueError("too many attachments for the 8-digit attachment ids of the routing cases")
    b_base = inj.next.get("routing9", 300_000_000)
    a_id = np.arange(base, base + per).astype(str)
    b_id = np.arange(b_base, b_base + per).astype(str)
    inj.next["routing8"], inj.next["routing9"] = base + per, b_base + per
    att_a = p.att.with_columns(S("attachment_id", a_id), S("mo_code", a_mo), S("attach_date", same))
    att_b = p.att.with_columns(S("attachment_id", b_id), S("mo_code", b_mo), S("attach_date", same),
                               snils_text(inj.ctx.doctor_snils.take(per), 1).alias("doctor_snils"))
    p.pat = p.pat.with_columns(sex=pl.lit("0"))
    inj.emit_people(p, att=False)
    inj.emit("attachments", pl.concat([att_a, att_b]))
    inj.expect("PAT.SEX.INVALID", p.pid, b_mo)
    inj.expect("ATT.ACTIVE.MULTIPLE", np.concatenate([a_id, b_id]), np.concatenate([a_mo, b_mo]))
    if inj.registry:  # the register knows the routing one: the other is a mismatch
        p.reg = p.reg.with_columns(S("attach_mo_code", b_mo))
        inj.expect_reg("REG.ATTACHMENT.MISMATCH", a_id, a_mo)
    # R2: the latest active attachment is to an unknown MO: route by the known one
    p = inj.people(per)
    unknown = _arr(inj.w.mos.unknown, per)
    x = inj.extra_attachments(p, mo_code=unknown, attach_date=iso(np.full(per, d0 - 10)))
    y = p.att.with_columns(S("attach_date", iso(np.full(per, d0 - 500))))
    p.pat = p.pat.with_columns(sex=pl.lit("3"))
    inj.emit_people(p, att=False)
    inj.emit("attachments", pl.concat([x, y]))
    inj.expect("PAT.SEX.INVALID", p.pid, p.mo)
    inj.expect("ATT.MO.UNKNOWN", x["attachment_id"], "")
    inj.expect("ATT.ACTIVE.MULTIPLE", x["attachment_id"], "")
    inj.expect("ATT.ACTIVE.MULTIPLE", y["attachment_id"], p.mo)
    # R3: the only active attachment is to an excluded (but known) MO: routed there
    p = inj.people(per, mo=inj.w.mos.excluded)
    p.pat = p.pat.with_columns(sex=pl.lit(""))
    inj.emit_people(p)
    inj.expect("PAT.SEX.INVALID", p.pid, p.mo)
    inj.expect("ATT.MO.EXCLUDED", p.att["attachment_id"], p.mo)
    # R4: a later but detached attachment does not route
    p = inj.people(per)
    y = p.att.with_columns(S("attach_date", iso(np.full(per, d0 - 800))))
    z = inj.extra_attachments(p, mo_code=mos[(np.searchsorted(mos, p.mo) + 1) % len(mos)],
                              attach_date=iso(np.full(per, d0 - 100)), detach_date=iso(np.full(per, d0 - 1)))
    p.pat = p.pat.with_columns(sex=pl.lit("9"))
    inj.emit_people(p, att=False)
    inj.emit("attachments", pl.concat([y, z]))
    inj.expect("PAT.SEX.INVALID", p.pid, p.mo)
    # R5: two active attachments, the later attach date routes
    p = inj.people(per)
    later_mo = mos[(np.searchsorted(mos, p.mo) + 1) % len(mos)]
    a = inj.extra_attachments(p, mo_code=later_mo, attach_date=iso(np.full(per, d0 - 50)))
    b = p.att.with_columns(S("attach_date", iso(np.full(per, d0 - 900))))
    p.pat = p.pat.with_columns(sex=pl.lit("Ж"))
    inj.emit_people(p, att=False)
    inj.emit("attachments", pl.concat([a, b]))
    inj.expect("PAT.SEX.INVALID", p.pid, later_mo)
    inj.expect("ATT.ACTIVE.MULTIPLE", a["attachment_id"], later_mo)
    inj.expect_reg("REG.ATTACHMENT.MISMATCH", a["attachment_id"], later_mo)  # the register: the earlier one
    inj.expect("ATT.ACTIVE.MULTIPLE", b["attachment_id"], p.mo)


