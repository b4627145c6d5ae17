"""The clinic workbook, written with xlsxwriter: a summary sheet first (its title, paragraphs and
tables), then the findings sheets, each one Excel table from row 1 (header row frozen and
repeated on every printed page, autofilter, column widths fitted to the content up to a cap,
long text wrapped, dates as Excel dates shown DD.MM.YYYY, text cells formatted as text so ids
keep their leading zeros, blocker rows filled red, new rows bold), printed landscape on A4 and
fitted to the page width, with a page header and page numbers.

Text cells are neutralised against formula injection (reports.safe) and the workbook is
opened with xlsxwriter's string-to-formula / -number / -URL conversions off.

polars' `write_excel` writes through the same xlsxwriter; the tables are written straight
through it here (`_table`) for speed: one loop over the rows instead of polars' per-call setup
and xlsxwriter's per-cell type dispatch (tests/reports/test_parallel_reports.py compares the
bytes with xlsxwriter's own worksheet).
"""
from __future__ import annotations

import math
import os
import struct
import sys
import zlib
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from pathlib import Path
from zipfile import ZIP64_LIMIT, ZIP_DEFLATED, ZIP_FILECOUNT_LIMIT, ZipFile, ZipInfo

import polars as pl
from xlsxwriter import Workbook
from xlsxwriter import __version__ as xlsxwriter_version
from xlsxwriter.packager import Packager
from xlsxwriter.sharedstrings import SharedStrings
from xlsxwriter.utility import xl_col_to_name, xl_range, xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import (CellBlankTuple, CellNumberTuple, CellStringTuple, Worksheet,
                                  _utf16_len, _utf16_truncate)

from reports.safe import neutralise_frame, neutralise_text

BLOCKER_FILL = {"bg_color": "#FDE7E5", "font_color": "#9C0006"}
#: New findings: the status cell in bold blue on light blue, the whole row bold.
NEW_CELL = {"bold": True, "bg_color": "#DDEBF7", "font_color": "#1F4E79"}
NEW_ROW = {"bold": True}
_WRAP = {"text_wrap": True, "valign": "top"}
_TOP = {"valign": "top"}
TEXT_FORMAT = "@"
DATE_FORMAT = "dd.mm.yyyy"
TABLE_STYLE = "Table Style Light 9"
#: Column widths in pixels: fitted to the longest cell (header: its longest word), between
#: these bounds unless a table caps a column lower or higher.
MIN_WIDTH, MAX_WIDTH = 48, 300
_PX_PER_CHAR, _PX_PAD = 7.2, 14
_EXCEL_EPOCH = date(1899, 12, 30)
_EPOCH_OFFSET = (date(1970, 1, 1) - _EXCEL_EPOCH).days  # 25569
A4 = 9  # xlsxwriter's paper size index
#: A findings sheet of this many rows or more is stored in bulk (`_Worksheet._store_bulk`:
#: `bulk_rows` of its one table, a few polars queries, ~1 ms a sheet more than the cell loop
#: costs below ~100 rows), unless its rows were prepared already (`Table.rows`, any size).
BULK_MIN_ROWS = 100
#: In prepared rows (`Rows.xml`): column i's style number goes where the character _STYLES[i]
#: stands, a shared string's number where _STRING stands (control characters: the rows' XML
#: has none, and it stays ASCII, which Python's string operations handle fastest). One
#: character a column: one `str.translate` puts every column's style number in at once where
#: each is a single digit (a workbook here has fewer than ten cell formats; ASCII for ASCII
#: one for one is translate's fast path), instead of a pass over the XML per column.
#: zlib level of the workbook's parts: 5 deflates a findings sheet's XML in ~60% of the CPU
#: of zlib's default 6 (the first level with lazy matching; ~1.4 CPU s less over a dense
#: region's 280 MB of sheet XML) for files ~0.8% larger (~0.6 byte per finding of the
#: output's 1,450 allowed; tests/reports/test_output_size.py). The parts are the same bytes.
ZIP_LEVEL = 5
#: The deflate of the workbook's parts: zlib-ng where installed (a dependency), zlib's format
#: in ~60% of zlib's CPU at the same level, its streams ~1% smaller on a dense region's
#: workbooks (other bytes than zlib's, the same parts once inflated); else zlib.
try:
    from zlib_ng import zlib_ng as _deflate
except ImportError:  # pragma: no cover - an environment installed before the dependency
    _deflate = zlib
#: _Workbook._store_workbook mirrors xlsxwriter's own of these versions (3.2, 3.3); with any
#: other, xlsxwriter's own runs (zlib's default level) rather than a mirror that may miss a
#: step a later version added.
_MIRRORS_XLSXWRITER = xlsxwriter_version.split(".")[:2] in (["3", "2"], ["3", "3"])
_STRING = "\x00"
_STYLES = tuple(c for c in map(chr, range(1, 32)) if c not in "\t\n\r")


