"""The injector: template records for defect cases, id allocation, and the ground-truth ledger.

See flows/synth/defects.py for the design (isolated cases with their full list of findings).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from flows.synth import names as nm
from flows.synth.identifiers import enp_text, snils_text
from flows.synth.region import (COLUMNS, CORE_SPECIALTIES, ENDED_SPECIALTIES, EXTRA_COLUMNS, RESERVE_SPECIALTIES,
                                UNKNOWN_SPECIALTIES, World, blank)
from flows.synth.textfmt import date_text, ts_text

DAY = 86400
LATIN = (("е", "e"), ("о", "o"), ("а", "a"), ("с", "c"), ("р", "p"), ("Р", "P"), ("С", "C"), ("О", "O"),
         ("А", "A"), ("Е", "E"), ("К", "K"), ("М", "M"), ("Т", "T"), ("В", "B"), ("Н", "H"), ("у", "y"))
HELPER_COLUMNS = ("_order", "_key", "_corrupt", "_cfield")


def _arr(values, k: int) -> np.ndarray:
    """values cycled to length k (variant i gets values[i % len]); a scalar is repeated."""
    if isinstance(values, str) or np.ndim(values) == 0:
        return np.full(k, values, dtype=object)
    return np.asarray(values, dtype=object)[np.arange(k) % len(values)]


def latinize(e: pl.Expr) -> pl.Expr:
    """Replace the first Cyrillic letter that has a Latin look-alike; append a Latin 'a' if none."""
    out = e + pl.lit("a")
    for cyr, lat in reversed(LATIN):
        out = pl.when(e.str.contains(cyr, literal=True)).then(e.str.replace(cyr, lat, literal=True)).otherwise(out)
    return out


def _override(df: pl.DataFrame, values: dict) -> pl.DataFrame:
    """Replace columns: a string is repeated, anything else is taken row by row."""
    return df.with_columns(*(
        pl.lit(v, dtype=pl.String).alias(c) if isinstance(v, str)
        else pl.Series(c, np.broadcast_to(np.asarray(v, dtype=object), (len(df),)).astype(str), dtype=pl.String)
        for c, v in values.items()))


@dataclass
class People:
    """k template patients, each with one active policy and one active attachment (clean)."""
    pat: pl.DataFrame
    pol: pl.DataFrame
    att: pl.DataFrame
    pid: np.ndarray
    mo: np.ndarray  # the attachment's MO = routing MO of the patient
    birth: np.ndarray  # epoch days
    # registry mode only: the register rows of these persons (one per patient, aligned with pid;
    # written at the end, so a case may change or drop them) and the enp each patient is expected
    # to link to ("" = not linked). None when the region has no register.
    reg: pl.DataFrame | None = None
    link: np.ndarray | None = None


# Dense regions (generate_region(defect_rate=...)): what one unit of each case count k_* yields at
# scale 1, measured on a 200,000-patient region (seed 3): findings, and patients made for the cases
# (patients.csv rows). (with register, without register). The truth never depends on these numbers;
# they only choose the scale, so the realised rate is close to the requested one, not equal to it.
YIELDS = {
    "pat": ((66.3, 47.3), (31.1, 26.2)),
    "file": ((15.0, 7.0), (13.0, 6.0)),
    "slot": ((8.1, 0.0), (8.1, 0.0)),
    "doc": ((2.8, 0.0), (2.8, 0.0)),
    "pair": ((2.0, 0.0), (2.0, 0.0)),
}
MAX_DEFECT_RATE = 1.0


def case_scale(raw: dict[str, float], n_clean: int, defect_rate: float, registry: bool) -> float:
    """The factor on every case count k_* that makes findings ~= defect_rate x (clean + case patients)."""
    col = 0 if registry else 1
    findings = sum(YIELDS[key][col][0] * raw[key] for key in YIELDS)
    patients = sum(YIELDS[key][col][1] * raw[key] for key in YIELDS)
    denom = findings - defect_rate * patients
    if denom <= 0:
        raise ValueError(f"defect_rate {defect_rate} is out of reach (at most {MAX_DEFECT_RATE})")
    return defect_rate * n_clean / denom


def clean_patients(patients: int, defect_rate: float, registry: bool) -> int:
    """The clean population of a dense region of about `patients` patients in all (clean + case
    patients): the case counts of a large region are k_pat = 0.001 n s, k_file = 0.0002 n s,
    k_slot ~= 0.000268 n s (1.34 slots per patient); doctors and pairs are negligible."""
    raw = {"pat": 1e-3, "file": 2e-4, "slot": 2.68e-4, "doc": 0.0, "pair": 0.0}  # per clean patient
    s = case_scale(raw, 1, defect_rate, registry)
    col = 0 if registry else 1
    per = 1 + s * sum(YIELDS[key][col][1] * raw[key] for key in YIELDS)
    return max(1, round(patients / per))


class Injector:
    def __init__(self, world: World, tables: dict[str, pl.DataFrame], parquet: tuple[str, ...],
                 registry: bool = False, reg_rng: np.random.Generator | None = None,
                 defect_rate: float | None = None):
        self.w, self.ctx = world, world.ctx
        self.rng = world.ctx.rng
        # registry mode: register rows of case persons use reg_rng only, so that the v1.1 records
        # (drawn from rng) are the same with and without a register
        self.registry = registry
        self.reg_rng = reg_rng
        self.persons: list[People] = []  # every People made (their register rows are written at the end)
        self.reg_parts: list[pl.DataFrame] = []  # further register rows (extra persons, register-only cases)
        self.links: list[pl.DataFrame] = []  # (patient_id, enp) stated links of patients not made by people()
        self.facts = world.ctx.facts
        self.parquet = set(parquet)
        self.n_rows = {name: len(df) for name, df in tables.items()}
        self.next = dict(world.next_ids)
        self.parts: dict[str, list[pl.DataFrame]] = {name: [] for name in tables}
        self.truth: list[pl.DataFrame] = []
        # counters that go on from the block before in a region generated in blocks (World.next_ids)
        self.keys = world.next_ids.get("keys", 0)
        self.orphans = world.next_ids.get("orphans", 98_000_000)  # patient ids that exist nowhere
        # 9-digit patient ids (register duplicates: text order != number order)
        self.wide = world.next_ids.get("wide", 100_000_000)
        n = self.n_rows["patients"]
        n_doctors = world.tables["slots"]["doctor_id"].n_unique()
        if defect_rate is None:  # the default density (unchanged: same arguments, same files)
            self.k_pat = max(5, round(n * 0.001))
            self.k_file = max(5, round(n * 0.0002))
            self.k_slot = max(5, round(self.n_rows["slots"] * 0.0002))
            self.k_doc = max(5, round(n_doctors * 0.005))
            self.k_pair = max(5, round(len(world.pairs) * 0.005))
        else:  # every case count scaled alike: the same mix of checks, denser
            raw = {"pat": n * 0.001, "file": n * 0.0002, "slot": self.n_rows["slots"] * 0.0002,
                   "doc": n_doctors * 0.005, "pair": len(world.pairs) * 0.005}
            s = case_scale(raw, n, defect_rate, registry)
            self.k_pat, self.k_file, self.k_slot, self.k_doc, self.k_pair = (
                max(5, round(raw[key] * s)) for key in ("pat", "file", "slot", "doc", "pair"))
        self.clean_mos = np.sort(np.asarray(world.mos.clean, dtype=str)).astype(object)  # sorted: searchsorted
        self.pairs = world.pairs
        # dedicated (MO, specialty) pairs nobody else uses: clean or excluded MO x reserve specialty
        reserve = [(m, s) for s in RESERVE_SPECIALTIES for m in world.mos.clean]
        self.reserve = [reserve[i] for i in self.rng.permutation(len(reserve))]
        excl = [(m, s) for s in RESERVE_SPECIALTIES for m in world.mos.excluded]
        self.reserve_excluded = [excl[i] for i in self.rng.permutation(len(excl))]
        # clean patients by MO, for bookings of case doctors
        book = world.bookable.with_row_index("_i").sort("mo_code", "_i")
        self.book_ids = book["patient_id"].to_numpy().astype(str)
        mos, starts, counts = np.unique(book["mo_code"].to_numpy().astype(str), return_index=True, return_counts=True)
        self.book_group = {m: (s, c) for m, s, c in zip(mos, starts, counts)}
        self.clean_snils = world.tables["patients"]["snils"]
        self.known_codes = np.asarray(sorted(self.facts.mos), dtype=str)
        self._check_facts()

    # --- facts the truth relies on ------------------------------------------------------------------
    def _check_facts(self) -> None:
        f, ctx = self.facts, self.ctx
        for t in ("1", "2", "3"):
            assert t in f.policy_types, f"F008 lacks policy type {t} on {f.D}"
        days = [f.D.fromordinal(f.D.toordinal() + k) for k in range(-30, 31)]
        for spec in CORE_SPECIALTIES + RESERVE_SPECIALTIES + tuple(self.pairs["specialty_code"].unique()):
            assert all(f.specialty_valid(spec, d) for d in days), f"V021 {spec} is not valid around D"
        for spec in ENDED_SPECIALTIES + UNKNOWN_SPECIALTIES:
            assert not any(f.specialty_valid(spec, d) for d in days), f"V021 {spec} is valid around D"
        for m in self.w.mos.clean:
            assert f.mos.get(m) == (ctx.okato, False), m
        for m in self.w.mos.excluded:
            assert f.mos[m][1], m
        for m in self.w.mos.unknown:
            assert m not in f.mos, m
        assert f.kod_tf.get(ctx.okato) == ctx.region

    def known(self, mo) -> np.ndarray:
        """Routing by MO code: the code itself when F003 has it (excluded or not), else ''."""
        mo = np.asarray(mo, dtype=object).astype(str)
        return np.where(np.isin(mo, self.known_codes), mo, "").astype(object)

    # --- emitting ----------------------------------------------------------------------------------------
    def expect(self, code: str, record_ids, mos, registry_only: bool | None = None) -> None:
        """Expected findings; mos is the v1.1 routing (the register's routing change and the suggested
        values are added at the end, see flows/synth/register.py finish_truth)."""
        rid = pl.Series(np.asarray(record_ids, dtype=object).astype(str), dtype=pl.String)
        mo = pl.Series(np.broadcast_to(np.asarray(mos, dtype=object), (len(rid),)).astype(str), dtype=pl.String)
        if registry_only is None:
            registry_only = code.startswith("REG.")
        if registry_only and not self.registry:
            raise AssertionError(f"{code}: a register finding in a region without a register")
        self.truth.append(pl.DataFrame({"check_code": pl.repeat(code, len(rid), eager=True, dtype=pl.String),
                                        "record_id": rid, "mo_code": mo,
                                        "registry_only": pl.repeat("1" if registry_only else "0", len(rid),
                                                                   eager=True, dtype=pl.String)}))

    def expect_reg(self, code: str, record_ids, mos) -> None:
        """A finding that exists only with a register (nothing without one)."""
        if self.registry:
            self.expect(code, record_ids, mos, registry_only=True)

    def emit(self, name: str, df: pl.DataFrame) -> None:
        if len(df) == 0:
            return
        if "_order" not in df.columns:
            rng = self.reg_rng if name == "registry" else self.rng
            df = df.with_columns(pl.Series("_order", rng.random(len(df)) * self.n_rows[name]))
        for c in EXTRA_COLUMNS.get(name, ()):
            if c not in df.columns:
                df = df.with_columns(self._extra(name, len(df)).alias(c))
        for c in HELPER_COLUMNS[1:]:
            if c not in df.columns:
                df = df.with_columns(pl.lit(None, dtype=pl.String).alias(c))
        self.parts[name].append(df.select(COLUMNS[name] + EXTRA_COLUMNS.get(name, ()) + HELPER_COLUMNS))

    def _extra(self, name: str, k: int) -> pl.Series:
        if name == "attachments":
            return pl.DataFrame({"a": self.rng.integers(1, 41, k)}).select(
                pl.concat_str([pl.lit("Участок № "), pl.col("a").cast(pl.String)])).to_series()
        return self._doctor_names(k)

    def _doctor_names(self, k: int) -> pl.Series:
        last, first, middle = nm.person_names(self.rng, self.rng.integers(1, 3, k))
        return pl.DataFrame({"l": last, "f": first, "m": middle, "r": self.rng.integers(1, 450, k)}).select(
            pl.concat_str([pl.col("l"), pl.lit(" "), pl.col("f").str.slice(0, 1), pl.lit("."),
                           pl.col("m").str.slice(0, 1), pl.lit("., каб. "), pl.col("r").cast(pl.String)])).to_series()

    def malformed(self, df: pl.DataFrame, ops, fields) -> tuple[pl.DataFrame, list[str]]:
        """Mark rows to be written as malformed lines; returns the placeholder record ids."""
        k = len(df)
        keys = list(np.char.add("@malformed", np.arange(self.keys, self.keys + k).astype(str)))
        self.keys += k
        return df.with_columns(pl.Series("_key", keys), pl.Series("_corrupt", _arr(ops, k).astype(str)),
                               pl.Series("_cfield", _arr(fields, k).astype(str))), keys

    def new_ids(self, name: str, k: int) -> np.ndarray:
        out = np.arange(self.next[name], self.next[name] + k).astype(str).astype(object)
        self.next[name] += k
        return out

    def orphan_ids(self, k: int) -> np.ndarray:
        out = np.arange(self.orphans, self.orphans + k).astype(str).astype(object)
        self.orphans += k
        return out

    # --- template records ------------------------------------------------------------------------------
    def people(self, k: int, mo=None, reg_names: bool = False) -> People:
        """k template persons. reg_names: surnames only register cases use (see register.REG_SURNAMES)."""
        rng, ctx = self.rng, self.ctx
        pid = self.new_ids("patients", k)
        sex = rng.integers(1, 3, k)
        last, first, middle = nm.person_names(rng, sex)
        if reg_names:
            from flows.synth.register import reg_surnames
            male, female = reg_surnames(ctx.block)
            last = nm.by_sex(male, female, rng.integers(0, len(male), k), sex)
        birth = ctx.d0 - rng.integers(20 * 365, 80 * 365, k)
        pat = pl.DataFrame({"patient_id": pid.astype(str), "last_name": last, "first_name": first,
                            "middle_name": middle, "birth_date": date_text(birth, 1),
                            "sex": sex.astype(str), "snils": snils_text(ctx.snils.take(k), 0)})
        enp = enp_text(ctx.okato[:2], ctx.enp.take(k))
        pol = pl.DataFrame({"policy_id": self.new_ids("policies", k).astype(str), "patient_id": pid.astype(str),
                            "policy_type": "3", "policy_series": blank(k), "policy_number": enp, "enp": enp,
                            "smo_code": nm.pick(rng, tuple(self.w.insurers), k), "okato": ctx.okato,
                            "date_begin": date_text(ctx.d0 - rng.integers(30, 3000, k), 0), "date_end": blank(k)})
        mo = self.clean_mos[rng.integers(0, len(self.clean_mos), k)] if mo is None else _arr(mo, k)
        att = pl.DataFrame({"attachment_id": self.new_ids("attachments", k).astype(str),
                            "patient_id": pid.astype(str), "mo_code": mo.astype(str),
                            "attach_method": rng.choice(np.array(["1", "2", "3"]), k, p=[0.7, 0.25, 0.05]),
                            "attach_date": date_text(ctx.d0 - rng.integers(1, 2000, k), rng.integers(0, 2, k)),
                            "detach_date": blank(k),
                            "area_code": pl.Series(rng.integers(1, 41, k)).cast(pl.String).str.zfill(2),
                            "doctor_snils": snils_text(ctx.doctor_snils.take(k), 0)})
        p = People(pat, pol, att, pid, mo, birth)
        if self.registry:
            from flows.synth.register import person_rows
            p.reg = person_rows(self, p)
            p.link = p.reg["enp"].to_numpy().astype(object)
        self.persons.append(p)
        return p

    def emit_people(self, p: People, pat=True, pol=True, att=True) -> None:
        if pat:
            self.emit("patients", p.pat)
        if pol:
            self.emit("policies", p.pol)
        if att:
            self.emit("attachments", p.att)

    def extra_policies(self, p: People, **values) -> pl.DataFrame:
        """One more clean active-looking policy per patient of p, with overrides."""
        k = len(p.pid)
        enp = enp_text(self.ctx.okato[:2], self.ctx.enp.take(k))
        df = p.pol.with_columns(pl.Series("policy_id", self.new_ids("policies", k).astype(str)),
                                enp.alias("policy_number"), enp.alias("enp"))
        return _override(df, values)

    def extra_attachments(self, p: People, **values) -> pl.DataFrame:
        k = len(p.pid)
        df = p.att.with_columns(pl.Series("attachment_id", self.new_ids("attachments", k).astype(str)),
                                snils_text(self.ctx.doctor_snils.take(k), 0).alias("doctor_snils"))
        return _override(df, values)

    def doctors(self, nd: int, mo=None, spec=None) -> dict:
        """nd case doctors; (mo, spec) from the clean pairs unless given."""
        rng = self.rng
        if mo is None:
            pick = rng.integers(0, len(self.pairs), nd)
            mo = self.pairs["mo_code"].to_numpy()[pick].astype(object)
            spec = self.pairs["specialty_code"].to_numpy()[pick].astype(object) if spec is None else _arr(spec, nd)
        else:
            mo = _arr(mo, nd)
            spec = _arr(spec if spec is not None else "76", nd)
        off = rng.integers(1, 10, nd)
        day = self.ctx.d0 + off
        day = day + np.where((day + 3) % 7 == 5, 2, np.where((day + 3) % 7 == 6, 1, 0))  # weekdays only
        return {"id": self.new_ids("doctors", nd), "snils": snils_text(self.ctx.doctor_snils.take(nd), 0).to_numpy(),
                "mo": mo, "spec": spec, "day": day, "name": self._doctor_names(nd).to_numpy()}

    def book(self, mo) -> np.ndarray:
        """A clean patient per requested MO (any clean patient when the MO has none)."""
        mo = np.asarray(mo, dtype=object).astype(str)
        out = np.empty(len(mo), dtype=object)
        u = self.rng.random(len(mo))
        for m in np.unique(mo):  # loop over MOs
            sel = mo == m
            s, c = self.book_group.get(m, (0, len(self.book_ids)))
            out[sel] = self.book_ids[s + (u[sel] * c).astype(np.int64)]
        return out

    def slots(self, doc: dict, di, j=None, start=None, dur=1200, status="free", patient=None,
              **values) -> pl.DataFrame:
        """Slot rows for doctors doc (index di per row). Default start: the doctor's day, 09:00 + j*20 min."""
        di = np.asarray(di, dtype=np.int64)
        k = len(di)
        j = np.zeros(k, dtype=np.int64) if j is None else np.asarray(j)
        start = (doc["day"][di] * DAY + 9 * 3600 + j * 1200 if start is None
                 else np.broadcast_to(np.asarray(start, dtype=np.int64), (k,)))
        end = start + np.broadcast_to(np.asarray(dur, dtype=np.int64), (k,))
        status = np.asarray(np.broadcast_to(np.asarray(status, dtype=object), (k,)), dtype=object)
        mo = _arr(values.pop("mo_code"), k) if "mo_code" in values else doc["mo"][di]
        if patient is None:
            patient = np.where(status == "booked", self.book(mo), "")
        whole = (start % 60 == 0) & (end % 60 == 0)
        style = np.where(whole, self.rng.integers(0, 6, k), self.rng.choice([1, 3, 5], k))
        df = pl.DataFrame({
            "slot_id": self.new_ids("slots", k).astype(str), "mo_code": mo.astype(str),
            "doctor_id": doc["id"][di].astype(str), "doctor_snils": doc["snils"][di].astype(str),
            "doctor_status": "active", "specialty_code": doc["spec"][di].astype(str),
            "slot_start": ts_text(start, style), "slot_end": ts_text(end, style),
            "status": status.astype(str), "patient_id": np.asarray(patient, dtype=object).astype(str),
            "updated_at": ts_text(self.ctx.t0 - self.rng.integers(600, 36000, k), self.rng.choice([1, 3, 5], k)),
            "doctor_name": doc["name"][di].astype(str),
        })
        return df.with_columns(**{c: pl.Series(np.broadcast_to(np.asarray(v, dtype=object), (k,)).astype(str))
                                  for c, v in values.items()})


# --- helpers for builders ---------------------------------------------------------------------------

def S(name: str, values) -> pl.Series:
    """A String series from any array-like (numpy object/unicode, list)."""
    return pl.Series(name, np.asarray(values, dtype=object).astype(str), dtype=pl.String)


def iso(days) -> np.ndarray:
    return date_text(np.atleast_1d(days), 0).to_numpy().astype(object)


def dmy(days) -> np.ndarray:
    return date_text(np.atleast_1d(days), 1).to_numpy().astype(object)


def variants(k: int, n: int) -> tuple[int, np.ndarray]:
    """At least one instance of each of n variants: (count, variant index per instance)."""
    k = max(k, n)
    return k, np.arange(k) % n


def pick_where(v: np.ndarray, table: dict) -> np.ndarray:
    """Per instance value by variant: table maps variant -> array (len k) or scalar."""
    out = np.empty(len(v), dtype=object)
    for key, val in table.items():
        sel = v == key
        out[sel] = np.asarray(val, dtype=object)[sel] if np.ndim(val) else val
    return out


def weekday_back(d0: int, back: int) -> int:
    """The working day `back` days or more before d0 (epoch days)."""
    day = d0 - back
    while (day + 3) % 7 >= 5:
        day -= 1
    return day


