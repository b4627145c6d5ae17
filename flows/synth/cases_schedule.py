"""Defect cases of slots and doctors (SCH.*), including SCH.HORIZON.EMPTY on dedicated pairs."""
from __future__ import annotations

import numpy as np
import polars as pl

from flows.synth.injector import DAY, Injector, _arr, iso, pick_where, variants, weekday_back

from flows.synth.identifiers import snils_check, snils_text
from flows.synth.region import ENDED_SPECIALTIES, UNKNOWN_SPECIALTIES
from flows.synth.textfmt import ts_text

def _future_rows(nd: int, per: int) -> tuple[np.ndarray, np.ndarray]:
    """(doctor index, slot index) for per slots of each of nd doctors."""
    return np.repeat(np.arange(nd), per), np.tile(np.arange(per), nd)


def slot_codes(inj: Injector) -> None:
    rng, d0, t0 = inj.rng, inj.ctx.d0, inj.ctx.t0
    mos = inj.clean_mos
    # SCH.MO.UNKNOWN: three future slots (free, booked, blocked) at an unknown or excluded MO, and a
    # past one there (not checked)
    k, v = variants(max(4, inj.k_slot // 3), 4)
    clean = mos[rng.integers(0, len(mos), k)].astype(str)
    mo = pick_where(v, {0: _arr(inj.w.mos.unknown, k), 1: _arr(inj.w.mos.excluded, k),
                        2: np.char.add(" ", clean), 3: ""})
    doc = inj.doctors(k, mo=mo, spec="76")
    di, j = _future_rows(k, 3)
    fut = inj.slots(doc, di, j, status=_arr(("free", "booked", "blocked"), 3 * k))
    past = inj.slots(doc, np.arange(k), start=weekday_back(d0, 2) * DAY + 10 * 3600, status="booked")
    inj.emit("slots", pl.concat([fut, past]))
    inj.expect("SCH.MO.UNKNOWN", fut["slot_id"], inj.known(doc["mo"][di]))
    # SCH.SPECIALTY.UNKNOWN: ended in V021 or never a V021 code (exact text)
    specs = ENDED_SPECIALTIES + UNKNOWN_SPECIALTIES
    k, v = variants(max(4, inj.k_slot // 3), len(specs))
    doc = inj.doctors(k, mo=mos[rng.integers(0, len(mos), k)], spec=_arr(specs, k))
    di, j = _future_rows(k, 3)
    fut = inj.slots(doc, di, j, status=_arr(("free", "booked", "blocked"), 3 * k))
    past = inj.slots(doc, np.arange(k), start=weekday_back(d0, 3) * DAY + 11 * 3600, status="blocked")
    inj.emit("slots", pl.concat([fut, past]))
    inj.expect("SCH.SPECIALTY.UNKNOWN", fut["slot_id"], doc["mo"][di])
    # SCH.SLOT.INVALID: a valid free slot, then the invalid one
    k, v = variants(inj.k_slot, 12)
    doc = inj.doctors(k)
    ok = inj.slots(doc, np.arange(k), np.zeros(k, dtype=np.int64), status="free")
    start = np.where(v == 11, weekday_back(d0, 3) * DAY + 10 * 3600, doc["day"] * DAY + 9 * 3600 + 1200)
    st_iso = ts_text(start, 0).to_numpy().astype(object)
    day_iso = iso(start // DAY)
    status = pick_where(v, {0: "blocked", 1: "booked", 2: "free", 3: "blocked", 4: "free", 5: "booked",
                            6: "Free", 7: "", 8: "cancelled", 9: "booked", 10: "free", 11: "free"})
    patient = np.where((status == "booked") | (v == 10), inj.book(doc["mo"]), "")
    patient = np.where(v == 9, "", patient)
    bad = inj.slots(
        doc, np.arange(k), start=start, status=status, patient=patient,
        slot_start=pick_where(v, {0: "", 4: np.char.add(ts_text(start, 1).to_numpy().astype(str), "+03:00"),
                                  5: np.char.add(day_iso.astype(str), " 9:20"), **{i: st_iso for i in (1, 2, 3, 6, 7, 8, 9, 10, 11)}}),
        slot_end=pick_where(v, {1: np.char.add(day_iso.astype(str), " 24:00"), 2: st_iso, 11: st_iso,
                                3: ts_text(start - 1200, 0).to_numpy(),
                                **{i: ts_text(start + 1200, 0).to_numpy() for i in (0, 4, 5, 6, 7, 8, 9, 10)}}))
    inj.emit("slots", pl.concat([ok, bad]))
    inj.expect("SCH.SLOT.INVALID", bad["slot_id"], doc["mo"])
    inj.expect("SCH.PAST.FREE", bad["slot_id"].to_numpy()[v == 11], doc["mo"][v == 11])
    # SCH.PAST.FREE: one minute before as_of, yesterday, two weeks ago
    k, v = variants(inj.k_slot, 3)
    doc = inj.doctors(k)
    ok = inj.slots(doc, np.arange(k), status="free")
    start = pick_where(v, {0: t0 - 60, 1: weekday_back(d0, 1) * DAY + 10 * 3600,
                           2: weekday_back(d0, 14) * DAY + 15 * 3600}).astype(np.int64)
    past = inj.slots(doc, np.arange(k), start=start, status="free")
    inj.emit("slots", pl.concat([ok, past]))
    inj.expect("SCH.PAST.FREE", past["slot_id"], doc["mo"])
    # SCH.DOCTOR.INACTIVE: future free slots of a doctor whose status (read per row) is not 'active'
    k, v = variants(max(3, inj.k_slot // 2), 5)
    doc = inj.doctors(k)
    di, j = _future_rows(k, 4)
    vs = v[di]
    row_status = np.where(vs == 4, _arr(("active", "on_leave", "on_leave", "active"), 4 * k),
                          pick_where(vs, {0: "on_leave", 1: "dismissed", 2: "Active", 3: ""}))
    slot_status = _arr(("free", "free", "booked", "blocked"), 4 * k)
    rows = inj.slots(doc, di, j, status=slot_status, doctor_status=row_status)
    inj.emit("slots", rows)
    hit = (slot_status == "free") & (row_status != "active")
    inj.expect("SCH.DOCTOR.INACTIVE", rows["slot_id"].to_numpy()[hit], doc["mo"][di][hit])
    # SCH.OVERLAP (not both booked, neither blocked): free/free, free/booked (same times),
    # booked/free, free/'Free' (an invalid status is not 'blocked': overlaps, and is invalid)
    k, v = variants(max(4, inj.k_slot // 2), 4)
    doc = inj.doctors(k)
    at10 = doc["day"] * DAY + 10 * 3600
    a = inj.slots(doc, np.arange(k), start=at10, dur=np.where(v == 2, 1800, 1200),
                  status=np.where(v == 2, "booked", "free"))
    b = inj.slots(doc, np.arange(k), start=at10 + pick_where(v, {0: 600, 1: 0, 2: 900, 3: 600}).astype(np.int64),
                  status=pick_where(v, {0: "free", 1: "booked", 2: "free", 3: "Free"}))
    inj.emit("slots", pl.concat([a, b]))
    inj.expect("SCH.OVERLAP", a["slot_id"], doc["mo"])
    inj.expect("SCH.OVERLAP", b["slot_id"], doc["mo"])
    inj.expect("SCH.SLOT.INVALID", b["slot_id"].to_numpy()[v == 3], doc["mo"][v == 3])
    # SCH.DOUBLE_BOOKING: two patients in overlapping slots; 2: the second patient does not exist
    k, v = variants(max(3, inj.k_slot // 2), 3)
    doc = inj.doctors(k)
    n = len(inj.book_ids)
    first = rng.integers(0, n, k)
    p1, p2 = inj.book_ids[first], inj.book_ids[(first + 1) % n]
    p2 = np.where(v == 2, inj.orphan_ids(k), p2)
    at10 = doc["day"] * DAY + 10 * 3600
    a = inj.slots(doc, np.arange(k), start=at10, status="booked", patient=p1)
    b = inj.slots(doc, np.arange(k), start=at10 + pick_where(v, {0: 0, 1: 900, 2: 600}).astype(np.int64),
                  status="booked", patient=p2)
    inj.emit("slots", pl.concat([a, b]))
    inj.expect("SCH.DOUBLE_BOOKING", a["slot_id"], doc["mo"])
    inj.expect("SCH.DOUBLE_BOOKING", b["slot_id"], doc["mo"])
    inj.expect("SCH.BOOKED.ORPHAN", b["slot_id"].to_numpy()[v == 2], doc["mo"][v == 2])
    # SCH.BOOKED.ORPHAN: nobody's id, a patient's id with a trailing space or leading zero; a past
    # booking of nobody (not checked)
    k, v = variants(inj.k_slot, 3)
    doc = inj.doctors(k)
    real = inj.book(doc["mo"]).astype(str)
    ghost = pick_where(v, {0: inj.orphan_ids(k), 1: np.char.add(real, " "), 2: np.char.add("0", real)})
    ok = inj.slots(doc, np.arange(k), np.zeros(k, dtype=np.int64), status="free")
    orphan = inj.slots(doc, np.arange(k), np.ones(k, dtype=np.int64), status="booked", patient=ghost)
    past = inj.slots(doc, np.arange(k), start=weekday_back(d0, 4) * DAY + 12 * 3600, status="booked",
                     patient=inj.orphan_ids(k))
    inj.emit("slots", pl.concat([ok, orphan, past]))
    inj.expect("SCH.BOOKED.ORPHAN", orphan["slot_id"], doc["mo"])


def doctor_codes(inj: Injector) -> None:
    ctx, rng, t0 = inj.ctx, inj.rng, inj.ctx.t0
    mos = inj.clean_mos
    y, m, d = ctx.D.year, ctx.D.month, ctx.D.day
    # SCH.STALE: 0 updated three days ago; 1 nothing parseable; 2 latest a minute past the limit;
    # 3 one unparseable and the rest old; 4-6 routing: most frequent MO of the future slots
    # (4: a 2-2 tie -> the smaller code; 5: 3 vs 1; 6: mostly an unknown MO -> unassigned)
    k, v = variants(inj.k_doc, 7)
    doc = inj.doctors(k)
    ia = rng.integers(0, len(mos) - 1, k)
    mo_a, mo_b = mos[ia], mos[ia + 1]  # mo_a < mo_b (sorted)
    unknown = _arr(inj.w.mos.unknown, k)
    layouts = {0: ["own"] * 3, 1: ["own"] * 3, 2: ["own"] * 3, 3: ["own"] * 3,
               4: ["b", "b", "a", "a"], 5: ["b", "b", "b", "a"], 6: ["u", "u", "a"]}
    di = np.concatenate([[i] * len(layouts[v[i]]) for i in range(k)])  # loop over case doctors
    where = np.concatenate([layouts[v[i]] for i in range(k)])
    j = np.concatenate([np.arange(len(layouts[v[i]])) for i in range(k)])
    slot_mo = np.select([where == "a", where == "b", where == "u"], [mo_a[di], mo_b[di], unknown[di]], doc["mo"][di])
    first_in_mo = np.concatenate([[True], (slot_mo[1:] != slot_mo[:-1]) | (di[1:] != di[:-1])])
    status = np.where(first_in_mo, "free", np.where(j % 2 == 0, "blocked", "booked"))
    vd = v[di]
    old = ts_text(t0 - 3 * DAY - rng.integers(0, 3600, len(di)), rng.choice([1, 3, 5], len(di))).to_numpy()
    unparseable = _arr((f"{d}.{m}.{y} 7:00", "", f"{y}-{m:02d}-{d:02d}T23:00:00Z"), len(di))
    just = ts_text(t0 - DAY - 60 - j * 3600, 3).to_numpy()
    upd = np.where(vd == 1, unparseable, np.where(vd == 2, just, np.where((vd == 3) & (j == 0), "", old)))
    rows = inj.slots(doc, di, j, status=status, mo_code=slot_mo, updated_at=upd)
    inj.emit("slots", rows)
    route = pick_where(v, {**{i: doc["mo"] for i in range(4)}, 4: mo_a, 5: mo_b, 6: ""})
    inj.expect("SCH.STALE", doc["id"], route)
    inj.expect("SCH.MO.UNKNOWN", rows["slot_id"].to_numpy()[where == "u"], "")
    # SCH.DOCTOR.SNILS: empty on every row; a letter O on one row; wrong check number; a number
    # <= 001-001-998 on one row; 4: a 2-2 MO tie routes to the smaller code
    k, v = variants(inj.k_doc, 5)
    doc = inj.doctors(k)
    ia = rng.integers(0, len(mos) - 1, k)
    mo_a, mo_b = mos[ia], mos[ia + 1]
    per = np.where(v == 4, 4, 3)
    di = np.repeat(np.arange(k), per)
    j = np.arange(len(di)) - np.repeat(np.cumsum(per) - per, per)
    vd = v[di]
    slot_mo = np.where(vd == 4, np.where(j < 2, mo_b[di], mo_a[di]), doc["mo"][di])
    status = np.where((j == 0) | ((vd == 4) & (j == 2)), "free", "booked")
    good = doc["snils"][di].astype(str)
    body = np.array([int(s.replace("-", "").replace(" ", "")[:9]) for s in doc["snils"].astype(str)])  # per doctor
    wrong = snils_text(body, 0, (snils_check(body) + 3) % 100).to_numpy()[di]
    letter = np.array([s[:5] + "O" + s[6:] for s in good], dtype=object)
    low = snils_text(np.full(len(di), 1_001_998), 0).to_numpy()
    snils = np.select([vd == 0, (vd == 1) & (j == 1), vd == 2, (vd == 3) & (j == 2), (vd == 4) & (j == 3)],
                      ["", letter, wrong, low, ""], good)
    rows = inj.slots(doc, di, j, status=status, mo_code=slot_mo, doctor_snils=snils)
    inj.emit("slots", rows)
    inj.expect("SCH.DOCTOR.SNILS", doc["id"], np.where(v == 4, mo_a, doc["mo"]))


def horizon(inj: Injector) -> None:
    """SCH.HORIZON.EMPTY on pairs nobody else uses (a clean MO with a reserve specialty)."""
    d0, t0 = inj.ctx.d0, inj.ctx.t0
    k, v = variants(inj.k_pair, 7)
    take = [inj.reserve.pop() if x != 3 else inj.reserve_excluded.pop() for x in v]  # loop over pairs
    pair_mo = np.array([t[0] for t in take], dtype=object)
    pair_spec = np.array([t[1] for t in take], dtype=object)
    doc = inj.doctors(k, mo=pair_mo, spec=pair_spec)
    helper = inj.doctors(k, mo=pair_mo, spec=pair_spec)  # a second doctor where a variant needs one
    parts = []
    di, j = _future_rows(k, 3)
    vd = v[di]
    status = np.where(vd == 1, "blocked", np.where(j == 1, "blocked", "booked"))
    busy = inj.slots(doc, di, j, status=status,
                     doctor_status=np.where(vd == 6, "on_leave", "active"))
    parts.append(busy)
    # free slots outside the horizon: exactly as_of + 14 days (the end is excluded), and later
    late = np.isin(v, (0, 1))
    idx = np.flatnonzero(late)
    parts.append(inj.slots(doc, idx, start=np.full(len(idx), t0 + 14 * DAY), status="free"))
    parts.append(inj.slots(doc, idx, start=(d0 + 16) * DAY + 10 * 3600 + np.zeros(len(idx), dtype=np.int64),
                           status="free"))
    # 2: a second doctor on leave with blocked slots; 5: a second doctor on leave with a free slot
    idx2 = np.flatnonzero(v == 2)
    parts.append(inj.slots(helper, idx2, np.full(len(idx2), 5), status="blocked", doctor_status="on_leave"))
    idx5 = np.flatnonzero(v == 5)
    inactive = inj.slots(helper, idx5, np.full(len(idx5), 5), status="free", doctor_status="on_leave")
    parts.append(inactive)
    # 4: the pair's only free slot is in the past
    idx4 = np.flatnonzero(v == 4)
    past = inj.slots(doc, idx4, start=weekday_back(d0, 2) * DAY + 10 * 3600 + np.zeros(len(idx4), dtype=np.int64),
                     status="free")
    parts.append(past)
    inj.emit("slots", pl.concat(parts))
    fires = ~np.isin(v, (5, 6))
    route = inj.known(pair_mo)
    inj.expect("SCH.HORIZON.EMPTY", np.char.add(np.char.add(pair_mo[fires].astype(str), "/"), pair_spec[fires].astype(str)),
               route[fires])
    inj.expect("SCH.MO.UNKNOWN", busy["slot_id"].to_numpy()[vd == 3], route[di][vd == 3])
    inj.expect("SCH.PAST.FREE", past["slot_id"], pair_mo[idx4])
    inj.expect("SCH.DOCTOR.INACTIVE", inactive["slot_id"], pair_mo[idx5])