@dataclass(frozen=True)
class Table:
    """One Excel table. `frame`'s headers are final; its columns are text, integers or dates.
    `text_for`: a date column -> a text column of the same frame whose value is shown where
    the date is null (a birth date that does not parse); those text columns are not written.
    `caps`: a column's maximal width in pixels (default MAX_WIDTH), `minimums` its least (an
    empty column the reader fills in); `wrap`: wrapped columns. `longest`: each column's
    longest text in characters where the caller counted it already (`longest_by`, for many
    tables at once), else counted here. `rows`: its data rows as sheet XML where the caller
    prepared them (`bulk_rows`, for many tables at once; a sheet's only table uses them)."""
    frame: pl.DataFrame
    name: str
    wrap: tuple[str, ...] = ()
    caps: dict[str, int] = field(default_factory=dict)
    text_for: dict[str, str] = field(default_factory=dict)
    minimums: dict[str, int] = field(default_factory=dict)
    longest: dict[str, int] | None = None
    rows: "Rows | None" = None

    def with_frame(self, frame: pl.DataFrame) -> "Table":
        """The table with another frame (its prepared rows, if any, kept: the same cells)."""
        return Table(frame, self.name, self.wrap, self.caps, self.text_for, self.minimums,
                     self.longest, self.rows)

    @property
    def columns(self) -> list[str]:
        hidden = set(self.text_for.values())
        return [c for c in self.frame.columns if c not in hidden]


@dataclass(frozen=True)
class Sheet:
    """A findings sheet: its table from A1. `blocker`/`new`: (column, label) whose rows are
    filled red / set bold; `inputs`: empty columns the reader fills in -> their data
    validation (xlsxwriter options: an input message, a date rule)."""
    name: str
    table: Table
    blocker: tuple[str, str] | None = None
    new: tuple[str, str] | None = None
    inputs: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    """The first sheet: a title, then blocks in order: a `str` pair (heading, paragraph) or a
    (heading, Table) pair."""
    name: str
    title: str
    blocks: list[tuple[str, str | Table]]


@dataclass(frozen=True)
class Page:
    """Print setup of every sheet: the page header's left and right text, the footer."""
    left: str
    right: str
    footer: str


@dataclass(frozen=True)
class Rows:
    """A table's data rows as sheet XML (`bulk_rows`), but for what only the workbook knows:
    each cell's style number (_STYLES of its column) and each text cell's shared-string
    number (_STRING; the k-th is the string `strings[at[k]]`). `strings`: the distinct texts
    in order of first use, row by row (xlsxwriter numbers them in that order)."""
    xml: str
    strings: list[str]
    at: list[int]


