"""Defect cases of policies (POL.*) and attachments (ATT.*)."""
from __future__ import annotations

import numpy as np
import polars as pl

from flows.synth.injector import S, Injector, _arr, iso, pick_where, variants

from flows.synth.identifiers import luhn_valid, snils_check, snils_text

def policies(inj: Injector) -> None:
    ctx, rng, d0, f = inj.ctx, inj.rng, inj.ctx.d0, inj.facts
    y = ctx.D.year
    # POL.TYPE.UNKNOWN ('03' is not '3'; types are compared as exact text)
    k, v = variants(inj.k_pat, 6)
    p = inj.people(k)
    p.pol = p.pol.with_columns(S("policy_type", _arr(("03", "6", "0", "", "П", " 3"), k)))
    inj.emit_people(p)
    inj.expect("POL.TYPE.UNKNOWN", p.pol["policy_id"], p.mo)
    # POL.ENP.MISSING
    k, v = variants(inj.k_pat, 2)
    p = inj.people(k)
    p.pol = p.pol.with_columns(S("enp", np.full(k, "")),
                               S("policy_number", np.where(v == 0, "", p.pol["policy_number"].to_numpy())))
    inj.emit_people(p)
    inj.expect("POL.ENP.MISSING", p.pol["policy_id"], p.mo)
    # POL.ENP.FORMAT: spaces inside, 15 / 17 digits, a Cyrillic O, trailing space, dashes
    k, v = variants(inj.k_pat, 6)
    p = inj.people(k)
    e, V = pl.col("enp"), pl.col("_v")
    groups = [e.str.slice(i, 4) for i in (0, 4, 8, 12)]
    p.pol = p.pol.with_columns(pl.Series("_v", v)).with_columns(
        pl.when(V == 0).then(pl.concat_str(groups, separator=" ")).when(V == 1).then(e.str.slice(0, 15))
        .when(V == 2).then(e + "0").when(V == 3).then(e.str.slice(0, 7) + "О" + e.str.slice(8))
        .when(V == 4).then(e + " ").otherwise(pl.concat_str(groups, separator="-")).alias("enp"))
    inj.emit_people(p)
    inj.expect("POL.ENP.FORMAT", p.pol["policy_id"], p.mo)
    # POL.ENP.CHECKSUM: one digit changed (Luhn catches every single-digit error)
    k, v = variants(inj.k_pat, 2)
    p = inj.people(k)
    enp = p.pol["enp"].cast(pl.Int64).to_numpy()
    place = np.where(v == 0, 1, 10 ** 10)
    digit = (enp // place) % 10
    bad = enp + ((digit + 1) % 10 - digit) * place
    assert not luhn_valid(bad).any()
    bad_text = pl.Series(bad).cast(pl.String).str.zfill(16)
    p.pol = p.pol.with_columns(bad_text.alias("enp"), bad_text.alias("policy_number"))
    inj.emit_people(p)
    inj.expect("POL.ENP.CHECKSUM", p.pol["policy_id"], p.mo)
    # POL.NUMBER.FORMAT
    k, v = variants(inj.k_pat, 7)
    p = inj.people(k)
    temp = (v <= 2) | (v == 6)
    n9 = rng.integers(100_000_000, 999_999_999, k).astype(str)
    p.pol = p.pol.with_columns(
        S("policy_type", pick_where(v, {0: "2", 1: "2", 2: "2", 3: "1", 4: "1", 5: "3", 6: "2"})),
        S("policy_series", pick_where(v, {0: "", 1: "", 2: "", 3: "", 4: "ЕА", 5: "ЕП", 6: "ВС"})),
        S("policy_number", pick_where(v, {0: rng.integers(10_000_000, 99_999_999, k).astype(str),
                                          1: rng.integers(1_000_000_000, 9_999_999_999, k).astype(str),
                                          2: (pl.Series(n9).str.slice(0, 8) + "А").to_numpy(),
                                          3: rng.integers(1_000_000, 9_999_999, k).astype(str), 4: "",
                                          5: p.pol["enp"].to_numpy(), 6: n9})),
        S("enp", np.where(v == 5, p.pol["enp"].to_numpy(), "")),
        S("date_begin", np.where(temp, iso(np.full(k, d0 - 10)), p.pol["date_begin"].to_numpy())),
        S("date_end", np.where(temp, iso(np.full(k, d0 + 34)), "")),
    )
    inj.emit_people(p)
    inj.expect("POL.NUMBER.FORMAT", p.pol["policy_id"], p.mo)
    no_enp = v != 5  # types 1 and 2 without the person's ENP (type 3 keeps it)
    inj.expect_reg("REG.POLICY.ENP", p.pol["policy_id"].to_numpy()[no_enp], p.mo[no_enp])
    # POL.SMO.UNKNOWN: not in F002 (as exact text) or out of the registry on D
    codes = [ctx.region + "999", ctx.region + "05", "", inj.w.insurers[0] + " "] + f.excluded_insurers()[:2]
    for c in codes:
        assert c not in f.insurers or f.insurers[c][1], c
    k, v = variants(inj.k_pat, len(codes))
    p = inj.people(k)
    p.pol = p.pol.with_columns(S("smo_code", _arr(codes, k)))
    inj.emit_people(p)
    inj.expect("POL.SMO.UNKNOWN", p.pol["policy_id"], p.mo)
    # POL.DATES.INVALID: 0-4 an old policy with bad dates (the current one is fine);
    # 5-7 the only policy (a policy with bad dates is never active -> PAT.POLICY.NONE as well)
    k, v = variants(inj.k_pat, 8)
    p = inj.people(k)
    begin = pick_where(v, {0: iso(np.full(k, d0 - 1000)), 1: iso(np.full(k, d0 - 3000)), 2: "",
                           3: f"01.13.{y - 6}", 4: np.char.add(iso(np.full(k, d0 - 2500)).astype(str), "T00:00"),
                           5: "", 6: iso(np.full(k, d0 - 300)), 7: f"{y - 1}-13-01"})
    end = pick_where(v, {0: iso(np.full(k, d0 - 1200)), 1: f"{y - 5}-02-30", 2: iso(np.full(k, d0 - 100)),
                         3: iso(np.full(k, d0 - 200)), 4: iso(np.full(k, d0 - 400)), 5: "",
                         6: f"31.02.{y + 3}", 7: ""})
    old = v <= 4
    bad = inj.extra_policies(p, date_begin=begin, date_end=end)
    sole = p.pol.with_columns(S("date_begin", begin), S("date_end", end))
    inj.emit_people(p, pol=False)
    inj.emit("policies", pl.concat([p.pol.filter(pl.Series(old)), bad.filter(pl.Series(old)),
                                    sole.filter(pl.Series(~old))]))
    inj.expect("POL.DATES.INVALID", bad["policy_id"].to_numpy()[old], p.mo[old])
    inj.expect("POL.DATES.INVALID", sole["policy_id"].to_numpy()[~old], p.mo[~old])
    inj.expect("PAT.POLICY.NONE", p.pid[~old], p.mo[~old])
    # POL.ACTIVE.MULTIPLE: a second active policy (type 3, temporary type 2, another region's);
    # 3: two active policies of a patient id that does not exist (grouped by text all the same)
    k, v = variants(inj.k_pat // 2, 4)
    p = inj.people(k)
    nb_ins = f.active_insurers(ctx.nb_okato) or inj.w.insurers
    second = inj.extra_policies(
        p, policy_type=np.where(v == 1, "2", "3"),
        date_begin=iso(d0 - np.where(v == 1, 5, 100)), date_end=np.where(v == 1, iso(np.full(k, d0 + 39)), ""),
        okato=np.where(v == 2, ctx.nb_okato, ctx.okato),
        smo_code=np.where(v == 2, _arr(nb_ins, k), _arr(inj.w.insurers[::-1], k)))
    second = second.with_columns(
        pl.when(pl.Series(v == 1)).then(pl.lit("")).otherwise(pl.col("enp")).alias("enp"),
        pl.when(pl.Series(v == 1)).then(pl.Series(rng.integers(100_000_000, 999_999_999, k).astype(str)))
        .otherwise(pl.col("policy_number")).alias("policy_number"))
    orphan = v == 3
    ghost = inj.orphan_ids(k)
    first = p.pol.with_columns(S("patient_id", np.where(orphan, ghost, p.pid)))
    second = second.with_columns(S("patient_id", np.where(orphan, ghost, p.pid)))
    inj.emit("patients", p.pat.filter(pl.Series(~orphan)))
    inj.emit("attachments", p.att.filter(pl.Series(~orphan)))
    inj.emit("policies", pl.concat([first, second]))
    route = np.where(orphan, "", p.mo)
    inj.expect_reg("REG.POLICY.ENP", second["policy_id"].to_numpy()[~orphan], p.mo[~orphan])  # another / no ENP
    for pol in (first, second):
        inj.expect("POL.ACTIVE.MULTIPLE", pol["policy_id"], route)
        inj.expect("POL.PATIENT.ORPHAN", pol["policy_id"].to_numpy()[orphan], "")
    # POL.PATIENT.ORPHAN: 0 nobody's id; 1-2 the id of a patient written differently (leading zero,
    # trailing space): that patient is left without a policy; 3 empty id (expired, so no grouping)
    k, v = variants(inj.k_pat, 4)
    p = inj.people(k)
    mangled = pick_where(v, {0: inj.orphan_ids(k), 1: np.char.add("0", p.pid.astype(str)),
                             2: np.char.add(p.pid.astype(str), " "), 3: ""})
    pol = p.pol.with_columns(S("patient_id", mangled),
                             S("date_begin", np.where(v == 3, iso(np.full(k, d0 - 400)), p.pol["date_begin"].to_numpy())),
                             S("date_end", np.where(v == 3, iso(np.full(k, d0 - 10)), "")))
    keep = (v == 1) | (v == 2)
    inj.emit("patients", p.pat.filter(pl.Series(keep)))
    inj.emit("attachments", p.att.filter(pl.Series(keep)))
    inj.emit("policies", pol)
    inj.expect("POL.PATIENT.ORPHAN", pol["policy_id"], "")
    inj.expect("PAT.POLICY.NONE", p.pid[keep], p.mo[keep])


# --- attachments ------------------------------------------------------------------------------------

def attachments(inj: Injector) -> None:
    ctx, rng, d0, f = inj.ctx, inj.rng, inj.ctx.d0, inj.facts
    y = ctx.D.year
    mos = inj.clean_mos
    # ATT.MO.UNKNOWN (unassigned): vanished code, leading space, 5 digits, empty
    k, v = variants(inj.k_pat, 4)
    clean = mos[rng.integers(0, len(mos), k)]
    bad_mo = pick_where(v, {0: _arr(inj.w.mos.unknown, k), 1: np.char.add(" ", clean.astype(str)),
                            2: np.array([m[:5] for m in clean.astype(str)], dtype=object), 3: ""})
    for m in set(bad_mo):
        assert m not in f.mos, m
    p = inj.people(k, mo=bad_mo)
    inj.emit_people(p)
    inj.expect("ATT.MO.UNKNOWN", p.att["attachment_id"], "")
    # ATT.MO.EXCLUDED (routed to the excluded MO: it is known)
    p = inj.people(max(inj.k_pat, len(inj.w.mos.excluded)), mo=inj.w.mos.excluded)
    inj.emit_people(p)
    inj.expect("ATT.MO.EXCLUDED", p.att["attachment_id"], p.mo)
    # ATT.POLICY.REGION: insured in the neighbour region; attached to the neighbour's MO; an okato
    # whose F010 has a versioned duplicate (81000 -> 03)
    kinds = [0, 1] + ([2] if f.kod_tf.get("81000") not in (None, ctx.region) else [])
    k, v = variants(inj.k_pat, len(kinds))
    v = np.asarray(kinds)[v]
    foreign = _arr(inj.w.mos.foreign, k)
    p = inj.people(k, mo=np.where(v == 1, foreign, mos[rng.integers(0, len(mos), k)]))
    nb_ins = f.active_insurers(ctx.nb_okato) or inj.w.insurers
    okato = pick_where(v, {0: ctx.nb_okato, 1: ctx.okato, 2: "81000"})
    p.pol = p.pol.with_columns(S("okato", okato), S("smo_code", np.where(v == 0, _arr(nb_ins, k),
                                                                        p.pol["smo_code"].to_numpy())))
    for ok, mo in zip(okato, p.mo):
        assert f.kod_tf[ok] != mo[:2] and mo in f.mos and not f.mos[mo][1]
    if inj.registry:  # the register knows the insurer the policy names
        p.reg = p.reg.with_columns(p.pol["smo_code"])
    inj.emit_people(p)
    inj.expect("ATT.POLICY.REGION", p.att["attachment_id"], p.mo)
    # ATT.ACTIVE.MULTIPLE: a second active attachment (other MO, same MO); two active attachments of a
    # patient id that does not exist
    k, v = variants(inj.k_pat // 2, 3)
    p = inj.people(k)
    other = mos[(np.searchsorted(mos, p.mo) + 1) % len(mos)]
    second = inj.extra_attachments(p, mo_code=np.where(v == 0, other, p.mo),
                                   attach_date=iso(d0 - np.where(v == 0, 30, 700)))
    orphan = v == 2
    ghost = inj.orphan_ids(k)
    first = p.att.with_columns(S("patient_id", np.where(orphan, ghost, p.pid)))
    second = second.with_columns(S("patient_id", np.where(orphan, ghost, p.pid)))
    inj.emit("patients", p.pat.filter(pl.Series(~orphan)))
    inj.emit("policies", p.pol.filter(pl.Series(~orphan)))
    inj.emit("attachments", pl.concat([first, second]))
    inj.expect_reg("REG.ATTACHMENT.MISMATCH", second["attachment_id"].to_numpy()[v == 0], other[v == 0])
    for att, mo in ((first, p.mo), (second, np.where(v == 0, other, p.mo))):
        inj.expect("ATT.ACTIVE.MULTIPLE", att["attachment_id"], mo)
        inj.expect("ATT.PATIENT.ORPHAN", att["attachment_id"].to_numpy()[orphan], mo[orphan])
    # ATT.DATES.INVALID: 0-4 an extra attachment with bad dates (never active); 5 attached before
    # birth (still active); 6-7 the only attachment, not active -> PAT.ATTACHMENT.NONE as well
    k, v = variants(inj.k_pat, 8)
    p = inj.people(k)
    attach = pick_where(v, {0: iso(np.full(k, d0 - 2000)), 1: iso(np.full(k, d0 - 2000)), 2: "",
                            3: iso(np.full(k, d0 + 10)), 4: f"{y - 5}-1-5", 5: iso(p.birth - 30),
                            6: f"31.04.{y - 6}", 7: iso(np.full(k, d0 - 300))})
    detach = pick_where(v, {0: iso(np.full(k, d0 - 2100)), 1: f"{y - 3}-02-30", 2: iso(np.full(k, d0 - 100)),
                            3: "", 4: "", 5: "", 6: "", 7: f"{y + 4}-02-31"})
    extra = v <= 4
    other = mos[(np.searchsorted(mos, p.mo) + 1) % len(mos)]
    bad = inj.extra_attachments(p, mo_code=other, attach_date=attach, detach_date=detach)
    sole = p.att.with_columns(S("attach_date", attach), S("detach_date", detach))
    inj.emit_people(p, att=False)
    inj.emit("attachments", pl.concat([p.att.filter(pl.Series(extra)), bad.filter(pl.Series(extra)),
                                       sole.filter(pl.Series(~extra))]))
    inj.expect("ATT.DATES.INVALID", bad["attachment_id"].to_numpy()[extra], other[extra])
    inj.expect("ATT.DATES.INVALID", sole["attachment_id"].to_numpy()[~extra], p.mo[~extra])
    none = (v == 6) | (v == 7)
    inj.expect("PAT.ATTACHMENT.NONE", p.pid[none], "")
    # ATT.METHOD.INVALID
    k, v = variants(inj.k_pat, 5)
    p = inj.people(k)
    p.att = p.att.with_columns(S("attach_method", _arr(("0", "4", "", "01", "1 "), k)))
    inj.emit_people(p)
    inj.expect("ATT.METHOD.INVALID", p.att["attachment_id"], p.mo)
    # ATT.DOCTOR.SNILS: empty, spaces, wrong check number, a number <= 001-001-998
    k, v = variants(inj.k_pat, 4)
    p = inj.people(k)
    body = ctx.doctor_snils.take(k)
    wrong = snils_text(body, 0, (snils_check(body) + 7) % 100)
    spaced = snils_text(body, 0).str.replace_all("-", " ", literal=True)
    low = snils_text(np.full(k, 1_001_998), 0)
    p.att = p.att.with_columns(S("doctor_snils", pick_where(v, {0: "", 1: spaced.to_numpy(), 2: wrong.to_numpy(),
                                                                3: low.to_numpy()})))
    inj.emit_people(p)
    inj.expect("ATT.DOCTOR.SNILS", p.att["attachment_id"], p.mo)
    # ATT.PATIENT.ORPHAN (routed by the attachment's MO): 0 nobody's id; 1 a patient's id with a
    # leading zero (that patient has no attachment left); 2 nobody's id at an unknown MO; 3 empty id
    k, v = variants(inj.k_pat, 4)
    p = inj.people(k, mo=np.where(np.arange(max(inj.k_pat, 4)) % 4 == 2, _arr(inj.w.mos.unknown, max(inj.k_pat, 4)),
                                  mos[rng.integers(0, len(mos), max(inj.k_pat, 4))]))
    who = pick_where(v, {0: inj.orphan_ids(k), 1: np.char.add("0", p.pid.astype(str)), 2: inj.orphan_ids(k), 3: ""})
    att = p.att.with_columns(
        S("patient_id", who),
        S("attach_date", np.where(v == 3, iso(np.full(k, d0 - 900)), p.att["attach_date"].to_numpy())),
        S("detach_date", np.where(v == 3, iso(np.full(k, d0 - 100)), "")))
    keep = v == 1
    inj.emit("patients", p.pat.filter(pl.Series(keep)))
    inj.emit("policies", p.pol.filter(pl.Series(keep)))
    inj.emit("attachments", att)
    route = inj.known(p.mo)
    inj.expect("ATT.PATIENT.ORPHAN", att["attachment_id"], route)
    inj.expect("ATT.MO.UNKNOWN", att["attachment_id"].to_numpy()[v == 2], "")
    inj.expect("PAT.ATTACHMENT.NONE", p.pid[keep], "")


