"""A deliberately naive, row-by-row reading of the check catalogue (issue 3; v1.2 of issue 12: the
insured-persons register, linking tiers, REG codes, suggested values, routing change), for small
regions only.

It shares no code with the generator or with Talon's checks: files are read with the csv module,
dates with strptime, identifiers with plain arithmetic, every rule written as directly as the
catalogue states it. The generator's ground truth must equal what this finds, which shows that the
truth follows the catalogue and not the generator's own intentions.
"""
from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree  # our own synthetic or the published files; test-only

ID = {"patients": "patient_id", "policies": "policy_id", "attachments": "attachment_id", "slots": "slot_id",
      "registry": "enp"}
REGISTRY = ("enp", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils", "smo_code",
            "policy_begin", "policy_end", "death_date", "attach_mo_code", "attach_date")
# the catalogue's other spellings of registry.csv's header names (any letter case, trimmed)
ALIASES = {"fam": "last_name", "im": "first_name", "ot": "middle_name", "dr": "birth_date", "w": "sex",
           "ss": "snils", "smo": "smo_code", "dbeg": "policy_begin", "dend": "policy_end",
           "lpu": "attach_mo_code", "code_mo": "attach_mo_code", "lpudt": "attach_date",
           "date_attach": "attach_date"}
ENTITY = {"patients": "patient", "policies": "policy", "attachments": "attachment", "slots": "slot"}