class _Worksheet(Worksheet):
    """xlsxwriter's worksheet with shortcuts that write the same bytes: a table's cells are
    stored in one loop (`_store_rows`), a formatted text or number cell is written in one
    step (the generic path escapes its reference and style index, which never need it,
    through a regex and an exception per cell), and conditional formats skip ~150 regex passes
    that only rewrite function calls (`NAME(`), which the formulas here do not have.
    tests/reports/test_parallel_reports.py compares the bytes with xlsxwriter's own worksheet.
    """

    def _store_rows(self, row0: int, col0: int, rows, numeric: list[bool],
                    formats: list) -> None:
        """Store `rows` from (row0, col0) as `_write()` would, cell by cell: text as a shared
        string, a number as a number, None and "" as a formatted blank; a column whose
        `numeric` flag is None holds both (a date's serial number, or its text where it does
        not parse). The table's corners set the sheet's dimensions once (every cell has a
        format, so every cell is stored)."""
        sst, half = self.str_table._get_shared_string_index, self.xls_strmax // 2
        last = None
        for row, values in enumerate(rows, start=row0):
            cells = self.table[row]
            for col, value, is_number, fmt in zip(range(col0, col0 + len(formats)), values,
                                                  numeric, formats):
                if value is None or value == "":
                    cells[col] = CellBlankTuple(fmt)
                elif is_number or (is_number is None and value.__class__ is not str):
                    cells[col] = CellNumberTuple(value, fmt)
                elif len(value) > half:  # may need truncating: the generic path
                    self._write_string(row, col, value, fmt)
                else:
                    cells[col] = CellStringTuple(sst(value), fmt)
            last = row
        if last is not None:
            self._check_dimensions(row0, col0)
            self._check_dimensions(last, col0 + len(formats) - 1)

    #: A findings sheet's data rows stored in bulk (`_store_bulk`): (first row, their XML,
    #: the number of each of its strings), written by `_write_rows`.
    _bulk: tuple[int, "Rows", list[str]] | None = None

    def add_lone_table(self, first_row: int, first_col: int, last_row: int, last_col: int,
                       options: dict) -> None:
        """`add_table` for a sheet's only table: xlsxwriter's check that it overlaps no other
        table or merged range walks every cell of it (two dictionary look-ups and a store
        per cell); with nothing to overlap the table is added over its first data row and its
        ranges then set to the whole table (the same table XML)."""
        if self.tables or self.merged_cells:
            raise ValueError("add_lone_table: the sheet has a table or merged range already")
        short = min(last_row, first_row + 1)
        self.add_table(first_row, first_col, short, last_col, options)
        if short == last_row:
            return
        whole = xl_range(first_row, first_col, last_row, last_col)
        table = self.tables[-1]
        table["range"] = table["a_range"] = whole  # no total row
        if "autofilter" in table:
            table["autofilter"] = whole
            for col in range(first_col, last_col + 1):
                self.filter_cells[(first_row, col)] = ("table", whole)

    def _store_bulk(self, row0: int, col0: int, table: "Table", formats: list) -> None:
        """Store `table`'s data rows from (row0, col0) as `_store_rows` would, cell by cell,
        from their XML (`Table.rows`, else `bulk_rows` of this table): text as a shared
        string (numbered here, in order of first use, row by row, as xlsxwriter numbers
        them), a number as a number, null and "" as a formatted blank. `_write_rows` adds the
        styles (style numbers are given out as the file is written). The sheet holds nothing
        else from row0 down."""
        frame = table.frame
        if not frame.height:
            return
        rows = table.rows
        if rows is None:
            key = "\x00table"
            rows = bulk_rows(frame.with_columns(pl.lit(0).alias(key)), key, table.text_for,
                             at=(row0, col0))[0]
        sst, half = self.str_table, self.xls_strmax // 2
        known = sst.string_table
        sst.count += len(rows.at)
        numbers = []
        for value in rows.strings:
            if len(value) > half and _utf16_len(value) > self.xls_strmax:
                value = _utf16_truncate(value, self.xls_strmax)
            at = known.get(value)
            if at is None:
                at = known[value] = sst.unique_count
                sst.unique_count += 1
            numbers.append(str(at))
        self._bulk = (row0, rows, numbers)
        self._bulk_formats = formats
        self._check_dimensions(row0, col0)
        self._check_dimensions(row0 + frame.height - 1, col0 + len(formats) - 1)

    def _write_rows(self) -> None:
        if self._bulk is None or self.dim_rowmax < self._bulk[0]:
            return super()._write_rows()
        row0, rows, numbers = self._bulk
        last = self.dim_rowmax
        self.dim_rowmax = row0 - 1
        try:  # the header rows as xlsxwriter writes them
            if row0 > self.dim_rowmin:
                super()._write_rows()
        finally:
            self.dim_rowmax = last
        styles = [str(fmt._get_xf_index()) for fmt in self._bulk_formats]  # in column order
        xml = rows.xml
        if all(len(style) == 1 for style in styles):
            xml = xml.translate({ord(_STYLES[i]): style for i, style in enumerate(styles)})
        else:
            for i, style in enumerate(styles):
                xml = xml.replace(_STYLES[i], style)
        pieces = xml.split(_STRING)
        self.fh.write("".join(chain.from_iterable(zip(pieces, map(numbers.__getitem__,
                                                                  rows.at)))))
        self.fh.write(pieces[-1])

    def _write_cell(self, row: int, col: int, cell) -> None:
        kind = cell.__class__
        if cell.format is None or self.constant_memory:
            return super()._write_cell(row, col, cell)
        if kind is CellStringTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" '
                          f's="{cell.format._get_xf_index()}" t="s"><v>{cell.string}</v></c>')
        elif kind is CellNumberTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" '
                          f's="{cell.format._get_xf_index()}"><v>{cell.number:.16G}</v></c>')
        else:
            super()._write_cell(row, col, cell)

    def _prepare_formula(self, formula, expand_future_functions=False):
        if "(" in formula:
            return super()._prepare_formula(formula, expand_future_functions)
        if formula.startswith("{"):
            formula = formula[1:]
        if formula.startswith("="):
            formula = formula[1:]
        if formula.endswith("}"):
            formula = formula[:-1]
        return formula


#: A shared string xlsxwriter writes otherwise than `<si><t>` + its text escaped (&, <, >) +
#: `</t></si>`: an `_xHHHH_` look-alike or a character it escapes that way, whitespace at an
#: end (`xml:space="preserve"`; any character Unicode or Python counts as space), or what
#: looks like rich text. Wider than needed is harmless: those go through xlsxwriter's writer.
_SPECIAL = (r"_x[0-9a-fA-F]{4}_|[\x00-\x08\x0b-\x1f\ufffe\uffff]"
            r"|^[\s\x1c-\x20\x85\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]"
            r"|[\s\x1c-\x20\x85\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]$"
            r"|^<r>")


