"""Loaders for the FFOMS NSI classifiers (F002, F003, F008, F010, V021) into polars frames.

Each frame is shaped exactly like its warehouse table minus run_id (flows/warehouse.py).
Codes and names are the exact text of their element; only XML white space around the text is
removed (a trailing NBSP stays: it is data). Dates are strict DD.MM.YYYY; an empty or absent end
date is an open end. F002/F003 give one row per inclusion period (insInclude/medInclude), and
one row with null dates for a member without any period (it counts as excluded).
Anything that cannot be loaded exactly is an InputError naming the file and the record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

import duckdb
import polars as pl

from flows.errors import InputError
from flows.reference.xmlsafe import MAX_XML_BYTES, XML_SPACE, XmlText, iter_records, read_xml

ROOT = "packet"
ENTITY = "reference"  # run_files.entity of every reference file
FORMAT = "xml"
DATE_FORMAT = "DD.MM.YYYY"
_DATE_RE = r"^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$"


@dataclass(frozen=True)
class Classifier:
    """Where one classifier's columns live in its XML."""

    key: str  # f002 → table ref_f002
    file_name: str  # F002.xml
    record: str  # record element under <packet>
    code: tuple[str, str]  # (column, element)
    fields: tuple[tuple[str, str, bool], ...]  # (column, element, required), after the code
    begin: tuple[str, str]  # (column, element); required, non-empty, DD.MM.YYYY
    end: tuple[str, str]  # (column, element); optional, empty/absent = open end
    period: str | None = None  # element holding begin/end (repeatable); None: on the record

    @property
    def table(self) -> str:
        return f"ref_{self.key}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.code[0], *(c for c, _, _ in self.fields), self.begin[0], self.end[0])

    @property
    def schema(self) -> dict[str, pl.DataType]:
        dates = {self.begin[0], self.end[0]}
        return {c: (pl.Date if c in dates else pl.String) for c in self.columns}


F002 = Classifier("f002", "F002.xml", "insCompany", ("smocod", "smocod"),
                  (("tf_okato", "tf_okato", True), ("name", "nam_smok", True)),
                  ("d_begin", "d_begin"), ("d_end", "d_end"), period="insInclude")
F003 = Classifier("f003", "F003.xml", "medCompany", ("mcod", "mcod"),
                  (("tf_okato", "tf_okato", True), ("name", "nam_mok", True),
                   ("e_mail", "e_mail", False)),
                  ("d_begin", "d_begin"), ("d_end", "d_end"), period="medInclude")
F008 = Classifier("f008", "F008.xml", "zap", ("iddoc", "IDDOC"), (("name", "DOCNAME", True),),
                  ("date_begin", "DATEBEG"), ("date_end", "DATEEND"))
F010 = Classifier("f010", "F010.xml", "zap", ("kod_tf", "KOD_TF"),
                  (("kod_okato", "KOD_OKATO", True), ("name", "SUBNAME", True)),
                  ("date_begin", "DATEBEG"), ("date_end", "DATEEND"))
V021 = Classifier("v021", "V021.xml", "zap", ("idspec", "IDSPEC"),
                  (("name", "SPECNAME", True),),
                  ("date_begin", "DATEBEG"), ("date_end", "DATEEND"))

CLASSIFIERS: tuple[Classifier, ...] = (F002, F003, F008, F010, V021)
BY_KEY = {c.key: c for c in CLASSIFIERS}


@dataclass(frozen=True)
class RefFile:
    """What the run ledger records about one reference file."""

    file_name: str
    path: Path
    size_bytes: int
    sha256: str
    encoding: str
    rows: int


@dataclass(frozen=True)
class Reference:
    """All classifiers of one reference folder, plus their files' metadata."""

    f002: pl.DataFrame
    f003: pl.DataFrame
    f008: pl.DataFrame
    f010: pl.DataFrame
    v021: pl.DataFrame
    files: tuple[RefFile, ...] = field(default=())

    def frames(self) -> dict[str, pl.DataFrame]:
        """key (f002 ...) → frame, in CLASSIFIERS order."""
        return {c.key: getattr(self, c.key) for c in CLASSIFIERS}