_DATE = [(re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "%Y-%m-%d"), (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}"), "%d.%m.%Y")]
_TS = [(re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}"), None),
       (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"), None),
       (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}"), "%d.%m.%Y %H:%M"),
       (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}"), "%d.%m.%Y %H:%M:%S")]
NAME = re.compile(r"[А-Яа-яЁё]+([ '-][А-Яа-яЁё]+)*")
SNILS_FORMS = (re.compile(r"[0-9]{11}"), re.compile(r"[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2}"))


def pdate(s: str) -> date | None:
    for rx, fmt in _DATE:
        if rx.fullmatch(s):
            try:
                return datetime.strptime(s, fmt).date()
            except ValueError:
                return None
    return None


def pts(s: str) -> datetime | None:
    for rx, fmt in _TS:
        if rx.fullmatch(s):
            if fmt is None:
                fmt = "%Y-%m-%d" + s[10] + ("%H:%M:%S" if len(s) == 19 else "%H:%M")
            try:
                return datetime.strptime(s, fmt)
            except ValueError:
                return None
    return None


def snils_state(s: str) -> str:
    """'missing', 'format', 'checksum' or 'valid'."""
    if s == "":
        return "missing"
    if not any(rx.fullmatch(s) for rx in SNILS_FORMS):
        return "format"
    digits = s.replace("-", "").replace(" ", "")
    body, check = digits[:9], int(digits[9:])
    if int(body) <= 1001998:
        return "checksum"
    total = sum(int(d) * (9 - i) for i, d in enumerate(body))
    if total < 100:
        expected = total
    elif total in (100, 101):
        expected = 0
    else:
        expected = total % 101
        if expected == 100:
            expected = 0
    return "valid" if expected == check else "checksum"


def snils_digits(s: str) -> str:
    return s.replace("-", "").replace(" ", "")


def luhn_ok(s: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# --- reading ---------------------------------------------------------------------------------------

def read_file(path: Path):
    """(records in file order: list of (line_no, dict)), malformed line numbers, duplicate ids with
    their first record. Quarantine per reading 5 and 6."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        table = pq.read_table(path).to_pylist()
        rows = [(i + 1, {k: ("" if v is None else v) for k, v in r.items()}) for i, r in enumerate(table)]
        return _dedupe(path.stem, rows, [])
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        enc, data = "utf-8", data[3:]
    else:
        try:
            data.decode("utf-8")
            enc = "utf-8"
        except UnicodeDecodeError:
            enc = "cp1251"
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    header_text = raw_lines[0].decode(enc)
    delim = ";" if header_text.count(";") > header_text.count(",") else ","
    header = next(csv.reader([header_text], delimiter=delim, strict=True))
    if path.stem == "registry":
        header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    rows, malformed = [], []
    for i, raw in enumerate(raw_lines[1:]):
        line_no = i + 2
        try:
            text = raw.decode(enc)
            fields = next(csv.reader([text], delimiter=delim, strict=True))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            malformed.append(line_no)
            continue
        if len(fields) != len(header):
            malformed.append(line_no)
            continue
        rows.append((line_no, dict(zip(header, fields))))
    return _dedupe(path.stem, rows, malformed)


def _dedupe(stem, rows, malformed):
    key = ID[stem]
    seen, kept, dups = {}, [], {}
    for line_no, r in rows:
        if r[key] in seen:
            dups.setdefault(r[key], seen[r[key]])
            continue
        seen[r[key]] = r
        kept.append(r)
    return kept, malformed, dups


def _periods(el, tag):
    return [(pdate(p.findtext("d_begin") or ""), pdate(p.findtext("d_end") or "")) for p in el.findall(tag)]


def _excluded(periods, D):
    return all(e is not None and e < D for _, e in periods)


def _valid(rows, day):
    return any((b is None or b <= day) and (e is None or e >= day) for b, e in rows)


def read_reference(ref: Path, D: date):
    def zap_rows(name, key):
        out = defaultdict(list)
        for z in ElementTree.parse(ref / name).getroot().iter("zap"):
            out[z.findtext(key)].append((pdate(z.findtext("DATEBEG") or ""), pdate(z.findtext("DATEEND") or "")))
        return out

    mos = defaultdict(list)
    for mc in ElementTree.parse(ref / "F003.xml").getroot().iter("medCompany"):
        mos[mc.findtext("mcod")].extend(_periods(mc, "medInclude"))
    smos = defaultdict(list)
    for ic in ElementTree.parse(ref / "F002.xml").getroot().iter("insCompany"):
        smos[ic.findtext("smocod")].extend(_periods(ic, "insInclude"))
    kod_tf = defaultdict(set)
    for z in ElementTree.parse(ref / "F010.xml").getroot().iter("zap"):
        if _valid([(pdate(z.findtext("DATEBEG") or ""), pdate(z.findtext("DATEEND") or ""))], D):
            kod_tf[z.findtext("KOD_OKATO")].add(z.findtext("KOD_TF"))
    f008 = {k for k, rows in zap_rows("F008.xml", "IDDOC").items() if _valid(rows, D)}
    return ({m: _excluded(p, D) for m, p in mos.items()}, {s: _excluded(p, D) for s, p in smos.items()},
            f008, kod_tf, zap_rows("V021.xml", "IDSPEC"))


# --- the catalogue -----------------------------------------------------------------------------------

def run_oracle(extract: Path, reference: Path, as_of: datetime, stale_hours: int = 24,
               horizon_days: int = 14, registry: bool = True) -> set[tuple[str, str, str, str]]:
    """Findings as (check_code, record_id, mo_code or "", suggested_value or ""). registry=False
    reads the extract as if registry.csv were not there."""
    extract, reference = Path(extract), Path(reference)
    D = as_of.date()
    mo_excl, smo_excl, f008, kod_tf, v021 = read_reference(reference, D)
    data, out = {}, set()
    route_dup = {}
    for stem in ID:
        path = next((p for p in (extract / f"{stem}.csv", extract / f"{stem}.parquet") if p.exists()), None)
        if stem == "registry" and (path is None or not registry):
            data[stem], route_dup[stem] = None, {}
            continue
        rows, malformed, dups = read_file(path)
        data[stem] = rows
        for line_no in malformed:
            out.add(("ROW.MALFORMED", f"{path.name}:{line_no}", "", ""))
        route_dup[stem] = dups
    P, POL, ATT, S = data["patients"], data["policies"], data["attachments"], data["slots"]
    patients = {p["patient_id"]: p for p in P}

    def known(mo):
        return mo in mo_excl

    def pol_active(r):
        b, e = pdate(r["date_begin"]), pdate(r["date_end"])
        return b is not None and b <= D and (r["date_end"] == "" or (e is not None and e >= D))

    def att_active(r):
        b, e = pdate(r["attach_date"]), pdate(r["detach_date"])
        return b is not None and b <= D and (r["detach_date"] == "" or (e is not None and e > D))

    active_att = defaultdict(list)
    for a in ATT:
        if att_active(a):
            active_att[a["patient_id"]].append(a)
    active_pol = defaultdict(list)
    for p in POL:
        if pol_active(p):
            active_pol[p["patient_id"]].append(p)

    def v11_mo(pid):
        cands = [a for a in active_att.get(pid, []) if known(a["mo_code"])]
        if pid not in patients or not cands:
            return ""
        latest = max(pdate(a["attach_date"]) for a in cands)
        return min((a for a in cands if pdate(a["attach_date"]) == latest), key=lambda a: a["attachment_id"])["mo_code"]

    link = link_patients(P, POL, data["registry"], pol_active) if data["registry"] is not None else {}

    def patient_mo(pid):
        """v1.1 routing; v1.2: a linked patient without a routing attachment goes to the register's
        attach_mo_code when F003 knows it and has not excluded it."""
        mo = v11_mo(pid)
        if mo == "" and pid in link:
            reg_mo = link[pid][0]["attach_mo_code"]
            if known(reg_mo) and not mo_excl[reg_mo]:
                return reg_mo
        return mo

    linked_to = defaultdict(list)
    for pid, (person, _) in link.items():
        linked_to[person["enp"]].append(pid)

    def suggestion(code, who):
        if who is None or who not in link:
            return ""
        r = link[who][0]
        deceased = pdate(r["death_date"]) is not None and pdate(r["death_date"]) <= D
        closed = pdate(r["policy_end"]) is not None and pdate(r["policy_end"]) < D
        dmy = lambda s: pdate(s).strftime("%d.%m.%Y") if pdate(s) is not None else ""  # noqa: E731
        if code in ("PAT.SNILS.MISSING", "PAT.SNILS.FORMAT", "PAT.SNILS.CHECKSUM", "REG.SNILS.MISMATCH"):
            if snils_state(r["snils"]) != "valid":
                return ""
            d = snils_digits(r["snils"])
            return f"{d[0:3]}-{d[3:6]}-{d[6:9]} {d[9:11]}"
        if code in ("PAT.NAME.INVALID", "REG.NAME.MISMATCH"):
            return " ".join(x for x in (r["last_name"], r["first_name"], r["middle_name"]) if x != "")
        if code in ("PAT.BIRTHDATE.INVALID", "REG.BIRTHDATE.MISMATCH"):
            return dmy(r["birth_date"])
        if code in ("POL.ENP.MISSING", "POL.ENP.FORMAT", "POL.ENP.CHECKSUM", "REG.POLICY.ENP"):
            return r["enp"]
        if code == "PAT.POLICY.NONE":
            return "" if deceased or closed else r["enp"]
        if code in ("PAT.ATTACHMENT.NONE", "ATT.MO.UNKNOWN", "ATT.MO.EXCLUDED", "REG.ATTACHMENT.MISMATCH"):
            return r["attach_mo_code"]
        if code == "REG.PERSON.DECEASED":
            return dmy(r["death_date"])
        if code == "REG.PATIENT.DUPLICATE":
            # only the other cards whose findings go to the same clinic (the steward: all)
            here = patient_mo(who)
            return ", ".join(sorted(x for x in linked_to[r["enp"]]
                                    if x != who and (not here or patient_mo(x) == here)))
        if code == "REG.POLICY.SMO":
            return r["smo_code"]
        if code == "REG.POLICY.CLOSED":
            return dmy(r["policy_end"])
        return ""

    def add(code, rid, mo, who=None):
        out.add((code, rid, mo or "", suggestion(code, who)))

    # patients
    valid_snils = defaultdict(list)
    for p in P:
        pid = p["patient_id"]
        mo = patient_mo(pid)
        st = snils_state(p["snils"])
        if st == "missing":
            add("PAT.SNILS.MISSING", pid, mo, pid)
        elif st == "format":
            add("PAT.SNILS.FORMAT", pid, mo, pid)
        elif st == "checksum":
            add("PAT.SNILS.CHECKSUM", pid, mo, pid)
        else:
            valid_snils[snils_digits(p["snils"])].append(pid)
        names = (p["last_name"], p["first_name"], p["middle_name"])
        if p["last_name"] == "" or p["first_name"] == "" or any(n != "" and not NAME.fullmatch(n) for n in names):
            add("PAT.NAME.INVALID", pid, mo, pid)
        b = pdate(p["birth_date"])
        if b is None or b > D or b < date(1900, 1, 1):
            add("PAT.BIRTHDATE.INVALID", pid, mo, pid)
        if p["sex"] not in ("1", "2"):
            add("PAT.SEX.INVALID", pid, mo, pid)
        if not active_pol.get(pid):
            add("PAT.POLICY.NONE", pid, mo, pid)
        elif not active_att.get(pid):
            add("PAT.ATTACHMENT.NONE", pid, mo, pid)
    for pids in valid_snils.values():
        if len(pids) > 1:
            for pid in pids:
                add("PAT.SNILS.DUPLICATE", pid, patient_mo(pid), pid)

    # policies
    for r in POL:
        rid, t = r["policy_id"], r["policy_type"]
        mo = patient_mo(r["patient_id"])
        if t not in f008:
            add("POL.TYPE.UNKNOWN", rid, mo, r["patient_id"])
        if t == "3" and r["enp"] == "":
            add("POL.ENP.MISSING", rid, mo, r["patient_id"])
        if r["enp"] != "" and not re.fullmatch(r"[0-9]{16}", r["enp"]):
            add("POL.ENP.FORMAT", rid, mo, r["patient_id"])
        if re.fullmatch(r"[0-9]{16}", r["enp"]) and not luhn_ok(r["enp"]):
            add("POL.ENP.CHECKSUM", rid, mo, r["patient_id"])
        if ((t == "2" and not re.fullmatch(r"[0-9]{9}", r["policy_number"]))
                or (t == "1" and (r["policy_series"] == "" or r["policy_number"] == ""))
                or (t in ("2", "3") and r["policy_series"] != "")):
            add("POL.NUMBER.FORMAT", rid, mo, r["patient_id"])
        if pol_active(r) and (r["smo_code"] not in smo_excl or smo_excl[r["smo_code"]]):
            add("POL.SMO.UNKNOWN", rid, mo, r["patient_id"])
        b, e = pdate(r["date_begin"]), pdate(r["date_end"])
        if b is None or (r["date_end"] != "" and e is None) or (e is not None and b is not None and e < b):
            add("POL.DATES.INVALID", rid, mo, r["patient_id"])
        if len(active_pol.get(r["patient_id"], [])) >= 2 and pol_active(r):
            add("POL.ACTIVE.MULTIPLE", rid, mo, r["patient_id"])
        if r["patient_id"] not in patients:
            add("POL.PATIENT.ORPHAN", rid, mo, r["patient_id"])

    # attachments
    for a in ATT:
        rid, mo_code, pid = a["attachment_id"], a["mo_code"], a["patient_id"]
        mo = mo_code if known(mo_code) else ""
        act = att_active(a)
        if act and not known(mo_code):
            add("ATT.MO.UNKNOWN", rid, mo, pid)
        if act and known(mo_code) and mo_excl[mo_code]:
            add("ATT.MO.EXCLUDED", rid, mo, pid)
        if act and known(mo_code):
            pols = active_pol.get(pid, [])
            if len(pols) == 1 and pols[0]["okato"] in kod_tf:
                if mo_code[:2] not in kod_tf[pols[0]["okato"]]:
                    add("ATT.POLICY.REGION", rid, mo)
        if act and len(active_att.get(pid, [])) >= 2:
            add("ATT.ACTIVE.MULTIPLE", rid, mo)
        b, e = pdate(a["attach_date"]), pdate(a["detach_date"])
        birth = pdate(patients[pid]["birth_date"]) if pid in patients else None
        if (b is None or b > D or (birth is not None and b < birth)
                or (a["detach_date"] != "" and e is None) or (e is not None and b is not None and e < b)):
            add("ATT.DATES.INVALID", rid, mo)
        if act and a["attach_method"] not in ("1", "2", "3"):
            add("ATT.METHOD.INVALID", rid, mo)
        if act and snils_state(a["doctor_snils"]) != "valid":
            add("ATT.DOCTOR.SNILS", rid, mo)
        if pid not in patients:
            add("ATT.PATIENT.ORPHAN", rid, mo)

    # slots
    horizon_end = as_of + timedelta(days=horizon_days)
    timed = []
    doctors = defaultdict(list)
    for s in S:
        rid, mo_code = s["slot_id"], s["mo_code"]
        mo = mo_code if known(mo_code) else ""
        start, end = pts(s["slot_start"]), pts(s["slot_end"])
        future = start is not None and start >= as_of
        time_ok = start is not None and end is not None and end > start
        if future and (not known(mo_code) or mo_excl[mo_code]):
            add("SCH.MO.UNKNOWN", rid, mo)
        if future and not (s["specialty_code"] in v021 and _valid(v021[s["specialty_code"]], start.date())):
            add("SCH.SPECIALTY.UNKNOWN", rid, mo)
        if (not time_ok or s["status"] not in ("free", "booked", "blocked")
                or (s["status"] == "booked" and s["patient_id"] == "")
                or (s["status"] == "free" and s["patient_id"] != "")):
            add("SCH.SLOT.INVALID", rid, mo)
        if s["status"] == "free" and start is not None and start < as_of:
            add("SCH.PAST.FREE", rid, mo)
        if future and s["status"] == "free" and s["doctor_status"] != "active":
            add("SCH.DOCTOR.INACTIVE", rid, mo)
        if future and s["status"] == "booked" and s["patient_id"] != "" and s["patient_id"] not in patients:
            add("SCH.BOOKED.ORPHAN", rid, mo)
        if future:
            doctors[s["doctor_id"]].append(s)
        if future and time_ok:
            timed.append((s, start, end))
    by_doc = defaultdict(list)
    for s, start, end in timed:
        by_doc[s["doctor_id"]].append((s, start, end))
    for items in by_doc.values():
        items.sort(key=lambda x: x[1])
        for i in range(len(items)):
            a, sa, ea = items[i]
            for j in range(i + 1, len(items)):
                b, sb, eb = items[j]
                if sb >= ea:  # sorted by start: no later slot overlaps slot i
                    break
                if a["status"] != "blocked" and b["status"] != "blocked" and not (
                        a["status"] == "booked" and b["status"] == "booked"):
                    for x in (a, b):
                        add("SCH.OVERLAP", x["slot_id"], x["mo_code"] if known(x["mo_code"]) else "")
                if (a["status"] == "booked" and b["status"] == "booked" and a["patient_id"] != b["patient_id"]):
                    for x in (a, b):
                        add("SCH.DOUBLE_BOOKING", x["slot_id"], x["mo_code"] if known(x["mo_code"]) else "")
    for doc, slots in doctors.items():
        counts = Counter(s["mo_code"] for s in slots)
        top = max(counts.values())
        mo_code = min(m for m, c in counts.items() if c == top)
        mo = mo_code if known(mo_code) else ""
        ups = [u for u in (pts(s["updated_at"]) for s in slots) if u is not None]
        if not ups or max(ups) < as_of - timedelta(hours=stale_hours):
            add("SCH.STALE", doc, mo)
        if any(snils_state(s["doctor_snils"]) != "valid" for s in slots):
            add("SCH.DOCTOR.SNILS", doc, mo)
    pairs = defaultdict(list)
    for s, start, end in timed:
        pairs[(s["mo_code"], s["specialty_code"])].append((s, start))
    for (mo_code, spec), items in pairs.items():
        if not any(s["doctor_status"] == "active" for s, _ in items):
            continue
        if not any(s["status"] == "free" and as_of <= st < horizon_end for s, st in items):
            add("SCH.HORIZON.EMPTY", f"{mo_code}/{spec}", mo_code if known(mo_code) else "")

    # duplicates: routed by the entity's rule applied to the first occurrence
    for stem, dups in route_dup.items():
        for rid, first in dups.items():
            if stem == "patients":
                mo = patient_mo(rid)
            elif stem == "policies":
                mo = patient_mo(first["patient_id"])
            elif stem == "registry":
                mo = ""  # entity insured: unassigned
            else:
                mo = first["mo_code"] if known(first["mo_code"]) else ""
            add("ROW.DUPLICATE_ID", rid, mo)

    # the register (catalogue v1.2)
    if data["registry"] is None:
        return out
    raised = defaultdict(set)
    for code, rid, _, _ in out:
        raised[code].add(rid)
    for p in P:
        pid = p["patient_id"]
        mo = patient_mo(pid)
        if pid not in link:
            add("REG.PERSON.NOT_FOUND", pid, mo, pid)
            continue
        r = link[pid][0]
        death = pdate(r["death_date"])
        deceased = death is not None and death <= D
        if deceased and (active_pol.get(pid) or active_att.get(pid)):
            add("REG.PERSON.DECEASED", pid, mo, pid)
        if len(linked_to[r["enp"]]) >= 2:
            add("REG.PATIENT.DUPLICATE", pid, mo, pid)
        if pid not in raised["PAT.NAME.INVALID"] and full_name(p) != full_name(r):
            add("REG.NAME.MISMATCH", pid, mo, pid)
        rb = pdate(r["birth_date"])
        if pid not in raised["PAT.BIRTHDATE.INVALID"] and rb is not None and rb != pdate(p["birth_date"]):
            add("REG.BIRTHDATE.MISMATCH", pid, mo, pid)
        if (snils_state(p["snils"]) == "valid" and snils_state(r["snils"]) == "valid"
                and snils_digits(p["snils"]) != snils_digits(r["snils"])):
            add("REG.SNILS.MISMATCH", pid, mo, pid)
        end = pdate(r["policy_end"])
        closed = end is not None and end < D
        for pol in active_pol.get(pid, []):
            exempt = pol["policy_type"] == "3" and not enp_valid(pol["enp"])
            if pol["enp"] != r["enp"] and not exempt:
                add("REG.POLICY.ENP", pol["policy_id"], mo, pid)
            if closed and not deceased:
                add("REG.POLICY.CLOSED", pol["policy_id"], mo, pid)
            if (pol["enp"] == r["enp"] and not closed and pol["policy_id"] not in raised["POL.SMO.UNKNOWN"]
                    and pol["smo_code"] != r["smo_code"]):
                add("REG.POLICY.SMO", pol["policy_id"], mo, pid)
        for a in active_att.get(pid, []):
            if not known(a["mo_code"]) or mo_excl[a["mo_code"]]:
                continue
            if r["attach_mo_code"] == "":
                add("REG.ATTACHMENT.UNREGISTERED", a["attachment_id"], a["mo_code"], pid)
            elif r["attach_mo_code"] != a["mo_code"]:
                add("REG.ATTACHMENT.MISMATCH", a["attachment_id"], a["mo_code"], pid)
    return out


# --- the register: linking (catalogue v1.2) ------------------------------------------------------------

def enp_valid(s: str) -> bool:
    return re.fullmatch(r"[0-9]{16}", s) is not None and luhn_ok(s)


def norm(name: str) -> str:
    """Upper case, Ё -> Е, runs of U+0020 collapsed, no space next to a hyphen, ends trimmed."""
    s = name.upper().replace("Ё", "Е")
    s = re.sub(" +", " ", s)
    s = s.replace(" -", "-").replace("- ", "-")
    return s.strip(" ")


def full_name(r) -> tuple[str, str, str]:
    return norm(r["last_name"]), norm(r["first_name"]), norm(r["middle_name"])


def dl1(a: str, b: str) -> bool:
    """Equal, or one insertion, deletion, substitution or swap of two adjacent characters apart."""
    if a == b:
        return True
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    if abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def near_dates(x: date, y: date) -> bool:
    if x == y:
        return False
    return dl1(x.isoformat(), y.isoformat()) or (x.year == y.year and x.day == y.month and x.month == y.day)


def link_patients(P, POL, REG, pol_active) -> dict:
    """patient_id -> (register row, tier) for every linked patient."""
    persons = [r for r in REG if enp_valid(r["enp"])]
    by_enp = {r["enp"]: r for r in persons}
    by_snils = defaultdict(list)
    by_name_birth = defaultdict(list)
    by_birth = defaultdict(list)
    by_last_first = defaultdict(list)
    for r in persons:
        if snils_state(r["snils"]) == "valid":
            by_snils[snils_digits(r["snils"])].append(r)
        b = pdate(r["birth_date"])
        if b is not None:
            by_name_birth[(full_name(r), b)].append(r)
            by_birth[b].append(r)
        n = full_name(r)
        by_last_first[(n[0], n[1])].append(r)
    policies = defaultdict(list)
    for pol in POL:
        policies[pol["patient_id"]].append(pol)
    out = {}
    for p in P:
        pid = p["patient_id"]
        # tier 1: the patient's policies with a valid ENP, active first, latest begin, smallest id
        cands = [pol for pol in policies.get(pid, []) if enp_valid(pol["enp"])]

        def order(pol):
            b = pdate(pol["date_begin"])
            return (0 if pol_active(pol) else 1, 0 if b is not None else 1,
                    -(b.toordinal()) if b is not None else 0, pol["policy_id"])
        found = next((by_enp[pol["enp"]] for pol in sorted(cands, key=order) if pol["enp"] in by_enp), None)
        if found is not None:
            out[pid] = (found, 1)
            continue
        if snils_state(p["snils"]) == "valid" and len(by_snils.get(snils_digits(p["snils"]), [])) == 1:
            out[pid] = (by_snils[snils_digits(p["snils"])][0], 2)
            continue
        b = pdate(p["birth_date"])
        if b is None:
            continue
        name = full_name(p)
        same = by_name_birth.get((name, b), [])
        if len(same) == 1:
            out[pid] = (same[0], 3)
            continue
        qual = []
        pool = {id(r): r for r in by_birth.get(b, []) + by_last_first.get((name[0], name[1]), [])}
        for r in pool.values():
            if (snils_state(p["snils"]) == "valid" and snils_state(r["snils"]) == "valid"
                    and snils_digits(p["snils"]) != snils_digits(r["snils"])):
                continue
            if p["sex"] in ("1", "2") and r["sex"] in ("1", "2") and p["sex"] != r["sex"]:
                continue
            rn, rb = full_name(r), pdate(r["birth_date"])
            if rb is None:
                continue
            middle_ok = rn[2] == name[2] or rn[2] == "" or name[2] == ""
            a = rb == b and dl1(rn[0], name[0]) and dl1(rn[1], name[1]) and (dl1(rn[2], name[2]) or rn[2] == "" or name[2] == "")
            bb = rn[0] == name[0] and rn[1] == name[1] and middle_ok and near_dates(rb, b)
            if a or bb:
                qual.append(r)
        if len(qual) == 1:
            out[pid] = (qual[0], 4)
    return out