class _SharedStrings(SharedStrings):
    """xlsxwriter's sharedStrings.xml writer with the plain strings (nearly all) escaped and
    wrapped by polars in one pass instead of a few Python calls each; the others through
    xlsxwriter's own `_write_si` (the same bytes)."""

    def _write_sst_strings(self) -> None:
        strings = self.string_table.string_array
        if not strings:
            return
        frame = pl.DataFrame({"s": pl.Series(strings, dtype=pl.String)}).select(
            pl.col("s").str.contains(_SPECIAL).alias("special"), _plain_si(pl.col("s")))
        plain = frame["si"]  # every string's plain form, in one pass; each run between the
        start = 0            # special ones joined by polars (no Python string per text)
        for at in [*frame["special"].arg_true().to_list(), len(strings)]:
            if at > start:
                self.fh.write(plain.slice(start, at - start).str.join("").item())
            if at < len(strings):
                self._write_si(strings[at])
            start = at + 1


def _plain_si(text: pl.Expr) -> pl.Expr:
    """`<si><t>` + the text with &, <, > escaped + `</t></si>` (a plain string's XML). One
    pass replacing the three characters (`replace_many`: single characters never overlap, so
    the same text as one `replace_all` each with `&` first)."""
    text = text.str.replace_many(["&", "<", ">"], ["&amp;", "&lt;", "&gt;"])
    return pl.concat_str(pl.lit("<si><t>"), text, pl.lit("</t></si>")).alias("si")


class _Packager(Packager):
    def _write_shared_strings_file(self) -> None:
        if not self.workbook.str_table.count:
            return
        sst = _SharedStrings()
        sst.string_table = self.workbook.str_table
        sst._set_xml_writer(self._filename("xl/sharedStrings.xml"))
        sst._assemble_xml_file()


class _Workbook(Workbook):
    """xlsxwriter's workbook with the faster shared strings writer (`_SharedStrings`), its
    parts (in memory) deflated at ZIP_LEVEL by zlib-ng (`write_zip`)."""

    def _get_packager(self):
        return _Packager()

    def _store_workbook(self) -> None:
        """xlsxwriter's `_store_workbook` for an in-memory workbook (the only kind written
        here), the same parts in the same order with the same names and timestamps, each
        deflated at ZIP_LEVEL instead of zlib's default (6), by zlib-ng (`write_zip`)."""
        if not self.in_memory or self.vba_project or not _MIRRORS_XLSXWRITER:
            return super()._store_workbook()
        if not self.worksheets():
            self.add_worksheet()
        if self.worksheet_meta.activesheet == 0:
            self.worksheets_objs[0].selected = 1
            self.worksheets_objs[0].hidden = 0
        for sheet in self.worksheets():
            if sheet.index == self.worksheet_meta.activesheet:
                sheet.active = 1
        self._prepare_sst_string_data()
        self._prepare_vml()
        self._prepare_defined_names()
        self._prepare_drawings()
        self._add_chart_data()
        self._prepare_tables()
        self._prepare_metadata()
        packager = self._get_packager()
        packager._add_workbook(self)
        packager._set_tmpdir(self.tmpdir)
        packager._set_in_memory(True)
        parts = []
        for part, name, is_binary in packager._create_package():
            data = part.getvalue()
            parts.append((name, data if is_binary else data.encode("utf-8")))
        write_zip(self.filename, parts, allow_zip64=self.allow_zip64)


#: Excel's timestamp of every part, as xlsxwriter writes it (1980-01-01 00:00:00, DOS format).
_DOS_TIME, _DOS_DATE = 0, (1980 - 1980) << 9 | 1 << 5 | 1
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # structCentralDir
_END = struct.Struct("<4s4H2LH")  # structEndArchive
_CREATE_SYSTEM = 0 if sys.platform == "win32" else 3  # as zipfile.ZipInfo


