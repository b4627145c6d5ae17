"""File-level defect cases (ROW.MALFORMED, ROW.DUPLICATE_ID) and zero-finding edge records."""
from __future__ import annotations

import numpy as np
import polars as pl

from flows.synth.injector import DAY, S, Injector, _arr, iso, latinize, variants, weekday_back

from flows.synth.textfmt import ts_text

def _after(order: np.ndarray, n: int, rng) -> np.ndarray:
    """Order keys strictly after `order` (a later line of the file)."""
    return order + (n + 1 - order) * (0.05 + 0.95 * rng.random(len(order)))


def malformed(inj: Injector) -> None:
    """ROW.MALFORMED (unassigned; record id <file>:<line>), with what losing the record implies."""
    d0 = inj.ctx.d0
    k = inj.k_file
    if "patients" not in inj.parquet:
        # the patient disappears: its policy and attachment become orphans, its booking too
        p = inj.people(k)
        pat, keys = inj.malformed(p.pat, ("raw_delimiter", "unclosed_quote", "text_after_quote", "drop_field",
                                          "extra_field"), ("last_name", "first_name", "middle_name", "", ""))
        doc = inj.doctors(k)
        free = inj.slots(doc, np.arange(k), np.zeros(k, dtype=np.int64), status="free")
        booked = inj.slots(doc, np.arange(k), np.ones(k, dtype=np.int64), status="booked", patient=p.pid)
        inj.emit("patients", pat)
        inj.emit_people(p, pat=False)
        inj.emit("slots", pl.concat([free, booked]))
        inj.expect("ROW.MALFORMED", keys, "")
        inj.expect("POL.PATIENT.ORPHAN", p.pol["policy_id"], "")
        inj.expect("ATT.PATIENT.ORPHAN", p.att["attachment_id"], p.mo)
        inj.expect("SCH.BOOKED.ORPHAN", booked["slot_id"], doc["mo"])
    if "policies" not in inj.parquet:
        # 0: the patient's only policy (-> PAT.POLICY.NONE); 1: an old one beside the current policy
        kk, v = variants(k, 2)
        p = inj.people(kk)
        old = inj.extra_policies(p, date_begin=iso(np.full(kk, d0 - 3000)), date_end=iso(np.full(kk, d0 - 1000)))
        lost = pl.concat([p.pol.filter(pl.Series(v == 0)), old.filter(pl.Series(v == 1))])
        lost, keys = inj.malformed(lost, ("drop_field", "extra_field", "bad_bytes", "unclosed_quote", "text_after_quote"),
                                   ("", "", "policy_series", "smo_code", "okato"))
        inj.emit_people(p, pol=False)
        inj.emit("policies", lost)
        inj.emit("policies", p.pol.filter(pl.Series(v == 1)))
        inj.expect("ROW.MALFORMED", keys, "")
        inj.expect("PAT.POLICY.NONE", p.pid[v == 0], p.mo[v == 0])
    if "attachments" not in inj.parquet:
        # 0: the patient's only attachment (-> PAT.ATTACHMENT.NONE); 1: an old detached one
        kk, v = variants(k, 2)
        p = inj.people(kk)
        old = inj.extra_attachments(p, attach_date=iso(np.full(kk, d0 - 3000)), detach_date=iso(np.full(kk, d0 - 2500)))
        lost = pl.concat([p.att.filter(pl.Series(v == 0)), old.filter(pl.Series(v == 1))])
        lost, keys = inj.malformed(lost, ("drop_field", "extra_field", "unclosed_quote", "raw_delimiter",
                                          "text_after_quote"), ("", "", "mo_code", "area_name", "attach_method"))
        inj.emit_people(p, att=False)
        inj.emit("attachments", lost)
        inj.emit("attachments", p.att.filter(pl.Series(v == 1)))
        inj.expect("ROW.MALFORMED", keys, "")
        inj.expect("PAT.ATTACHMENT.NONE", p.pid[v == 0], "")
    if "slots" not in inj.parquet:
        doc = inj.doctors(k)
        free = inj.slots(doc, np.arange(k), np.zeros(k, dtype=np.int64), status="free")
        lost = inj.slots(doc, np.arange(k), np.ones(k, dtype=np.int64), status="booked")
        lost, keys = inj.malformed(lost, ("unclosed_quote", "text_after_quote", "drop_field", "extra_field",
                                          "raw_delimiter"), ("doctor_name", "status", "", "", "doctor_name"))
        inj.emit("slots", free)
        inj.emit("slots", lost)
        inj.expect("ROW.MALFORMED", keys, "")