def _show(value: str) -> str:
    """A value from the file, quoted and safe for a one-line message."""
    value = value if len(value) <= 40 else value[:40] + "..."
    return f"'{value}'" if value.isprintable() else repr(value)


def _code(value: str) -> str:
    """A code for a message: bare when plain, quoted otherwise."""
    return value if value.isprintable() and len(value) <= 40 else _show(value)


def _text(rec: Element, tag: str, required: bool, where: str) -> str | None:
    """Text of the single <tag> child of rec; None when absent and optional."""
    found = rec.findall(tag)
    if not found:
        if required:
            raise InputError(f"{where}: missing required element <{tag}>")
        return None
    if len(found) > 1:
        raise InputError(f"{where}: element <{tag}> occurs {len(found)} times, expected once")
    if len(found[0]):
        raise InputError(f"{where}: element <{tag}> must hold text, not elements")
    return (found[0].text or "").strip(XML_SPACE)


def _collect(xml: XmlText, spec: Classifier) -> pl.DataFrame:
    """One text row per record (or per inclusion period), with its position for messages."""
    names = [spec.code[0], *(c for c, _, _ in spec.fields), spec.begin[0], spec.end[0]]
    cols: dict[str, list] = {c: [] for c in (*names, "_rec", "_per", "_nper")}
    code_el = spec.code[1]
    n = 0
    for n, rec in enumerate(iter_records(xml, ROOT, spec.record), 1):
        where = f"{spec.record} #{n}"
        code = _text(rec, code_el, True, where)
        if code == "":
            raise InputError(f"{where}: element <{code_el}> is empty")
        where = f"{where} ({code_el} {_code(code)})"
        values = [code, *(_text(rec, el, req, where) for _, el, req in spec.fields)]
        if spec.period is None:
            periods = [(_text(rec, spec.begin[1], True, where),
                        _text(rec, spec.end[1], False, where), None)]
        else:
            found = rec.findall(spec.period)
            at = [where + (f" {spec.period} #{k}" if len(found) > 1 else "")
                  for k in range(1, len(found) + 1)]
            periods = [(_text(p, spec.begin[1], True, at[k - 1]),
                        _text(p, spec.end[1], False, at[k - 1]), k)
                       for k, p in enumerate(found, 1)] or [(None, None, None)]
        for begin, end, k in periods:
            for c, v in zip(names, (*values, begin, end)):
                cols[c].append(v)
            cols["_rec"].append(n)
            cols["_per"].append(k)
            cols["_nper"].append(len(periods))
    if n == 0:
        raise InputError(f"contains no <{spec.record}> records under <{ROOT}>")
    schema = {c: pl.String for c in names} | {"_rec": pl.Int64, "_per": pl.Int64,
                                               "_nper": pl.Int64}
    return pl.DataFrame(cols, schema=schema)


def _parse_dates(raw: pl.DataFrame, spec: Classifier) -> pl.DataFrame:
    """Strict DD.MM.YYYY → Date, vectorised; the first unparseable value is an InputError."""
    (b_col, b_el), (e_col, e_el) = spec.begin, spec.end

    def parsed(col: str) -> pl.Expr:
        s = pl.col(col)
        return (pl.when(s.str.contains(_DATE_RE))
                .then(s.str.strptime(pl.Date, "%d.%m.%Y", strict=False)))

    has_period = pl.lit(True) if spec.period is None else pl.col("_per").is_not_null()
    out = raw.with_columns(parsed(b_col).alias("_b"), parsed(e_col).alias("_e"))
    bad = out.filter(
        (has_period & pl.col("_b").is_null())
        | (pl.col(e_col).is_not_null() & (pl.col(e_col) != "") & pl.col("_e").is_null())
    ).head(1)
    if bad.height:
        row = bad.row(0, named=True)
        where = f"{spec.record} #{row['_rec']} ({spec.code[1]} {_code(row[spec.code[0]])})"
        if spec.period is not None and row["_nper"] > 1:
            where += f" {spec.period} #{row['_per']}"
        if row["_b"] is None:
            el, value = b_el, row[b_col]
        else:
            el, value = e_el, row[e_col]
        what = "is empty" if value == "" else f"{_show(value)} is not {DATE_FORMAT}"
        raise InputError(f"{where}: {el} {what}")
    return out.select(*(c for c in spec.columns if c not in (b_col, e_col)),
                      pl.col("_b").alias(b_col), pl.col("_e").alias(e_col))