def write_zip(path: str | Path, parts: list[tuple[str, bytes]], *, allow_zip64: bool = False,
              level: int = ZIP_LEVEL, deflate=None) -> None:
    """A ZIP file of `parts` (name, bytes), each deflated at `level` by `deflate` (a zlib-like
    module; default: zlib-ng where installed), byte for byte what zipfile writes for
    `ZipFile(path, "w").writestr(ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, level)` with
    `compress_type = ZIP_DEFLATED` for each part in turn, but for the deflate streams
    (tests/reports/test_parallel_reports.py compares the bytes with zipfile's, deflated by
    zlib). zipfile's own deflate is zlib's and fixed: this writes the few records itself
    rather than replace zipfile's compressor through its internals. Archives that would need
    ZIP64 records (a part of ~2 GB, 65,535 parts) or names that are not ASCII are written by
    zipfile, deflated by zlib."""
    deflate = deflate or _deflate
    if (len(parts) > ZIP_FILECOUNT_LIMIT or sum(len(d) for _, d in parts) * 1.05 > ZIP64_LIMIT
            or not all(n.isascii() for n, _ in parts)):
        with ZipFile(path, "w", compression=ZIP_DEFLATED, allowZip64=allow_zip64) as zip_file:
            for name, data in parts:
                info = ZipInfo(name, (1980, 1, 1, 0, 0, 0))
                info.compress_type = ZIP_DEFLATED
                zip_file.writestr(info, data, compresslevel=level)
        return
    chunks, central, offset = [], [], 0
    for name, data in parts:
        packer = deflate.compressobj(level, zlib.DEFLATED, -15)
        stream = packer.compress(data) + packer.flush()
        crc, encoded = deflate.crc32(data), name.encode("ascii")
        head = _LOCAL.pack(b"PK\003\004", 20, 0, 0, ZIP_DEFLATED, _DOS_TIME, _DOS_DATE, crc,
                           len(stream), len(data), len(encoded), 0)
        central.append(_CENTRAL.pack(b"PK\001\002", 20, _CREATE_SYSTEM, 20, 0, 0, ZIP_DEFLATED,
                                     _DOS_TIME, _DOS_DATE, crc, len(stream), len(data),
                                     len(encoded), 0, 0, 0, 0, 0o600 << 16, offset) + encoded)
        chunks += (head, encoded, stream)
        offset += len(head) + len(encoded) + len(stream)
    directory = b"".join(central)
    chunks += (directory, _END.pack(b"PK\005\006", 0, 0, len(central), len(central),
                                    len(directory), offset, 0))
    with open(path, "wb") as fh:
        fh.writelines(chunks)


def _formats(table: Table) -> list[dict]:
    """Cell format of each written column: top-aligned, wrapped where asked, text as text
    (`@`: what a reader types stays text, ids keep leading zeros), integers as `#,##0`, dates
    as DD.MM.YYYY."""
    formats = []
    schema = table.frame.schema
    for column in table.columns:
        dtype = schema[column]
        spec = dict(_WRAP if column in table.wrap else _TOP)
        if dtype.is_integer():
            spec["num_format"] = "#,##0"
        elif dtype == pl.Date:
            spec["num_format"] = DATE_FORMAT
        elif dtype == pl.String or dtype == pl.Null:
            spec["num_format"] = TEXT_FORMAT
        else:
            raise TypeError(f"column {column!r}: only text, integers and dates are written "
                            f"({dtype})")
        formats.append(spec)
    return formats


def _cells(table: Table) -> tuple[list, list]:
    """The rows to write and each column's kind (True number, False text, None either)."""
    frame = table.frame
    columns, kinds = [], []
    for column in table.columns:
        series = frame[column]
        if series.dtype == pl.Date:
            serial = (series.cast(pl.Int32) + _EPOCH_OFFSET).to_list()
            if column in table.text_for:
                text = frame[table.text_for[column]].to_list()
                serial = [s if s is not None else t for s, t in zip(serial, text)]
            columns.append(serial)
            kinds.append(None)
        else:
            columns.append(series.to_list())
            kinds.append(series.dtype.is_integer())
    return list(zip(*columns)) if columns else [], kinds


def _longest_exprs(schema: pl.Schema, columns: list[str],
                   text_for: dict[str, str]) -> list[pl.Expr]:
    exprs = []
    for column in columns:
        if schema[column] == pl.Date:  # DD.MM.YYYY, or the text shown where it is null
            text = text_for.get(column)
            length = pl.col(text).str.len_chars().max().fill_null(0) if text else pl.lit(0)
            exprs.append(length.clip(lower_bound=10).alias(column))
        else:
            exprs.append(pl.col(column).cast(pl.String).str.len_chars().max().alias(column))
    return exprs


def longest_by(frame: pl.DataFrame, by: str, text_for: dict[str, str] | None = None) -> dict:
    """{`by` value: {column: longest text in characters}} for the tables cut from `frame` by
    `by` (one pass for all of them; `Table.longest`)."""
    text_for = text_for or {}
    hidden = set(text_for.values()) | {by}
    columns = [c for c in frame.columns if c not in hidden]
    counted = frame.group_by(by).agg(_longest_exprs(frame.schema, columns, text_for))
    return {row.pop(by): row for row in counted.iter_rows(named=True)}


