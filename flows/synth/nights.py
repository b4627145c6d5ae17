"""generate_nights: consecutive nights of one synthetic region, with feed breaks in the last two.

Talon's feed-health checks (catalogue v1.3: FEED.VOLUME.DROP, FEED.MO.SILENT, FEED.MO.SHRUNK,
FEED.COLUMN.EMPTY) compare a night with the nights before it, so one region is not enough to
exercise them. This writes

    out/night-1/extract, out/night-1/reference   as_of - (N-1) days
    ...
    out/night-N/extract, out/night-N/reference   as_of
    out/feed_truth.csv   the feed findings each night must raise (night, as_of, check_code,
                         record_id, mo_code; '' = unassigned), for the default thresholds
    out/nights.json      per night: as_of, folders, the breaks injected and the expected findings

Every night is `generate_region` with the same seed and one day later: the same MOs, patients
and doctors night after night (a clean region: the catalogue's defects are left out, so Talon
finds nothing in a night but what its feed breaks cause, and the counts the truth needs are
exactly the rows written). Run the nights in order on one warehouse (`talon run` each).

The breaks are edits of the files as written, in the file's own dialect (read and rewritten with
the writer of flows/synth/dialects.py; Parquet stays Parquet). With M1..M6 the region's first six
MOs (in code order) that have a schedule and are in the registry on both nights:

night N-1  M1's schedule is missing                           -> FEED.MO.SILENT M1
           M2 keeps 19 future slots (one below --mo-silent-min), M3 exactly 20
                                                              -> FEED.MO.SHRUNK M2, M3
night N    M1's schedule is back                              -> nothing (it had none before)
           M2 and M3 send no schedule                         -> FEED.MO.SILENT M3 only
           M4: slots within the horizon one below half of the night before's
                                                              -> FEED.MO.SHRUNK M4
           M5: exactly half (rounded up)                      -> nothing
           M6 leaves the registry (F003: its inclusion ended yesterday), its schedule stops
                                                              -> nothing (an excluded MO)
           patients.csv arrives with half its rows            -> FEED.VOLUME.DROP
           attachments: one row fewer than 70 % of the median -> FEED.VOLUME.DROP
           policies: the fewest rows not below 70 % of the median
                                                              -> nothing
           slots.csv's doctor_snils comes empty               -> FEED.COLUMN.EMPTY
           patients' snils: the fewest empty values that make 10 points more than the night
           before                                             -> FEED.COLUMN.EMPTY
           patients' sex: one empty value fewer than that     -> nothing
Dropping rows and schedules moves other counts too (slots.csv's rows, a column's empty share):
whatever that raises is in the truth as well, because the truth is not this list but computed
from the files as finally written, read back independently of Talon (checks/feed.py is not
used): rows and empty values per contract column of each extract file, future and horizon
slots per MO from the slots' start times, which MOs each night's F003 knows and excludes on D,
and the conditions of the catalogue over the nights run in order. A volume drop needs three
earlier nights, so every break shows from 4 nights on; with fewer the truth has less in it.
"""
from __future__ import annotations

import io
import json
import math
import re
import statistics
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import polars as pl

from flows.extract.contract import ALL_FILES
from flows.synth.dialects import DIALECTS, write_csv, write_parquet
from flows.synth.generator import generate_region

TRUTH_FILE = "feed_truth.csv"
TRUTH_COLUMNS = ("night", "as_of", "check_code", "record_id", "mo_code")
MIN_NIGHTS = 2
HISTORY_NIGHTS = 7  # nights a volume median is taken over
MIN_HISTORY = 3  # nights of history a volume drop needs
MIN_ROWS = 1_000  # rows both nights need for an empty column to count
VOLUME_KEEP = Fraction(1, 2)  # the share of patients.csv the broken night keeps
# the contract's timestamp layouts (with and without seconds)
TS_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M",
              "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S")


@dataclass(frozen=True)
class Thresholds:
    """The feed-health thresholds the truth is computed for (`talon run`'s defaults)."""

    volume_drop: Fraction = Fraction(7, 10)
    mo_silent_min: int = 20
    mo_shrunk: Fraction = Fraction(1, 2)
    column_empty_points: Fraction = Fraction(10)
    horizon_days: int = 14