def duplicates(inj: Injector) -> None:
    """ROW.DUPLICATE_ID: later rows with an id already seen are quarantined (whatever they say) and
    the finding is routed by the entity's rule applied to the first occurrence."""
    rng, d0 = inj.rng, inj.ctx.d0
    k, v = variants(inj.k_file, 3)
    n = inj.n_rows
    # patients: 0 an exact copy; 1 a copy with a Latin letter and another patient's SNILS; 2 three rows
    p = inj.people(k)
    first = p.pat.with_columns(pl.Series("_order", rng.random(k) * n["patients"]))
    second = first.with_columns(pl.Series("_order", _after(first["_order"].to_numpy(), n["patients"], rng)))
    theirs = inj.clean_snils.gather(rng.integers(0, len(inj.clean_snils), k))
    second = second.with_columns(
        pl.when(pl.Series(v == 1)).then(latinize(pl.col("last_name"))).otherwise(pl.col("last_name")).alias("last_name"),
        pl.when(pl.Series(v == 1)).then(theirs).otherwise(pl.col("snils")).alias("snils"))
    third = second.filter(pl.Series(v == 2))
    third = third.with_columns(pl.Series("_order", _after(third["_order"].to_numpy(), n["patients"], rng)))
    inj.emit("patients", pl.concat([first, second, third]))
    inj.emit_people(p, pat=False)
    inj.expect("ROW.DUPLICATE_ID", p.pid, p.mo)
    # policies: 0 exact; 1 a copy that would be a second active policy with a bad ENP
    k, v = variants(inj.k_file, 2)
    p = inj.people(k)
    first = p.pol.with_columns(pl.Series("_order", rng.random(k) * n["policies"]))
    second = first.with_columns(pl.Series("_order", _after(first["_order"].to_numpy(), n["policies"], rng)))
    bad_enp = second["enp"].str.slice(0, 15) + ((second["enp"].str.slice(15, 1).cast(pl.Int64) + 1) % 10).cast(pl.String)
    second = second.with_columns(
        pl.when(pl.Series(v == 1)).then(bad_enp).otherwise(pl.col("enp")).alias("enp"),
        pl.when(pl.Series(v == 1)).then(pl.lit(iso(d0 - 5)[0])).otherwise(pl.col("date_begin")).alias("date_begin"))
    inj.emit("policies", pl.concat([first, second]))
    inj.emit_people(p, pol=False)
    inj.expect("ROW.DUPLICATE_ID", p.pol["policy_id"], p.mo)
    # attachments: 0 exact; 1 a copy to an unknown MO with a bad method; 2 the first occurrence is
    # at an excluded MO (routed there, and ATT.MO.EXCLUDED on it)
    k, v = variants(inj.k_file, 3)
    mos = inj.clean_mos
    p = inj.people(k, mo=np.where(v == 2, _arr(inj.w.mos.excluded, k), mos[rng.integers(0, len(mos), k)]))
    first = p.att.with_columns(pl.Series("_order", rng.random(k) * n["attachments"]))
    second = first.with_columns(
        pl.Series("_order", _after(first["_order"].to_numpy(), n["attachments"], rng)),
        S("mo_code", np.where(v == 1, _arr(inj.w.mos.unknown, k), p.mo)),
        S("attach_method", np.where(v == 1, "9", "1")))
    inj.emit("attachments", pl.concat([first, second]))
    inj.emit_people(p, att=False)
    inj.expect("ROW.DUPLICATE_ID", p.att["attachment_id"], p.mo)
    inj.expect("ATT.MO.EXCLUDED", p.att["attachment_id"].to_numpy()[v == 2], p.mo[v == 2])
    # slots: 0 exact; 1 a copy booked by someone else at an overlapping time; 2 first occurrence at
    # an excluded MO
    k, v = variants(inj.k_file, 3)
    ex = _arr(inj.w.mos.excluded, k)
    doc = inj.doctors(k)
    doc["mo"] = np.where(v == 2, ex, doc["mo"])
    doc["spec"] = np.where(v == 2, "76", doc["spec"])
    free = inj.slots(doc, np.arange(k), np.zeros(k, dtype=np.int64), status="free")
    first = inj.slots(doc, np.arange(k), np.ones(k, dtype=np.int64), status="booked")
    first = first.with_columns(pl.Series("_order", rng.random(k) * n["slots"]))
    other = inj.book(np.full(k, "any"))
    later = doc["day"] * DAY + 9 * 3600 + 1200 + 600
    second = first.with_columns(
        pl.Series("_order", _after(first["_order"].to_numpy(), n["slots"], rng)),
        pl.when(pl.Series(v == 1)).then(S("p", other)).otherwise(pl.col("patient_id")).alias("patient_id"),
        pl.when(pl.Series(v == 1)).then(ts_text(later, 0)).otherwise(pl.col("slot_start")).alias("slot_start"),
        pl.when(pl.Series(v == 1)).then(ts_text(later + 1200, 0)).otherwise(pl.col("slot_end")).alias("slot_end"))
    inj.emit("slots", free)
    inj.emit("slots", pl.concat([first, second]))
    inj.expect("ROW.DUPLICATE_ID", first["slot_id"], inj.known(doc["mo"]))
    ex_rows = v == 2
    inj.expect("SCH.MO.UNKNOWN", free["slot_id"].to_numpy()[ex_rows], doc["mo"][ex_rows])
    inj.expect("SCH.MO.UNKNOWN", first["slot_id"].to_numpy()[ex_rows], doc["mo"][ex_rows])