def bulk_rows(frame: pl.DataFrame, by: str, text_for: dict[str, str] | None = None,
              at: tuple[int, int] = (1, 0)) -> dict:
    """{`by` value: Rows} of the tables cut from `frame` by `by` (its other columns are the
    tables' columns; `text_for` as in Table), each one's data rows from `at` (a findings
    sheet's: below its header row): a few polars queries for all the tables instead of a
    dozen per table or a Python loop over every cell. Text is a shared string, a number a
    number, null and "" a formatted blank."""
    text_for = text_for or {}
    hidden = set(text_for.values()) | {by}
    columns = [c for c in frame.columns if c not in hidden]
    if len(columns) > len(_STYLES):
        raise ValueError(f"bulk_rows: more than {len(_STYLES)} columns")
    row0, col0 = at
    cells, schema = [], frame.schema  # (text expr | None, number expr | None) per column
    for column in columns:
        dtype, value = schema[column], pl.col(column)
        if dtype == pl.Date:
            text = None
            if column in text_for:
                raw = pl.col(text_for[column]).cast(pl.String)
                text = pl.when(value.is_null() & (raw != "")).then(raw)
            cells.append((text, (value.cast(pl.Int64) + _EPOCH_OFFSET).cast(pl.String)))
        elif dtype.is_integer():  # `{:.16G}` of an integer: its digits below 10**16
            cells.append((None, value.cast(pl.String)))
        else:
            text = value.cast(pl.String)
            cells.append((pl.when(text != "").then(text), None))
    texts = [f"i{i}" for i, (e, _) in enumerate(cells) if e is not None]
    numbers = [f"n{i}" for i, (_, e) in enumerate(cells) if e is not None]
    source = frame.select(
        by, *[e.alias(f"i{i}") for i, (e, _) in enumerate(cells) if e is not None],
        *[e.alias(f"n{i}") for i, (_, e) in enumerate(cells) if e is not None])
    if numbers and (source.select(pl.max_horizontal(pl.col(numbers).str.len_chars().max()))
                    .item() or 0) > 16:
        raise ValueError("an integer of more than 16 digits in a findings sheet")
    strings, slots = {}, {}
    if texts:  # every text cell in row order; its place in its table's order of first use
        text, position, first = pl.col("\x00v"), pl.col("\x00p"), pl.col("\x00first")
        # (each text column's cells with their position row by row, stacked and sorted:
        # a third of the CPU of exploding a list of each row's cells)
        at_row = pl.int_range(pl.len(), dtype=pl.UInt64) * len(texts)
        stacked = (pl.concat([source.select(by, pl.col(c).alias("\x00v"),
                                            (at_row + j).alias("\x00p")).filter(text.is_not_null())
                              for j, c in enumerate(texts)]).sort("\x00p")
                   # (from here `\x00p` is the cell's row here; a text's first cell's place
                   # among its table's first cells, counted there, is given to all its cells:
                   # a gather, where a dense rank over each table sorted them again)
                   .with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("\x00p"))
                   .with_columns(position.min().over(by, text).alias("\x00first"))
                   .with_columns(((position == first).cum_sum().over(by) - 1).gather(first)
                                 .alias("\x00at")))
        strings = dict(stacked.filter(position == first).group_by(by, maintain_order=True)
                       .agg(text).iter_rows())
        slots = dict(stacked.group_by(by, maintain_order=True).agg("\x00at").iter_rows())
    # each row's number, once (an expression repeated in every cell would be computed again
    # for each: the eager API does not eliminate common subexpressions)
    source = source.with_columns(
        (pl.int_range(pl.len()).over(by) + row0 + 1).cast(pl.String).alias("\x00r"))
    number = pl.col("\x00r")
    parts = [pl.lit('<row r="'), number, pl.lit(f'" spans="{col0 + 1}:{col0 + len(cells)}">')]
    for i, (text, value) in enumerate(cells):
        tail = []
        if text is not None:
            tail.append(pl.when(pl.col(f"i{i}").is_not_null())
                        .then(pl.lit(f' t="s"><v>{_STRING}</v></c>')))
        if value is not None:
            tail.append(pl.concat_str(pl.lit("><v>"), pl.col(f"n{i}"), pl.lit("</v></c>")))
        parts += [pl.lit(f'<c r="{xl_col_to_name(col0 + i)}'), number,
                  pl.lit(f'" s="{_STYLES[i]}"'), pl.coalesce(*tail, pl.lit("/>"))]
    parts.append(pl.lit("</row>"))
    xml = source.group_by(by, maintain_order=True).agg(pl.concat_str(parts).str.join(""))
    return {key: Rows(text, strings.get(key, []), slots.get(key, []))
            for key, text in xml.iter_rows()}


