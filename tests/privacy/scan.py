"""Personal data of an extract batch as needles, and a scanner that finds them in any text
Talon emits (HTML with markup, attributes and escaped JSON, CSV, logs, artifacts).

Needles, each in a canonical form the scanner also reduces what it reads to:
- snils: the 11 digits of every SNILS (patients.snils, doctor_snils of attachments and slots,
  registry.snils) whose value has 11 digits once `-` and spaces are removed;
- enp: every 16-digit ENP (policies.enp, registry.enp: also the record id of a register row);
  policy: every policy number (its exact text), except values that are also an id of a record
  (ids are not personal and are shown everywhere);
- names: "last first middle", "first middle last" and "last first" of every patient and every
  person of the insured-persons register (the register's name is a suggested value);
- birth: every birth date (patients and register) and every register death date as YYYY-MM-DD
  text (DD.MM.YYYY rearranged, not validated), except dates that also occur where they are not
  personal: any other date of the input (policies, attachments, slots, the register's policy
  and attachment dates, reference files), the catalogue and report texts, the run's dates.

The register (`registry.csv` / `.parquet`, contract v1.2) is optional: without it the needles
come from the four required files only.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from flows.extract.contract import FILES, OPTIONAL_FILES
from flows.extract.reader import read_extract_file

_SNILS_FORM = re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2}(?![0-9])")
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{7,}(?![0-9])")
_DATE = re.compile(r"(?<![0-9])(?:[0-9]{2}\.[0-9]{2}\.[0-9]{4}|[0-9]{4}-[0-9]{2}-[0-9]{2})"
                   r"(?![0-9])")
_TAG = re.compile(r"<[^>]*>")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_NAME_SEPARATORS = re.compile(r"[\s,;\"'|]+")
KINDS = ("snils", "enp", "policy", "names", "birth")


def iso(date: str) -> str:
    """YYYY-MM-DD text of a DD.MM.YYYY or YYYY-MM-DD token (not validated: 31.02 stays 02-31)."""
    return f"{date[6:]}-{date[3:5]}-{date[:2]}" if date[2] == "." else date


def dates_in(text: str) -> set[str]:
    return {iso(d) for d in _DATE.findall(text)}


def _digits(value: str) -> str:
    return value.replace("-", "").replace(" ", "")


@dataclass
class Needles:
    snils: set[str] = field(default_factory=set)
    enp: set[str] = field(default_factory=set)
    policy: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    birth: set[str] = field(default_factory=set)

    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in KINDS}


def collect(extract: Path, not_personal_text: str, with_register: bool = True) -> Needles:
    """Needles from every loaded row and every quarantined line of the batch (`with_register`:
    the insured-persons register's too, when the batch has one)."""
    rows: dict[str, pl.DataFrame] = {}
    raw_lines: list[str] = []
    for spec in FILES + (OPTIONAL_FILES if with_register else ()):
        path = next((p for p in (extract / f"{spec.name}.csv", extract / f"{spec.name}.parquet")
                     if p.exists()), None)
        if path is None and spec.optional:
            continue
        result = read_extract_file(path, spec)
        rows[spec.name] = result.loaded
        raw_lines += [x for x in result.quarantined["raw_line"].to_list() if x]
    register = rows.get("registry")
    n = Needles()
    snils = (rows["patients"]["snils"].to_list() + rows["attachments"]["doctor_snils"].to_list()
             + rows["slots"]["doctor_snils"].to_list())
    snils += register["snils"].to_list() if register is not None else []
    snils += _SNILS_FORM.findall("\n".join(raw_lines))
    n.snils = {d for d in map(_digits, snils) if len(d) == 11 and d.isdigit()}
    enp = rows["policies"]["enp"].to_list() + _LONG_DIGITS.findall("\n".join(raw_lines))
    enp += register["enp"].to_list() if register is not None else []
    n.enp = {v for v in enp if len(v) == 16 and v.isdigit()}
    ids = set()
    for spec in FILES:
        ids |= set(rows[spec.name][spec.id_column].to_list())
    ids |= set(rows["slots"]["doctor_id"].to_list())
    n.policy = {v for v in rows["policies"]["policy_number"].to_list() if len(v) >= 6} - ids
    p = rows["patients"]
    people = pl.concat([x.select("last_name", "first_name", "middle_name").fill_null("")
                        for x in (p, register) if x is not None])
    for last, first, middle in people.iter_rows():
        last, first, middle = (" ".join(_NAME_SEPARATORS.split(x.strip())) for x in
                               (last, first, middle))
        if last and first:
            n.names.add(f"{last} {first}")
            if middle:
                n.names |= {f"{last} {first} {middle}", f"{first} {middle} {last}"}
    other_dates = set()
    for name in ("policies", "attachments", "slots"):
        other_dates |= dates_in("\n".join(rows[name].drop(rows[name].columns[0])
                                          .select(pl.concat_str(pl.all(), separator=" "))
                                          .to_series().to_list()))
    births = p["birth_date"].to_list()
    if register is not None:
        other_dates |= dates_in("\n".join(register.select(pl.concat_str(
            "policy_begin", "policy_end", "attach_date", separator=" ").fill_null(""))
            .to_series().to_list()))
        births += register["birth_date"].to_list() + register["death_date"].to_list()
    other_dates |= dates_in(not_personal_text)
    n.birth = {iso(d) for d in births if d and _DATE.fullmatch(d)} - other_dates
    return n


def views(text: str) -> list[str]:
    """The text as a reader may see it: as is, with entities and JSON escapes decoded, and with
    markup removed (so cells `<td>Иванов</td><td>Иван</td>` read as `Иванов Иван`)."""
    unescaped = html.unescape(_JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
    return [text, unescaped, _TAG.sub(" ", unescaped)]


def scan(text: str, n: Needles) -> dict[str, set[str]]:
    """Every needle found in `text`, by kind."""
    hits = {k: set() for k in KINDS}
    for view in views(text):
        digits = set(_LONG_DIGITS.findall(view)) | {_digits(s) for s in _SNILS_FORM.findall(view)}
        hits["snils"] |= n.snils & digits
        hits["enp"] |= n.enp & digits
        hits["policy"] |= n.policy & digits
        other = [p for p in n.policy if not p.isdigit()]
        if other:
            hits["policy"] |= set(pl.Series([view]).str.extract_many(other).explode()
                                  .drop_nulls().to_list())
        hits["birth"] |= n.birth & dates_in(view)
        words = " ".join(_NAME_SEPARATORS.split(view))
        if n.names:
            hits["names"] |= set(pl.Series([words]).str.extract_many(
                sorted(n.names), overlapping=True).explode().drop_nulls().to_list())
    return hits


def scan_files(paths: list[Path], n: Needles) -> dict[str, dict[str, set[str]]]:
    """file -> kind -> needles found (only files with a hit)."""
    found = {}
    for path in paths:
        data = path.read_bytes()
        text = data.decode("utf-8", "replace")
        hits = scan(text, n)
        if any(hits.values()):
            found[str(path)] = {k: v for k, v in hits.items() if v}
    return found