@dataclass
class NightStats:
    """What one night's files hold, as read back from disk."""

    as_of: datetime
    files: dict[str, str]  # contract file (patients, ...) -> file name written (patients.csv)
    rows: dict[str, int]  # file name -> data rows
    empty: dict[str, dict[str, int]]  # file name -> contract column -> empty values
    future: dict[str, int]  # mo_code -> slots starting at or after as_of
    horizon: dict[str, int]  # mo_code -> slots starting in [as_of, as_of + horizon)
    mos: dict[str, bool]  # F003 mcod -> excluded on D


@dataclass
class NightsResult:
    out: Path
    nights: list[Path]  # out/night-k: extract/ and reference/
    as_of: list[datetime]
    truth: Path  # feed_truth.csv
    expected: list[list[tuple[str, str, str]]]  # per night: (check_code, record_id, mo_code)
    breaks: list[list[str]]  # per night: what was done to it
    roles: dict[str, str] = field(default_factory=dict)  # M1..M6 -> mo_code
    seconds: float = 0.0


# --- reading what was written -------------------------------------------------------------------

def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1251")


def read_table(path: Path) -> pl.DataFrame:
    """An extract file as written: every column (header names as in the file) as text, '' for an
    empty value, rows in file order. CSV: UTF-8 (BOM or not) or Windows-1251, `;` or `,`."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pl.read_parquet(path).cast(pl.String).fill_null("")
    text = _decode(path.read_bytes())
    header = text.split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    return pl.read_csv(io.BytesIO(text.encode("utf-8")), separator=sep, infer_schema=False,
                       quote_char='"').fill_null("")


def _contract_names(spec, header: list[str]) -> dict[str, str]:
    """Header name -> contract column (names and aliases match trimmed, in any letter case)."""
    out = {}
    for h in header:
        for c in spec.columns:
            if h.strip().lower() in spec.names_for(c):
                out[h] = c
    return out


def _timestamps(col: str) -> pl.Expr:
    return pl.coalesce([pl.col(col).str.strptime(pl.Datetime("us"), f, strict=False, exact=True)
                        for f in TS_FORMATS])


def _f003(path: Path, d: date) -> dict[str, bool]:
    """mcod -> excluded on d: no inclusion period, or every period ended before d."""
    out = {}
    for mo in ET.parse(path).getroot().iter("medCompany"):
        periods = []
        for inc in mo.iter("medInclude"):
            begin = (inc.findtext("d_begin") or "").strip()
            end = (inc.findtext("d_end") or "").strip()
            if begin or end:
                periods.append(datetime.strptime(end, "%d.%m.%Y").date() if end else None)
        out[(mo.findtext("mcod") or "").strip()] = all(e is not None and e < d for e in periods)
    return out


def read_night(folder: Path, as_of: datetime, horizon_days: int = 14) -> NightStats:
    """The counts feed health looks at, read from one night's files."""
    extract, files, rows, empty = Path(folder) / "extract", {}, {}, {}
    future, horizon = {}, {}
    for spec in ALL_FILES:
        found = [p for p in (extract / f"{spec.name}.csv", extract / f"{spec.name}.parquet")
                 if p.is_file()]
        if not found:
            continue
        path = found[0]
        df = read_table(path)
        names = _contract_names(spec, df.columns)
        files[spec.name] = path.name
        rows[path.name] = df.height
        empty[path.name] = {c: int((df[h] == "").sum()) for h, c in names.items()}
        if spec.name == "slots":
            mo = next(h for h, c in names.items() if c == "mo_code")
            start = next(h for h, c in names.items() if c == "slot_start")
            t = df.select(pl.col(mo).alias("mo"), _timestamps(start).alias("t"))
            end = as_of + timedelta(days=horizon_days)
            future = dict(t.filter(pl.col("t") >= as_of).group_by("mo").len().iter_rows())
            horizon = dict(t.filter((pl.col("t") >= as_of) & (pl.col("t") < end))
                           .group_by("mo").len().iter_rows())
    mos = _f003(Path(folder) / "reference" / "F003.xml", as_of.date())
    return NightStats(as_of, files, rows, empty, future, horizon, mos)


# --- the truth: the conditions of catalogue v1.3, over the nights as read ------------------------