def fitted_widths(table: Table) -> dict[str, int]:
    """Each written column's width in pixels: its longest cell (dates: 10 characters; the
    header: its longest word, plus room for the filter button), between the column's minimum
    (MIN_WIDTH) and its cap (MAX_WIDTH)."""
    frame = table.frame
    columns = table.columns
    longest = table.longest
    if longest is None:
        longest = (frame.select(_longest_exprs(frame.schema, columns, table.text_for))
                   .row(0, named=True) if frame.height else {})
    lengths, schema = {}, frame.schema  # (`schema` builds a new mapping each call)
    for column in columns:
        n = longest.get(column) or 0
        if schema[column].is_integer():
            n += n // 3  # thousands separators
        word = max((len(w) for w in str(column).split()), default=0) + 3
        chars = max(n, word)
        cap = table.caps.get(column, MAX_WIDTH)
        least = table.minimums.get(column, MIN_WIDTH)
        lengths[column] = int(min(cap, max(least, round(chars * _PX_PER_CHAR + _PX_PAD))))
    return lengths


def _table(wb: Workbook, ws: Worksheet, table: Table, *, at: tuple[int, int] = (0, 0),
           cache: dict, alone: bool = False) -> dict[str, int]:
    """`table` as an Excel table at `at` (header row, autofilter); returns the fitted column
    widths (the caller sets them: several tables may share a sheet's columns). `alone`: the
    sheet holds nothing else (a findings sheet): its rows are stored in bulk (from
    BULK_MIN_ROWS rows; prepared rows, `Table.rows`, at any size)."""
    row0, col0 = at
    frame = table.frame
    formats = []
    for spec in _formats(table):
        key = tuple(sorted(spec.items()))
        if key not in cache:
            cache[key] = wb.add_format(spec)
        formats.append(cache[key])
    header_key = ("header",)
    if header_key not in cache:
        cache[header_key] = wb.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    columns = table.columns
    last_row = row0 + max(frame.height, 1)  # an empty table keeps one empty data row
    if last_row >= ws.xls_rowmax or col0 + len(columns) > ws.xls_colmax:
        raise ValueError(f"a {frame.height} x {len(columns)} table does not fit a worksheet")
    bulk = (alone and frame.height >= (1 if table.rows is not None else BULK_MIN_ROWS)
            and hasattr(ws, "_store_bulk") and not ws.constant_memory
            and len(columns) <= len(_STYLES))
    (ws.add_lone_table if bulk else ws.add_table)(row0, col0, last_row, col0 + len(columns) - 1, {
        "style": TABLE_STYLE, "header_row": True, "autofilter": True, "total_row": False,
        "name": table.name,
        "columns": [{"header": c, "format": f, "header_format": cache[header_key]}
                    for c, f in zip(columns, formats)]})
    if bulk:
        ws._store_bulk(row0 + 1, col0, table, formats)
        widths = fitted_widths(table)
        return {col: widths[c] for col, c in enumerate(columns, start=col0)}
    # Cell by cell as add_table(data=...) would: row by row (shared strings are numbered in
    # order of first use), empty text and nulls as formatted blank cells.
    rows, kinds = _cells(table)
    if hasattr(ws, "_store_rows") and not ws.constant_memory:
        ws._store_rows(row0 + 1, col0, rows, kinds, formats)
    else:
        text, blank, number = ws._write_string, ws._write_blank, ws._write_number
        for row, values in enumerate(rows, start=row0 + 1):
            for col, (value, kind, fmt) in enumerate(zip(values, kinds, formats), start=col0):
                if value is None or value == "":
                    blank(row, col, value, fmt)
                elif kind or (kind is None and not isinstance(value, str)):
                    number(row, col, value, fmt)
                else:
                    text(row, col, value, fmt)
    widths = fitted_widths(table)
    return {col: widths[c] for col, c in enumerate(columns, start=col0)}


def _set_widths(ws: Worksheet, widths: dict[int, int]) -> None:
    for col, px in sorted(widths.items()):
        ws.set_column_pixels(col, col, px, None, {})


def _equals(column: int, label: str) -> dict:
    """A conditional-format rule: the row's cell in `column` equals `label` (data from row 2)."""
    quoted = label.replace('"', '""')
    return {"type": "formula", "criteria": f'=${xl_col_to_name(column)}2="{quoted}"'}


