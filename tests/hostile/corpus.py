"""The hostile-input corpus of issue 7, built in code.

Each case is a small generator function: it breaks a copy of a clean generated region (a
`Batch`) in one way and returns what `talon run` must then do:
- `Fatal`: exit 2, one line `error: <file>[, line L][, column C]: <reason>`, the warehouse and
  the output folder untouched;
- `Completes`: exit 0, every file reconciles, and the quarantine holds exactly the listed lines
  (line number, reason, detail) and nothing else; named findings and log lines are present.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable
from xml.sax.saxutils import escape

import polars as pl

from flows.extract import dialect
from tests.hostile.batch import BOM, Batch

MALFORMED, DUPLICATE = "ROW.MALFORMED", "ROW.DUPLICATE_ID"
LONG = f"line longer than {dialect.MAX_LINE_CHARS} characters"
XML_DECL = b'<?xml version="1.0" encoding="windows-1251"?>'


@dataclass(frozen=True)
class Fatal:
    """Exit 2 with one line naming `file` and holding every fragment; `absent` nowhere in the
    output (e.g. the content of a file an external entity points at)."""

    file: str
    fragments: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completes:
    """Exit 0. `quarantine`: file -> exact [(line, reason, detail)] (other files: none);
    `added`: file -> data lines added to the clean file (rows read = clean + added), or
    `rows_read` to give the count outright; `findings`: (check, record id, value) that must be
    stored; `output`: fragments of the run's output (warnings); `extra`: further assertions;
    `gx`: also run the Great Expectations cross-check (off by default to keep the corpus fast:
    it re-runs the set rules' SQL and sees only what reached the warehouse; one case that puts
    hostile codes there keeps it on)."""

    quarantine: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    findings: tuple[tuple[str, str, str], ...] = ()
    output: tuple[str, ...] = ()
    as_of_source: str = "manifest"
    extra: Callable | None = None
    gx: bool = False


CASES: dict[str, Callable[[Batch], Fatal | Completes]] = {}


def case(fn: Callable[[Batch], Fatal | Completes]):
    CASES[fn.__name__] = fn
    return fn


# =============================================================================== fatal: CSV


@case
def empty_file(b: Batch) -> Fatal:
    b.path("patients").write_bytes(b"")
    return Fatal("patients.csv", ("the file is empty",))


@case
def blank_header_line(b: Batch) -> Fatal:
    b.path("attachments").write_bytes(b"\n" + b.path("attachments").read_bytes())
    return Fatal("attachments.csv", ("line 1", "the header line is blank"))


@case
def missing_required_column(b: Batch) -> Fatal:
    b.rewrite("slots", lambda t: t.replace('"status"', '"state"', 1))
    return Fatal("slots.csv", ("line 1", "column status", "missing required column status"))


@case
def duplicate_column_names(b: Batch) -> Fatal:
    b.rewrite("patients", lambda t: t.replace("\n", ";SNILS \n", 1))
    return Fatal("patients.csv", ("line 1", "column snils", "appears 2 times (columns 7, 8)"))


@case
def unknown_columns_only(b: Batch) -> Fatal:
    header, rest = b.text("policies").split("\n", 1)
    b.rewrite("policies", lambda t: ",".join(f"col{i}" for i in range(10)) + "\n" + rest)
    return Fatal("policies.csv", ("line 1", "column policy_id",
                                  "missing required columns policy_id, patient_id"))


@case
def header_not_decodable(b: Batch) -> Fatal:
    data = b.path("attachments").read_bytes()
    b.path("attachments").write_bytes(data.replace(b"area_name", b"area_\xff\xfename", 1))
    return Fatal("attachments.csv", ("line 1", "the header line does not decode as UTF-8"))


@case
def utf16_file(b: Batch) -> Fatal:
    b.path("slots").write_bytes(b.text("slots").encode("utf-16"))
    return Fatal("slots.csv", ("UTF-16 text is not supported",))


@case
def header_unclosed_quote(b: Batch) -> Fatal:
    b.rewrite("patients", lambda t: '"' + t)
    return Fatal("patients.csv", ("line 1", "broken quoting in the header (unclosed quote)"))


@case
def header_of_a_million_columns(b: Batch) -> Fatal:
    b.rewrite("attachments", lambda t: t.replace("\n", ";x" * 600_000 + "\n", 1))
    return Fatal("attachments.csv", ("line 1", LONG.replace("line", "the header line is")))


@case
def missing_file(b: Batch) -> Fatal:
    b.path("slots").unlink()
    return Fatal("slots.csv", ("missing required file (slots.csv or slots.parquet)",))


@case
def csv_and_parquet_both_present(b: Batch) -> Fatal:
    b.frame("patients").write_parquet(b.ext / "patients.parquet")
    return Fatal("patients.csv", ("both patients.csv and patients.parquet are present",))


@case
def folder_where_a_file_should_be(b: Batch) -> Fatal:
    b.replace_with_folder(b.path("policies"))
    return Fatal("policies.csv", ("is a folder, not a regular file",))


@case
def symlink_where_a_file_should_be(b: Batch) -> Fatal:
    b.replace_with_symlink(b.path("attachments"))  # to the genuine file: still not followed
    return Fatal("attachments.csv", ("is a symbolic link, not a regular file",))


@case
def fifo_where_a_file_should_be(b: Batch) -> Fatal:
    b.path("slots").unlink()
    os.mkfifo(b.path("slots"))  # opening it for reading would block a careless reader
    return Fatal("slots.csv", ("is a FIFO, not a regular file",))


@case
def extract_folder_missing(b: Batch) -> Fatal:
    b.extracts_arg = b.root / "no-such-folder"
    return Fatal("no-such-folder", ("extract folder not found",))


# =============================================================================== fatal: Parquet


@case
def parquet_column_without_a_text_form(b: Batch) -> Fatal:
    frame = b.frame("slots").with_columns(pl.col("slot_start").str.split("T"))
    b.to_parquet("slots", frame)
    return Fatal("slots.parquet", ("column slot_start", "cannot be read as text"))


@case
def parquet_truncated(b: Batch) -> Fatal:
    target = b.to_parquet("policies")
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return Fatal("policies.parquet", ("unreadable Parquet file",))


@case
def parquet_missing_column(b: Batch) -> Fatal:
    b.to_parquet("patients", b.frame("patients").drop("snils"))
    return Fatal("patients.parquet", ("column snils", "missing required column snils"))


# =============================================================================== fatal: manifest


def _manifest(b: Batch):
    return b.ext / "manifest.json"


@case
def manifest_malformed(b: Batch) -> Fatal:
    _manifest(b).write_text('{"region_code": "50",\n "extracted_at": }')
    return Fatal("manifest.json", ("line 2, column 18", "malformed JSON: Expecting value"))


@case
def manifest_impossible_extracted_at(b: Batch) -> Fatal:
    _manifest(b).write_text(json.dumps({"region_code": "50", "extracted_at": "31.02.2025 23:00"}))
    return Fatal("manifest.json", ("column extracted_at",
                                   "extracted_at '31.02.2025 23:00' is not a timestamp"))


@case
def manifest_not_utf8(b: Batch) -> Fatal:
    _manifest(b).write_bytes('{"source": "МИАЦ", "extracted_at": "2026-11-25 23:00"}'
                             .encode("cp1251"))
    return Fatal("manifest.json", ("not UTF-8",))


@case
def manifest_is_a_folder(b: Batch) -> Fatal:
    b.replace_with_folder(_manifest(b))
    return Fatal("manifest.json", ("is a folder, not a regular file",))


@case
def manifest_is_a_symlink(b: Batch) -> Fatal:
    b.replace_with_symlink(_manifest(b))
    return Fatal("manifest.json", ("is a symbolic link, not a regular file",))


@case
def manifest_huge(b: Batch) -> Fatal:
    _manifest(b).write_bytes(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    return Fatal("manifest.json", ("is larger than",))


@case
def manifest_far_future(b: Batch) -> Fatal:
    _manifest(b).write_text(json.dumps({"region_code": "50", "extracted_at": "2062-11-25 23:00"}))
    return Fatal("manifest.json", ("column extracted_at", "extracted_at 2062-11-25 23:00:00 is",
                                   "more than 366 days ahead"))


# =============================================================================== fatal: as_of


@case
def as_of_month_13(b: Batch) -> Fatal:
    b.args = ["--as-of", "2025-13-01"]
    return Fatal("--as-of", ("'2025-13-01' is not YYYY-MM-DD",))


@case
def as_of_far_future(b: Batch) -> Fatal:
    b.args = ["--as-of", "9999-12-31 23:59:59"]
    return Fatal("--as-of", ("--as-of 9999-12-31 23:59:59 is", "more than 366 days ahead"))


# =============================================================================== fatal: reference


def _ref(b: Batch, name: str):
    return b.ref / name


@case
def reference_malformed(b: Batch) -> Fatal:
    path = _ref(b, "F003.xml")
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"</medCompany>") + 5] + b"\n")
    return Fatal("F003.xml", ("line ", "column ", "malformed XML"))


@case
def reference_utf8_labelled_windows_1251(b: Batch) -> Fatal:
    path = _ref(b, "F002.xml")
    path.write_bytes(path.read_bytes().decode("cp1251").encode("utf-8"))
    return Fatal("F002.xml", ("line ", "column ", "declares windows-1251 but its bytes are UTF-8"))


@case
def reference_cp1251_labelled_utf8(b: Batch) -> Fatal:
    path = _ref(b, "F008.xml")
    path.write_bytes(path.read_bytes().replace(b"windows-1251", b"utf-8", 1))
    return Fatal("F008.xml", ("line ", "column ", "is not valid utf-8"))


@case
def reference_empty(b: Batch) -> Fatal:
    _ref(b, "V021.xml").write_bytes(b"")
    return Fatal("V021.xml", ("is empty",))


@case
def reference_external_entity(b: Batch) -> Fatal:
    secret = b.root / "secret.txt"
    token = f"TOP-SECRET-{secrets.token_hex(4)}"
    secret.write_text(token)
    path = _ref(b, "F010.xml")
    data = path.read_bytes()
    doctype = f'\n<!DOCTYPE packet [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode()
    data = data.replace(XML_DECL, XML_DECL + doctype, 1).replace(b"<SUBNAME>", b"<SUBNAME>&xxe;", 1)
    path.write_bytes(data)
    return Fatal("F010.xml", ("line 2", "forbidden XML construct"), absent=(token,))


@case
def reference_entity_bomb(b: Batch) -> Fatal:
    lol = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)]
    path = _ref(b, "F008.xml")
    doctype = ("\n<!DOCTYPE packet [\n" + "\n".join(lol) + "\n]>").encode()
    data = path.read_bytes().replace(XML_DECL, XML_DECL + doctype, 1)
    path.write_bytes(data.replace(b"<DOCNAME>", b"<DOCNAME>&lol9;", 1))
    return Fatal("F008.xml", ("line 2", "forbidden XML construct (DTDForbidden)"))


@case
def reference_folder_where_a_file_should_be(b: Batch) -> Fatal:
    b.replace_with_folder(_ref(b, "F003.xml"))
    return Fatal("F003.xml", ("is a folder, not a file",))


@case
def reference_symlink(b: Batch) -> Fatal:
    b.replace_with_symlink(_ref(b, "F002.xml"))
    return Fatal("F002.xml", ("is a symbolic link, not a regular file",))


# =============================================================================== completes


@case
def header_only(b: Batch) -> Completes:
    b.rewrite("slots", lambda t: t.split("\n", 1)[0] + "\n")
    return Completes(rows_read={"slots.csv": 0})


@case
def bytes_neither_utf8_nor_cp1251(b: Batch) -> Completes:
    # 0x98 is the one byte Windows-1251 leaves undefined; the slots line is binary noise
    bad_cp = b.row("patients", patient_id="H1", last_name="Ж").encode("cp1251").replace(
        b"\xc6", b"\x98\xc6\x98")
    p = b.append("patients", bad_cp, b.row("patients", patient_id="H2"))
    s = b.append("slots", b'"H3","\xff\xfe\xfd\xc0\xaf",' + bytes(range(0x80, 0x90)),
                 b.row("slots", slot_id="H4"))
    return Completes(
        quarantine={"patients.csv": [(p[0], MALFORMED, "undecodable bytes in cp1251")],
                    "slots.csv": [(s[0], MALFORMED, "undecodable bytes in UTF-8")]},
        added={"patients.csv": 2, "slots.csv": 2})


@case
def utf8_file_with_one_cp1251_line(b: Batch) -> Completes:
    line = b.row("attachments", attachment_id="H1", area_name="Участок № 1")
    a = b.append("attachments", b.row("attachments", attachment_id="H0"), line.encode("cp1251"))
    return Completes(
        quarantine={"attachments.csv": [(a[1], MALFORMED, "undecodable bytes in UTF-8")]},
        added={"attachments.csv": 2},
        output=("attachments.csv: read as UTF-8: 1 line(s) with non-ASCII bytes are not UTF-8 "
                "and are quarantined",))


@case
def mixed_delimiters(b: Batch) -> Completes:
    t = b.template("policies")
    p = b.append("policies", b.render("policies", {**t, "policy_id": "H1"}, delimiter=";"),
                 b.row("policies", policy_id="H2"))
    return Completes(added={"policies.csv": 2},
                     quarantine={"policies.csv": [(p[0], MALFORMED, "expected 10 fields, found 1")]})


@case
def unbalanced_quotes(b: Batch) -> Completes:
    good = b.row("slots", slot_id="H1")
    unclosed = b.row("slots", slot_id="H2")[:-1]
    after = b.row("slots", slot_id="H3").replace('","', '"x,"', 2)
    inside = b.row("slots", slot_id="H4", doctor_name="Петров", doctor_status="active")
    inside = inside.replace('"', "").replace("active", 'act"ive')
    s = b.append("slots", unclosed, good, after, inside)
    return Completes(added={"slots.csv": 4}, quarantine={"slots.csv": [
        (s[0], MALFORMED, "unclosed quote"), (s[2], MALFORMED, "text after closing quote"),
        (s[3], MALFORMED, "quote inside an unquoted field")]})


@case
def nul_and_control_bytes(b: Batch) -> Completes:
    p = b.append("patients", b.row("patients", patient_id="H1", last_name="Ива\x00нов"),
                 "\x00" * 40,
                 b.row("patients", patient_id="H3", first_name="Иван\x1b[31m"),
                 b.row("patients", patient_id="H4", middle_name="Ива\tнович"))
    return Completes(quarantine={"patients.csv": [
        (p[0], MALFORMED, "NUL byte"), (p[1], MALFORMED, "NUL byte"),
        (p[2], MALFORMED, "control character other than TAB")]},
        added={"patients.csv": 4})


def _no_cr_loaded(ctx) -> None:
    for table in ("raw_patients", "raw_policies", "raw_attachments"):
        cols = [r[0] for r in ctx.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND column_name NOT IN ('run_id', 'line_no')", [table]).fetchall()]
        cond = " OR ".join(f"contains({c}, chr(13)) OR contains({c}, chr(10))" for c in cols)
        n = ctx.con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ? AND ({cond})",
                            [ctx.run_id]).fetchall()[0][0]
        assert n == 0, f"{table}: {n} values carry a line end"


@case
def crlf_lone_cr_and_mixed_line_ends(b: Batch) -> Completes:
    b.rewrite("patients", lambda t: t.replace("\n", "\r\n"))
    b.rewrite("policies", lambda t: t.replace("\n", "\r"))
    ends = ["\r\n", "\r", "\n"]
    b.rewrite("attachments", lambda t: "".join(
        line + ends[i % 3] for i, line in enumerate(t.rstrip("\n").split("\n"))))
    return Completes(extra=_no_cr_loaded)


def _quarantine_is_capped(ctx) -> None:
    n = ctx.con.execute("SELECT max(length(raw_line)) FROM quarantine WHERE run_id = ?",
                        [ctx.run_id]).fetchall()[0][0]
    assert n is not None and n < dialect.RAW_LINE_CAP + 100


@case
def ten_megabyte_field(b: Batch) -> Completes:
    s = b.append("slots", b.row("slots", slot_id="H1", doctor_name="Я" * 10_000_000),
                 b.row("slots", slot_id="H2"))
    return Completes(quarantine={"slots.csv": [(s[0], MALFORMED, LONG)]},
                     added={"slots.csv": 2}, extra=_quarantine_is_capped)


@case
def million_column_lines(b: Batch) -> Completes:
    a = b.append("attachments", ";" * 999_999, "x;" * 1_000_000,
                 b.row("attachments", attachment_id="H1"))
    return Completes(quarantine={"attachments.csv": [
        (a[0], MALFORMED, "expected 9 fields, found 1000000"), (a[1], MALFORMED, LONG)]},
        added={"attachments.csv": 3}, extra=_quarantine_is_capped)


@case
def trailing_delimiters(b: Batch) -> Completes:
    p = b.append("patients", b.row("patients", patient_id="H1") + ";",
                 b.row("patients", patient_id="H2") + ";;")
    b.rewrite("policies", lambda t: t.replace("\n", ",\n"))  # header and every row: one more
    return Completes(quarantine={"patients.csv": [(p[0], MALFORMED, "expected 7 fields, found 8"),
                                                  (p[1], MALFORMED, "expected 7 fields, found 9")]},
                     added={"patients.csv": 2},
                     output=('policies.csv: extra column ignored: ""',))


@case
def byte_order_mark_in_the_middle(b: Batch) -> Completes:
    p = b.append("policies", b.row("policies", policy_id="H1", policy_series="\ufeffAB"),
                 "\ufeff" + b.row("policies", policy_id="H2"),
                 b.row("policies", policy_id="H3"))
    return Completes(quarantine={"policies.csv": [
        (p[0], MALFORMED, "byte order mark inside the file"),
        (p[1], MALFORMED, "byte order mark inside the file")]}, added={"policies.csv": 3})


@case
def impossible_dates_become_findings(b: Batch) -> Completes:
    b.append("patients", b.row("patients", patient_id="H1", birth_date="31.02.2025"),
             b.row("patients", patient_id="H2", birth_date="2025-13-01"))
    b.append("policies", b.row("policies", policy_id="H3", date_begin="2025-13-01"))
    b.append("slots", b.row("slots", slot_id="H4", slot_start="31.02.2025 10:00"))
    return Completes(added={"patients.csv": 2, "policies.csv": 1, "slots.csv": 1}, findings=(
        ("PAT.BIRTHDATE.INVALID", "H1", "31.02.2025"),
        ("PAT.BIRTHDATE.INVALID", "H2", "2025-13-01"),
        ("POL.DATES.INVALID", "H3", "2025-13-01"),
        ("SCH.SLOT.INVALID", "H4", "31.02.2025 10:00")))


@case
def duplicate_ids_and_blank_lines(b: Batch) -> Completes:
    first = b.first("patients")
    p = b.append("patients", "", b.row("patients", patient_id=first["patient_id"]), " ", "",
                 b.row("patients", patient_id="H1"))
    return Completes(quarantine={"patients.csv": [
        (p[1], DUPLICATE, "patient_id already on line 2"),
        (p[2], MALFORMED, "expected 7 fields, found 1")]},
        added={"patients.csv": 3},
        findings=(("ROW.DUPLICATE_ID", first["patient_id"], first["patient_id"]),))


def _typed_parquet_is_text(ctx) -> None:
    rows = ctx.con.execute("SELECT policy_type, date_begin, date_end FROM raw_policies "
                           "WHERE run_id = ? AND line_no = 1", [ctx.run_id]).fetchall()
    assert rows == [ctx.data["first_policy"]], rows


@case
def parquet_with_typed_columns(b: Batch) -> Completes:
    frame = b.frame("policies").with_columns(
        pl.col("policy_type").cast(pl.Int64),
        pl.col("date_begin").str.to_date("%Y-%m-%d", strict=False),
        pl.col("date_end").str.to_date("%Y-%m-%d", strict=False))
    b.to_parquet("policies", frame)
    first = frame.row(0, named=True)
    b.data = {"first_policy": (str(first["policy_type"]), str(first["date_begin"]),
                               "" if first["date_end"] is None else str(first["date_end"]))}
    return Completes(rows_read={"policies.parquet": b.base_rows["policies.csv"]},
                     extra=_typed_parquet_is_text)


@case
def parquet_with_control_characters(b: Batch) -> Completes:
    """What a CSV line cannot hold, a Parquet value can: it is quarantined the same way."""
    frame = b.frame("patients")
    t = frame.row(-1, named=True)
    bad = [("last_name", "Ива\x00нов"), ("first_name", "\ufeffИван"), ("middle_name", "Ивано\nвич"),
           ("last_name", "Ива\x1bнов"), ("last_name", "Ива\tнов")]
    extra = pl.DataFrame([{**t, "patient_id": f"H{i}", col: v} for i, (col, v) in enumerate(bad)])
    frame = pl.concat([frame, extra])
    b.to_parquet("patients", frame)
    n = frame.height  # Parquet rows are numbered from 1
    return Completes(rows_read={"patients.parquet": n}, quarantine={"patients.parquet": [
        (n - 4, MALFORMED, "NUL byte in a value"), (n - 3, MALFORMED, "byte order mark in a value"),
        (n - 2, MALFORMED, "line break in a value"),
        (n - 1, MALFORMED, "control character other than TAB in a value")]})


@case
def missing_manifest(b: Batch) -> Completes:
    (b.ext / "manifest.json").unlink()
    return Completes(as_of_source="now")


@case
def as_of_a_few_days_ahead(b: Batch) -> Completes:
    # 2.5 days ahead, so "2 days" holds however the minutes are cut and however long the run
    # takes to start (3 days exactly read "3 days" when both clocks fell in one whole second)
    b.args = ["--as-of", f"{datetime.now() + timedelta(days=2, hours=12):%Y-%m-%d %H:%M}"]
    return Completes(as_of_source="cli", output=("is in the future: 2 days after",))


def _nothing_outside(ctx) -> None:
    allowed = {"batch", "out", "w.duckdb", "w.duckdb.lock", "w.duckdb.wal", "w.duckdb.raw"}
    assert {p.name for p in ctx.tmp.iterdir()} <= allowed, sorted(p.name for p in ctx.tmp.iterdir())
    clinics = (ctx.out / "latest" / "clinics").resolve()
    names = sorted(p.name for p in clinics.iterdir())
    assert all(p.resolve().parent == clinics for p in clinics.iterdir())
    stems = {n.rsplit(".", 1)[0] for n in names}
    hostile = [s for s in stems if not s.isdigit() and s != "unassigned"]
    assert len(hostile) == len(ctx.data["known"]), names  # one distinct safe file per code


@case
def hostile_clinic_codes(b: Batch) -> Completes:
    """Clinic codes that are paths, markup, formulas, device names or over-long, both known
    (added to F003, so fix lists are written for them) and unknown."""
    known = ["../../../escaped", "<script>alert(1)</script>", "=HYPERLINK(\"x\")", "CON",
             "x" * 300]
    unknown = ["/tmp/abs", "..", "a/b\\c"]
    f003 = b.ref / "F003.xml"
    data = f003.read_bytes()
    mo = b.template("attachments")["mo_code"].encode()
    start = data.rindex(b"<medCompany>", 0, data.index(b"<mcod>" + mo + b"</mcod>"))
    block = data[start:data.index(b"</medCompany>", start) + len(b"</medCompany>")]
    clones = b"".join(block.replace(b"<mcod>" + mo + b"</mcod>", b"<mcod>" + escape(c).encode()
                                    + b"</mcod>") for c in known)
    f003.write_bytes(data.replace(b"</packet>", clones + b"</packet>"))
    b.data["known"] = known
    rows = [b.row("attachments", attachment_id=f"HK{i}", mo_code=c, attach_method="9")
            for i, c in enumerate(known)]
    rows += [b.row("attachments", attachment_id=f"HU{i}", mo_code=c) for i, c in enumerate(unknown)]
    b.append("attachments", *rows)
    return Completes(added={"attachments.csv": len(rows)}, extra=_nothing_outside, gx=True,
                     findings=(
        *(("ATT.METHOD.INVALID", f"HK{i}", "9") for i in range(len(known))),
        *(("ATT.MO.UNKNOWN", f"HU{i}", c) for i, c in enumerate(unknown))))


# =============================================================================== the register (v1.2)

_REG_HEADER = ["ENP", "FAM", "IM", "OT", "DR", "W", "SS", "SMO", "DBEG", "DEND", "death_date",
               "LPU", "LPUDT"]
_REG_ROW = ["7788899730000765", "ИВАНОВ", "ИВАН", "", "01.02.1980", "1", "112-233-445 95",
            "50001", "01.01.2015", "", "", "", ""]


def _write_registry(b: Batch, header: list[str], *rows: str) -> None:
    text = ";".join(header) + "\n" + "".join(r + "\n" for r in rows)
    b.path("registry").write_bytes(text.encode("cp1251"))


@case
def registry_column_in_both_spellings(b: Batch) -> Fatal:
    _write_registry(b, _REG_HEADER + ["snils"], ";".join(_REG_ROW + ["x"]))
    return Fatal("registry.csv", ("line 1", "column snils", "appears 2 times (as SS and snils)"))


@case
def registry_missing_birth_date(b: Batch) -> Fatal:
    header = [h for h in _REG_HEADER if h != "DR"]
    _write_registry(b, header, ";".join(v for h, v in zip(_REG_HEADER, _REG_ROW) if h != "DR"))
    return Fatal("registry.csv", ("line 1", "column birth_date",
                                  "missing required column birth_date or DR"))


@case
def registry_rows_quarantined(b: Batch) -> Completes:
    row = ";".join(_REG_ROW)
    _write_registry(b, _REG_HEADER, row, row, "1;2;3")
    return Completes(
        quarantine={"registry.csv": [(3, DUPLICATE, "enp already on line 2"),
                                     (4, MALFORMED, "expected 13 fields, found 3")]},
        rows_read={"registry.csv": 3},
        findings=(("ROW.DUPLICATE_ID", _REG_ROW[0], _REG_ROW[0]),))