def _median(values: list[int]) -> Fraction:
    return Fraction(statistics.median_low(values) + statistics.median_high(values), 2)


def expected_findings(nights: list[NightStats], t: Thresholds = Thresholds()
                      ) -> list[list[tuple[str, str, str]]]:
    """Per night (all run in order on one warehouse, each completed): the feed findings as
    (check_code, record_id, mo_code or '')."""
    out = []
    for k, now in enumerate(nights):
        found = []
        history = nights[max(0, k - HISTORY_NIGHTS):k][::-1]
        for name, file_name in now.files.items():
            past = [h.rows[h.files[name]] for h in history if name in h.files]
            if len(past) >= MIN_HISTORY and now.rows[file_name] < t.volume_drop * _median(past):
                found.append(("FEED.VOLUME.DROP", file_name, ""))
        if history:
            prev = history[0]
            for mo, n in prev.future.items():
                if n >= t.mo_silent_min and mo in now.mos and not now.mos[mo] \
                        and not now.future.get(mo):
                    found.append(("FEED.MO.SILENT", mo, mo))
            for mo, n in prev.horizon.items():
                # an MO without a future slot is silent: FEED.MO.SILENT says it (or, excluded
                # or unknown, nothing does), never FEED.MO.SHRUNK
                if n >= t.mo_silent_min and now.future.get(mo) \
                        and now.horizon.get(mo, 0) < t.mo_shrunk * n:
                    found.append(("FEED.MO.SHRUNK", mo, mo))
            for name, file_name in now.files.items():
                before = prev.files.get(name)
                if before is None:
                    continue
                r0, r1 = prev.rows[before], now.rows[file_name]
                if r0 < MIN_ROWS or r1 < MIN_ROWS:
                    continue
                for column, e1 in now.empty[file_name].items():
                    e0 = prev.empty[before].get(column)
                    if e0 is not None and Fraction(e1, r1) - Fraction(e0, r0) \
                            >= t.column_empty_points / 100:
                        found.append(("FEED.COLUMN.EMPTY", f"{file_name}:{column}", ""))
        out.append(sorted(found))
    return out


# --- the breaks ---------------------------------------------------------------------------------

def _path(folder: Path, stats: NightStats, name: str) -> Path:
    return Path(folder) / "extract" / stats.files[name]


def _rewrite(path: Path, name: str, edit) -> None:
    """Read a contract file, edit its frame (same columns, in file order), write it back in the
    same dialect (CSV) or as Parquet."""
    df = edit(read_table(path))
    if path.suffix == ".parquet":
        write_parquet(df, path, tuple(df.columns))
    else:
        write_csv(df, path, tuple(df.columns), DIALECTS[name])


def _keep_rows(path: Path, name: str, n: int) -> None:
    _rewrite(path, name, lambda df: df.head(n))


def _blank(path: Path, name: str, column: str, target: int | None) -> None:
    """Make exactly `target` values of `column` empty (the first non-empty ones in file order;
    None: every value)."""
    def edit(df):
        if target is None:
            return df.with_columns(pl.lit("").alias(column))
        missing = target - int((df[column] == "").sum())
        assert missing >= 0, (path, column, target)
        rank = (pl.col(column) != "").cum_sum()
        return df.with_columns(pl.when((pl.col(column) != "") & (rank <= missing))
                               .then(pl.lit("")).otherwise(pl.col(column)).alias(column))
    _rewrite(path, name, edit)


def _drop_schedule(path: Path, mo: str) -> None:
    """Remove every slot of an MO."""
    _rewrite(path, "slots", lambda df: df.filter(pl.col("mo_code") != mo))


def _cut_schedule(path: Path, mo: str, start: datetime, end: datetime | None, keep: int) -> None:
    """Keep only the earliest `keep` of an MO's slots starting in [start, end) (end None: no
    bound); its other slots stay."""
    def edit(df):
        t = _timestamps("slot_start")
        window = (pl.col("mo_code") == mo) & (t >= start)
        if end is not None:
            window = window & (t < end)
        df = df.with_row_index("_i").with_columns(_w=window, _t=t)
        kept = df.filter("_w").sort("_t", "_i").head(keep)["_i"]
        return df.filter(~pl.col("_w") | pl.col("_i").is_in(kept.implode())).drop("_i", "_w", "_t")
    _rewrite(path, "slots", edit)