def _header_text(text: str, limit: int) -> str:
    """Text for a page header section: `&` doubled (a lone one starts a code), cut short."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text.replace("&", "&&")


def _print_setup(ws: Worksheet, page: Page, repeat_header: bool) -> None:
    ws.set_landscape()
    ws.set_paper(A4)
    ws.fit_to_pages(1, 0)  # one page wide, as many pages tall as it takes
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    if repeat_header:
        ws.repeat_rows(0)
    ws.set_header(f"&L{_header_text(page.left, 110)}&R{_header_text(page.right, 80)}")
    ws.set_footer(f"&C{page.footer}")


def _paragraph_height(text: str, width_px: int) -> float:
    """Points for a wrapped paragraph of `text` over `width_px` pixels (Excel does not fit a
    merged cell's height itself)."""
    per_line = max(1, int(width_px / _PX_PER_CHAR))
    lines = sum(max(1, math.ceil(len(part) / per_line)) for part in text.split("\n"))
    return 15.0 * (lines + 0.3)


def write_workbook(path: Path, *, summary: Summary, sheets: list[Sheet], page: Page,
                   properties: dict | None = None, custom: dict | None = None,
                   neutralised: bool = False) -> Path:
    """Write the workbook (readable by its owner only). `properties`: document properties
    (title, subject...); `custom`: custom document properties, written as text.
    `neutralised`: the caller has already applied `neutralise_frame` to every frame.

    On a findings sheet, rows whose `blocker` column holds its label are filled red; rows whose
    `new` column holds its label are bold with that cell highlighted (these rules come first,
    so they win where both set the same property)."""
    options = {"strings_to_formulas": False, "strings_to_numbers": False,
               "strings_to_urls": False, "nan_inf_to_errors": True,
               "in_memory": True}  # no temporary files (slow to create and remove)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    clean = (lambda f: f) if neutralised else neutralise_frame
    with _Workbook(str(path), options) as wb:
        if properties:
            wb.set_properties(properties)
        for name, value in (custom or {}).items():
            wb.set_custom_property(name, str(value), "text")
        cache: dict = {}
        _summary_sheet(wb, summary, page, clean, cache)
        for sheet in sheets:
            _findings_sheet(wb, sheet, page, clean, cache)
    os.chmod(path, 0o600)
    return path


def _summary_sheet(wb: Workbook, summary: Summary, page: Page, clean, cache: dict) -> None:
    ws = wb.add_worksheet(summary.name, worksheet_class=_Worksheet)
    ws.write_string(0, 0, neutralise_text(summary.title),
                    wb.add_format({"bold": True, "font_size": 14}))
    heading = wb.add_format({"bold": True, "font_size": 12})
    paragraph = wb.add_format({"text_wrap": True, "valign": "top"})
    tables = [(h, b) for h, b in summary.blocks if isinstance(b, Table)]
    # The sheet's columns: as wide as the widest table needs; a paragraph spans all of them.
    widths: dict[int, int] = {}
    for _, table in tables:
        for col, px in fitted_widths(table).items():
            at = table.columns.index(col)
            widths[at] = max(widths.get(at, 0), px)
    span = max(widths) if widths else 5
    total = sum(widths.values()) if widths else 800
    row = 2
    for title, block in summary.blocks:
        if title:
            ws.write_string(row, 0, neutralise_text(title), heading)
            row += 1
        if isinstance(block, Table):
            block = block.with_frame(clean(block.frame))
            _table(wb, ws, block, at=(row, 0), cache=cache)
            row += max(block.frame.height, 1) + 2
        else:
            text = neutralise_text(block)
            if span:
                ws.merge_range(row, 0, row, span, text, paragraph)
            else:
                ws.write_string(row, 0, text, paragraph)
            ws.set_row(row, _paragraph_height(text, total))
            row += 2
    _set_widths(ws, widths)
    _print_setup(ws, page, repeat_header=False)


def _findings_sheet(wb: Workbook, sheet: Sheet, page: Page, clean, cache: dict) -> None:
    table = sheet.table.with_frame(clean(sheet.table.frame))
    frame, columns = table.frame, table.columns
    ws = wb.add_worksheet(sheet.name, worksheet_class=_Worksheet)
    _set_widths(ws, _table(wb, ws, table, cache=cache, alone=True))
    ws.freeze_panes(1, 0)
    _print_setup(ws, page, repeat_header=True)
    last = max(frame.height, 1)
    for column, validation in sheet.inputs.items():
        at = columns.index(column)
        ws.data_validation(1, at, last, at, validation)
    if not frame.height:
        return
    if sheet.new is not None:
        at = columns.index(sheet.new[0])
        rule = _equals(at, sheet.new[1])
        ws.conditional_format(1, at, frame.height, at, {**rule, "format": wb.add_format(NEW_CELL)})
        ws.conditional_format(1, 0, frame.height, len(columns) - 1,
                              {**rule, "format": wb.add_format(NEW_ROW)})
    if sheet.blocker is not None:
        ws.conditional_format(1, 0, frame.height, len(columns) - 1, {
            **_equals(columns.index(sheet.blocker[0]), sheet.blocker[1]),
            "format": wb.add_format(BLOCKER_FILL)})