def edges(inj: Injector) -> None:
    """Records on the edge of a rule that must produce no finding at all."""
    d0, t0 = inj.ctx.d0, inj.ctx.t0
    k = 5
    # a policy ending on D and an attachment detached on D + 1 are both active
    p = inj.people(k)
    p.pol = p.pol.with_columns(S("date_end", iso(np.full(k, d0))))
    p.att = p.att.with_columns(S("detach_date", iso(np.full(k, d0 + 1))))
    inj.emit_people(p)
    doc = inj.doctors(8 * k)
    r = np.arange(k)
    parts = [
        # a free slot starting exactly at as_of is future and inside the horizon
        inj.slots(doc, r, start=np.full(k, t0), status="free"),
        # latest update exactly as_of - 24 h is not stale
        inj.slots(doc, r + k, np.zeros(k, dtype=np.int64), status="free",
                  updated_at=ts_text(np.full(k, t0 - DAY), 3)),
        inj.slots(doc, r + k, np.ones(k, dtype=np.int64), status="booked",
                  updated_at=ts_text(np.full(k, t0 - 2 * DAY), 1)),
        # one recent parseable update is enough
        inj.slots(doc, r + 2 * k, np.zeros(k, dtype=np.int64), status="free", updated_at=""),
        inj.slots(doc, r + 2 * k, np.ones(k, dtype=np.int64), status="blocked"),
        # the same patient twice in one slot: not a double booking, and both booked: no overlap
        *(lambda pid: [inj.slots(doc, r + 3 * k, np.ones(k, dtype=np.int64), status="booked", patient=pid),
                       inj.slots(doc, r + 3 * k, np.ones(k, dtype=np.int64), status="booked", patient=pid),
                       inj.slots(doc, r + 3 * k, np.zeros(k, dtype=np.int64), status="free")])(inj.book(doc["mo"][r + 3 * k])),
        # adjacent [10:00, 10:20) and [10:20, 10:40) do not overlap; blocked never overlaps
        inj.slots(doc, r + 4 * k, np.zeros(k, dtype=np.int64), status="free"),
        inj.slots(doc, r + 4 * k, np.ones(k, dtype=np.int64), status="free"),
        inj.slots(doc, r + 5 * k, np.zeros(k, dtype=np.int64), status="free"),
        inj.slots(doc, r + 5 * k, np.zeros(k, dtype=np.int64), start=doc["day"][r + 5 * k] * DAY + 9 * 3600 + 600,
                  status="blocked"),
        # a bad doctor SNILS on a past slot only is not checked
        inj.slots(doc, r + 6 * k, np.zeros(k, dtype=np.int64), status="free"),
        inj.slots(doc, r + 6 * k, start=weekday_back(d0, 5) * DAY + 9 * 3600, status="booked", doctor_snils="123"),
    ]
    inj.emit("slots", pl.concat(parts))