def _exclude_mo(path: Path, mo: str, d: date) -> None:
    """F003 as written, with the inclusion periods of `mo` that were open on `d` ended the day
    before (the MO leaves the registry yesterday); every other byte unchanged."""
    text = Path(path).read_bytes().decode("cp1251")
    yesterday = (d - timedelta(days=1)).strftime("%d.%m.%Y")

    def end_period(m: re.Match) -> str:
        block = m.group(0)
        end = re.search(r"<d_end>([^<]*)</d_end>", block)
        if end and end.group(1).strip() and \
                datetime.strptime(end.group(1).strip(), "%d.%m.%Y").date() < d:
            return block  # ended before d already
        if end:
            return block.replace(end.group(0), f"<d_end>{yesterday}</d_end>")
        return re.sub(r"<d_end\s*/>", f"<d_end>{yesterday}</d_end>", block)

    def company(m: re.Match) -> str:
        block = m.group(0)
        if not re.search(rf"<mcod>\s*{re.escape(mo)}\s*</mcod>", block):
            return block
        return re.sub(r"<medInclude>.*?</medInclude>", end_period, block, flags=re.S)

    edited = re.sub(r"<medCompany>.*?</medCompany>", company, text, flags=re.S)
    assert edited != text, f"{mo} not found or already excluded in {path}"
    Path(path).write_bytes(edited.encode("cp1251"))


def _night_as_of(as_of: datetime, nights: int, k: int) -> datetime:
    """as_of of night k (1-based): the last night is `as_of`, each earlier one a day before."""
    return as_of - timedelta(days=nights - k)


def _roles(before: NightStats, now: NightStats) -> dict[str, str]:
    """M1..M6: MOs (code order) that F003 includes on both nights and that have a schedule."""
    usable = sorted(m for m, n in before.future.items()
                    if n and m in before.mos and not before.mos[m]
                    and m in now.mos and not now.mos[m])
    return {f"M{i + 1}": m for i, m in enumerate(usable[:6])}


def _break_second_last(folder: Path, stats: NightStats, roles: dict[str, str],
                       t: Thresholds) -> list[str]:
    done = []
    slots = _path(folder, stats, "slots")
    if "M1" in roles:
        _drop_schedule(slots, roles["M1"])
        done.append(f"M1 {roles['M1']}: no schedule")
    for role, keep in (("M2", t.mo_silent_min - 1), ("M3", t.mo_silent_min)):
        if role in roles:
            _cut_schedule(slots, roles[role], stats.as_of, None, keep)
            done.append(f"{role} {roles[role]}: {keep} future slots")
    return done


def _break_last(folder: Path, stats: NightStats, history: list[NightStats],
                roles: dict[str, str], t: Thresholds) -> list[str]:
    """The last night's breaks; `history`: the nights before it, newest first (as read)."""
    done = []
    prev = history[0]
    slots = _path(folder, stats, "slots")
    for role in ("M2", "M3"):
        if role in roles:
            _drop_schedule(slots, roles[role])
            done.append(f"{role} {roles[role]}: no schedule")
    end = stats.as_of + timedelta(days=t.horizon_days)
    for role, below in (("M4", 1), ("M5", 0)):
        if role in roles:
            mo = roles[role]
            keep = math.ceil(t.mo_shrunk * prev.horizon.get(mo, 0)) - below
            _cut_schedule(slots, mo, stats.as_of, end, keep)
            done.append(f"{role} {mo}: {keep} of {prev.horizon.get(mo, 0)} slots in the horizon")
    if "M6" in roles:
        mo = roles["M6"]
        _exclude_mo(Path(folder) / "reference" / "F003.xml", mo, stats.as_of.date())
        _drop_schedule(slots, mo)
        done.append(f"M6 {mo}: excluded from F003 (inclusion ended yesterday), no schedule")
    past = history[:HISTORY_NIGHTS]

    def volume_bound(name: str) -> int | None:
        """The fewest rows not below volume_drop x the median of the earlier nights."""
        rows = [h.rows[h.files[name]] for h in past if name in h.files]
        return math.ceil(t.volume_drop * _median(rows)) if rows else None

    patients = _path(folder, stats, "patients")
    keep = math.floor(VOLUME_KEEP * stats.rows[patients.name])
    _keep_rows(patients, "patients", keep)
    done.append(f"patients: {keep} of {stats.rows[patients.name]} rows")
    for name, below in (("attachments", 1), ("policies", 0)):
        bound = volume_bound(name)
        if bound is not None:
            _keep_rows(_path(folder, stats, name), name, bound - below)
            done.append(f"{name}: {bound - below} rows (70 % of the median: {bound})")
    _blank(slots, "slots", "doctor_snils", None)
    done.append("slots: doctor_snils empty")
    rows_now = read_table(patients).height
    before = prev.empty[prev.files["patients"]]
    for column, below in (("snils", 0), ("sex", 1)):
        share0 = Fraction(before[column], prev.rows[prev.files["patients"]])
        target = math.ceil(rows_now * (share0 + t.column_empty_points / 100)) - below
        _blank(patients, "patients", column, target)
        done.append(f"patients: {target} of {rows_now} {column} empty "
                    f"({'the fewest at' if not below else 'one fewer than'} "
                    f"{t.column_empty_points} points more)")
    return done