def load_classifier(path: Path, spec: Classifier | str, *,
                    max_bytes: int = MAX_XML_BYTES) -> tuple[pl.DataFrame, RefFile]:
    """Load one classifier file; returns its frame and its ledger metadata."""
    spec = BY_KEY[spec] if isinstance(spec, str) else spec
    path = Path(path)
    xml = read_xml(path, max_bytes)
    try:
        frame = _parse_dates(_collect(xml, spec), spec)
    except InputError as exc:
        if exc.file is None:  # record-level errors: name the file
            raise InputError(exc.message, file=str(path)) from None
        raise
    meta = RefFile(path.name, path, xml.size_bytes, xml.sha256, xml.encoding, frame.height)
    return frame, meta


def load_reference(ref_dir: Path, *, max_bytes: int = MAX_XML_BYTES) -> Reference:
    """Load every classifier of a reference folder (all five files are required)."""
    ref_dir = Path(ref_dir)
    if not ref_dir.is_dir():
        what = "is missing" if not ref_dir.exists() else "is not a folder"
        raise InputError(f"reference folder {what}", file=str(ref_dir))
    frames, files = {}, []
    for spec in CLASSIFIERS:
        frames[spec.key], meta = load_classifier(ref_dir / spec.file_name, spec,
                                                 max_bytes=max_bytes)
        files.append(meta)
    return Reference(**frames, files=tuple(files))


def file_metadata(ref: Reference) -> tuple[RefFile, ...]:
    """The ledger metadata of every file a Reference was loaded from."""
    return ref.files


def store_reference(con: duckdb.DuckDBPyConnection, run_id: str, ref: Reference) -> None:
    """Insert every classifier into ref_<key> and one run_files row per XML file.

    Set-based (Arrow views). Opens no transaction: call it inside the run's transaction so a
    failure publishes nothing (DuckDB does not nest transactions).
    """
    frames = ref.frames()
    for spec in CLASSIFIERS:
        view = f"_talon_ref_{spec.key}"
        arrow = frames[spec.key].select(spec.columns).to_arrow()
        con.register(view, arrow)
        try:
            cols = ", ".join(spec.columns)
            con.execute(f"INSERT INTO {spec.table} (run_id, {cols}) "
                        f"SELECT ?, {cols} FROM {view}", [run_id])
        finally:
            con.unregister(view)
    if ref.files:
        ledger = pl.DataFrame(
            {
                "run_id": [run_id] * len(ref.files),
                "file_name": [f.file_name for f in ref.files],
                "entity": [ENTITY] * len(ref.files),
                "format": [FORMAT] * len(ref.files),
                "size_bytes": [f.size_bytes for f in ref.files],
                "sha256": [f.sha256 for f in ref.files],
                "encoding": [f.encoding for f in ref.files],
                "rows_read": [f.rows for f in ref.files],
                "rows_loaded": [f.rows for f in ref.files],
                "rows_quarantined": [0] * len(ref.files),
            },
            schema={"run_id": pl.String, "file_name": pl.String, "entity": pl.String,
                    "format": pl.String, "size_bytes": pl.Int64, "sha256": pl.String,
                    "encoding": pl.String, "rows_read": pl.Int64, "rows_loaded": pl.Int64,
                    "rows_quarantined": pl.Int64},
        ).to_arrow()
        con.register("_talon_ref_files", ledger)
        try:
            cols = ", ".join(ledger.column_names)
            con.execute(f"INSERT INTO run_files ({cols}) SELECT {cols} FROM _talon_ref_files")
        finally:
            con.unregister("_talon_ref_files")