# --- the whole sequence -------------------------------------------------------------------------

def generate_nights(out: Path, *, nights: int, patients: int, seed: int, region: str = "50",
                    as_of: datetime, reference_from: Path | None = None,
                    parquet: tuple[str, ...] = (), registry: bool = True,
                    thresholds: Thresholds = Thresholds()) -> NightsResult:
    """Write `nights` consecutive nights of one region under `out` (night-1 .. night-N, the last
    one at `as_of`), the feed breaks in the last two, and feed_truth.csv (see the module)."""
    started = time.perf_counter()
    if nights < MIN_NIGHTS:
        raise ValueError(f"nights must be >= {MIN_NIGHTS} (feed health compares a night with "
                         "the one before)")
    out = Path(out)
    as_of = as_of.replace(microsecond=0)
    folders, stamps = [], []
    for k in range(1, nights + 1):
        folder, stamp = out / f"night-{k}", _night_as_of(as_of, nights, k)
        generate_region(folder, patients=patients, seed=seed, region=region, as_of=stamp,
                        reference_from=reference_from, defects=False, parquet=parquet,
                        registry=registry)
        (folder / "truth.csv").unlink()  # a clean region's (empty) truth: feed_truth.csv is it
        folders.append(folder)
        stamps.append(stamp)
    h = thresholds.horizon_days
    stats = [read_night(f, s, h) for f, s in zip(folders, stamps)]
    roles = _roles(stats[-2], stats[-1])
    breaks = [[] for _ in range(nights)]
    breaks[-2] = _break_second_last(folders[-2], stats[-2], roles, thresholds)
    stats[-2] = read_night(folders[-2], stamps[-2], h)
    breaks[-1] = _break_last(folders[-1], stats[-1], stats[-2::-1], roles, thresholds)
    # the truth: from the files as finally written (the two broken nights read again)
    stats[-2:] = [read_night(f, s, h) for f, s in zip(folders[-2:], stamps[-2:])]
    expected = expected_findings(stats, thresholds)
    truth_rows = [(k + 1, stamps[k].isoformat(sep=" "), code, record, mo or None)
                  for k in range(nights) for code, record, mo in expected[k]]
    truth = out / TRUTH_FILE
    pl.DataFrame(truth_rows, schema={c: (pl.Int64 if c == "night" else pl.String)
                                     for c in TRUTH_COLUMNS}, orient="row") \
        .write_csv(truth, null_value="")
    (out / "nights.json").write_text(json.dumps({
        "region": region, "seed": seed, "patients": patients, "roles": roles,
        "thresholds": {k: (float(v) if isinstance(v, Fraction) else v)
                       for k, v in asdict(thresholds).items()},
        "nights": [{"night": k + 1, "as_of": stamps[k].isoformat(sep=" "),
                    "extract": f"{folders[k].name}/extract",
                    "reference": f"{folders[k].name}/reference", "breaks": breaks[k],
                    "expected": [dict(zip(("check_code", "record_id", "mo_code"), f))
                                 for f in expected[k]]} for k in range(nights)],
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return NightsResult(out, folders, stamps, truth, expected, breaks, roles,
                        time.perf_counter() - started)
