"""Read one extract file (CSV or Parquet) faithfully: every line is loaded or quarantined.

Values stay text, exactly as written (nothing trimmed; a missing value is the empty string);
typing belongs to the checks, which hand the reader their typing (`typing`) so that each block
is typed while it is in memory and spooled with its text. The reader never loops over rows in Python: CSV lines are split
and validated with polars expressions block by block (see dialect.py), duplicates are found with
a hash over the id column.

Reconciliation, checked here: rows_read == loaded rows + quarantined rows, where rows_read counts
the physical lines after the header that are not empty.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flows.errors import InputError
from flows.extract import dialect as dl
from flows.extract.contract import ExtractFile

MALFORMED, DUPLICATE = "ROW.MALFORMED", "ROW.DUPLICATE_ID"

QUARANTINE_SCHEMA = {"line_no": pl.Int64, "reason": pl.String, "detail": pl.String,
                     "record_id": pl.String, "raw_line": pl.String}
_BAD_SCHEMA = {"line_no": pl.Int64, "detail": pl.String, "raw_line": pl.String}
#: Appended as one more field to every line before parsing (see _fields): a control character,
#: so never part of a line that gets there.
_SENTINEL = "\x01"
_HEADER_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\ufeff]")


@dataclass
class ReadResult:
    """What one file held: the loaded rows, the quarantined ones, and the ledger facts.

    The loaded rows are either in memory (``frame``) or, when the file was read with a spool
    folder, in ``spool_path`` (Parquet, written block by block so a large file never sits in
    memory) minus the line numbers in ``excluded`` (later duplicates, quarantined). With
    ``typed`` the spool file also holds the typed columns the reader's ``typing`` added to each
    block (``loaded`` still gives the text).
    """

    file_name: str
    entity: str
    format: str  # csv | parquet
    size_bytes: int
    sha256: str
    encoding: str | None  # utf-8-sig | utf-8 | cp1251; None for Parquet
    delimiter: str | None  # ; or , ; None for Parquet
    rows_read: int
    blank_lines: int
    ignored_columns: list[str]
    warnings: list[str]
    frame: pl.DataFrame | None  # line_no Int64, then every contract column as String ("" = missing)
    quarantined: pl.DataFrame  # QUARANTINE_SCHEMA
    spec: ExtractFile = field(repr=False)
    n_loaded: int = 0
    spool_path: Path | None = None
    excluded: pl.Series = field(default_factory=lambda: pl.Series("line_no", [], pl.Int64))
    typed: bool = False

    @property
    def loaded(self) -> pl.DataFrame:
        """The loaded rows as one frame (read back from the spool file when spooled)."""
        if self.frame is not None:
            return self.frame
        rows = pl.read_parquet(self.spool_path, columns=["line_no", *self.spec.columns])
        if self.excluded.len():
            rows = rows.filter(~pl.col("line_no").is_in(self.excluded.implode()))
        return rows

    @property
    def rows_loaded(self) -> int:
        return self.frame.height if self.frame is not None else self.n_loaded

    @property
    def rows_quarantined(self) -> int:
        return self.quarantined.height


def loaded_schema(spec: ExtractFile) -> dict[str, pl.DataType]:
    return {"line_no": pl.Int64, **{c: pl.String for c in spec.columns}}


def read_extract_file(path: Path, spec: ExtractFile, spool: Path | None = None,
                      typing: Callable[[pl.DataFrame], pl.DataFrame] | None = None
                      ) -> ReadResult:
    """Read ``path`` (``.csv`` or ``.parquet``) as the extract file ``spec``.

    Raises InputError when the file cannot be processed at all (unreadable, empty, a required
    column missing or duplicated); anything wrong in a single row only quarantines that row.
    With a ``spool`` folder, the loaded rows go to ``spool/<name>.parquet`` block by block
    instead of memory (the caller owns the folder and removes it); ``typing`` (with a spool
    only) is applied to each block of loaded rows before it is spooled, adding typed columns
    while the block is in memory (checks.staging.typer).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    spool_path = Path(spool) / f"{spec.name}.parquet" if spool else None
    typing = typing if spool_path is not None else None
    if suffix == ".csv":
        result = _read_csv(path, spec, spool_path, typing)
    elif suffix == ".parquet":
        result = _read_parquet(path, spec, spool_path, typing)
    else:
        raise InputError(f"unsupported file type {suffix!r} (expected .csv or .parquet)",
                         file=path.name)
    if result.rows_read != result.rows_loaded + result.rows_quarantined:
        raise RuntimeError(f"{path.name}: {result.rows_read} rows read but "
                           f"{result.rows_loaded} loaded + {result.rows_quarantined} "
                           "quarantined")
    return result


# --------------------------------------------------------------------------- header

@dataclass(frozen=True)
class _Layout:
    grammar: dl.Grammar
    n_fields: int
    positions: dict[str, int]  # contract column -> field index
    ignored: list[str]

    @property
    def delimiter(self) -> str:
        return self.grammar.delimiter


def _header_fields(line: str, grammar: dl.Grammar, file_name: str) -> list[str]:
    if '"' not in line:
        return line.split(grammar.delimiter)
    frame = pl.DataFrame({"p": [grammar.delimiter + line]})
    if not frame["p"].str.contains(grammar.line).item():
        problem = frame.select(grammar.quoting_problem(pl.col("p"))).item()
        raise InputError(f"broken quoting in the header ({problem})", file=file_name, line=1)
    return grammar.values(frame.select(grammar.matches(pl.col("p"))).to_series().explode()
                          ).to_list()


def _layout(line: str, undecodable: bool, spec: ExtractFile, file_name: str,
            encoding: str) -> _Layout:
    if undecodable:
        raise InputError(f"the header line does not decode as {_label(encoding)}",
                         file=file_name, line=1)
    if not line.strip():
        raise InputError("the header line is blank", file=file_name, line=1)
    if len(line) > dl.MAX_LINE_CHARS:
        raise InputError(f"the header line is longer than {dl.MAX_LINE_CHARS} characters",
                         file=file_name, line=1)
    if _HEADER_BAD_CHARS.search(line):
        raise InputError("the header line contains a control character or byte order mark",
                         file=file_name, line=1)
    grammar = dl.Grammar(dl.detect_delimiter(line))
    names = _header_fields(line, grammar, file_name)
    positions, ignored = _match_columns(names, spec, file_name, line=1)
    return _Layout(grammar, len(names), positions, ignored)


def _match_columns(names: list[str], spec: ExtractFile, file_name: str,
                   line: int | None) -> tuple[dict[str, int], list[str]]:
    """Map each contract column to its position; names compared stripped and lowercased, in
    any of the spellings the contract accepts for the column (spec.names_for)."""
    normalized = [dl.normalize_name(n) for n in names]
    where = {col: [i for i, n in enumerate(normalized) if n in spec.names_for(col)]
             for col in spec.columns}
    missing = [c for c in spec.columns if not where[c]]
    if missing:
        spelled = [" or ".join(n.upper() if n != c else n for n in spec.names_for(c))
                   for c in missing]
        raise InputError(f"missing required column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(spelled)}", file=file_name, line=line, column=missing[0])
    positions = {}
    for col in spec.columns:
        found = where[col]
        if len(found) > 1:
            spellings = [names[i].strip() for i in found]
            also = (f" (as {' and '.join(spellings)})"
                    if len({normalized[i] for i in found}) > 1 else "")
            raise InputError(f"required column {col} appears {len(found)} times{also} (columns "
                             f"{', '.join(str(i + 1) for i in found)})",
                             file=file_name, line=line, column=col)
        positions[col] = found[0]
    used = set(positions.values())
    return positions, [n for i, n in enumerate(names) if i not in used]


def _ignored_warning(file_name: str, ignored: list[str]) -> list[str]:
    if not ignored:
        return []
    return [f"{file_name}: extra column{'s' if len(ignored) > 1 else ''} ignored: "
            + ", ".join(f'"{n}"' for n in ignored)]


def _label(encoding: str | None) -> str:
    return "cp1251" if encoding == dl.CP1251 else "UTF-8"


# --------------------------------------------------------------------------- CSV

def _cap(expr: pl.Expr) -> pl.Expr:
    """Keep at most RAW_LINE_CAP characters of a quarantined line, saying how long it was."""
    n = expr.str.len_chars()
    return (pl.when(n > dl.RAW_LINE_CAP)
            .then(pl.concat_str(expr.str.slice(0, dl.RAW_LINE_CAP),
                                pl.format(" … [truncated; the line has {} characters]", n)))
            .otherwise(expr))


def _suspect(clean: bool = False) -> pl.Expr:
    """Cheap test for lines that cannot be a record whatever their fields (see _line_problem);
    `clean`: the block's bytes hold no BAD_CHARS character (dl.free_of_bad_chars)."""
    line = pl.col("line")
    suspect = pl.col("undecodable") | (line.str.len_bytes() > dl.MAX_LINE_CHARS)
    return suspect if clean else suspect | line.str.contains(dl.BAD_CHARS)


def _line_problem(encoding: str) -> pl.Expr:
    """Why a suspect line cannot be a record (null: it can, it was only long in bytes)."""
    line = pl.col("line")
    return (pl.when(pl.col("undecodable")).then(pl.lit(f"undecodable bytes in {_label(encoding)}"))
            .when(line.str.len_chars() > dl.MAX_LINE_CHARS)
            .then(pl.lit(f"line longer than {dl.MAX_LINE_CHARS} characters"))
            .when(line.str.contains("\x00", literal=True)).then(pl.lit("NUL byte"))
            .when(line.str.contains("\ufeff", literal=True))
            .then(pl.lit("byte order mark inside the file"))
            .when(line.str.contains(dl.BAD_CHARS))
            .then(pl.lit("control character other than TAB"))
            .otherwise(pl.lit(None, pl.String)))


def _count_problem(n: pl.Expr, expected: int) -> pl.Expr:
    return pl.format("expected {} fields, found {}", pl.lit(expected), n)


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of `frame` that owns its strings. Filtered or selected string columns are views
    into the buffers they came from (a whole block of the file): what is kept across blocks
    (ids, malformed lines) must not keep those buffers alive, or memory grows with the file."""
    return pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))


def _csv_bytes(lines: pl.Series, suffix: str) -> bytes:
    """The lines joined into one CSV text, each ending with ``suffix`` and a newline.

    Joined by polars and handed over as the bytes of one Arrow value: no Python string of the
    whole block is ever built."""
    joined = lines.str.join(suffix + "\n").to_arrow(compat_level=pl.CompatLevel.oldest())
    _, offsets, data = joined.buffers()
    start, end = np.frombuffer(offsets, dtype=np.int64)[:2]
    return bytes(memoryview(data)[start:end]) + (suffix + "\n").encode()


def _fields(lines: pl.Series, layout: _Layout) -> pl.DataFrame:
    """Parse grammar-valid lines with polars' CSV reader, one sentinel field appended to each.

    A line has exactly n_fields fields iff the sentinel lands in column n_fields: with fewer the
    sentinel comes earlier, with more a real field is there (extra columns are cut off). The
    sentinel is a control character, which no line that reaches this point contains. The
    grammar (checked before) accepts exactly the RFC 4180 quoting that the reader parses, so
    the values are those the regex grammar defines.
    """
    names = [f"f{i}" for i in range(layout.n_fields + 1)]
    if lines.is_empty():
        return pl.DataFrame(schema={n: pl.String for n in names})
    return pl.read_csv(_csv_bytes(lines, layout.delimiter + _SENTINEL), has_header=False,
                       separator=layout.delimiter, quote_char='"',
                       schema={n: pl.String for n in names}, empty_string_is_null=False,
                       truncate_ragged_lines=True, missing_columns="insert", extra_columns="ignore",
                       raise_if_empty=False)


def _plain_fields(lines: pl.Series, layout: _Layout) -> tuple[pl.DataFrame, pl.Series]:
    """(fields f0..f<n_fields>, has exactly n_fields fields) of lines that hold no quote.

    Without a quote a line's fields are exactly its text between delimiters (what the CSV
    parser of _fields gives such a line), so the line is split once, into n_fields + 1 parts:
    it has n_fields fields iff part n_fields - 1 exists and part n_fields does not."""
    n = layout.n_fields
    fields = (lines.str.split_exact(layout.delimiter, n).struct.unnest()
              .rename(lambda name: "f" + name.removeprefix("field_")))
    return fields, fields[f"f{n - 1}"].is_not_null() & fields[f"f{n}"].is_null()


def _field_count(lines: pl.Expr, grammar: dl.Grammar, quoted: pl.Expr) -> pl.Expr:
    """Number of fields of grammar-valid lines (only used for the few with a wrong count)."""
    d = grammar.delimiter
    return (pl.when(quoted).then(grammar.matches(pl.lit(d) + lines).list.len())
            .otherwise(lines.str.count_matches(d, literal=True) + 1))


def _parse_block(lines: pl.DataFrame, layout: _Layout, encoding: str,
                 schema: dict, clean: bool = False) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(loaded rows, malformed lines, blank line count) of one block of decoded lines;
    `clean`: the block's bytes hold no BAD_CHARS character (dl.free_of_bad_chars)."""
    blank = (pl.col("line") == "") & ~pl.col("undecodable")
    n_blank = int(lines.select(blank.sum()).item())
    df = (lines.filter(~blank) if n_blank else lines).with_columns(suspect=_suspect(clean))
    bad = [pl.DataFrame(schema={"line_no": pl.Int64, "detail": pl.String, "line": pl.String})]
    if df["suspect"].any():
        suspect = df.filter("suspect").with_columns(detail=_line_problem(encoding))
        bad.append(suspect.filter(pl.col("detail").is_not_null())
                   .select("line_no", "detail", "line"))
        df = pl.concat([df.filter(~pl.col("suspect")),
                        suspect.filter(pl.col("detail").is_null()).select(df.columns)]
                       ).sort("line_no")
    g = layout.grammar
    line = pl.col("line")
    # Fast path: a line of n_fields quoted fields with no quote inside them ("a";"b") is valid
    # and its values are what is between the quotes; only the other lines need the grammar.
    fast = None
    simple = df["line"].str.contains(g.fully_quoted(layout.n_fields))
    if simple.any():
        quoted_lines = df.filter(simple)
        fast = g.fully_quoted_values(quoted_lines["line"], layout.n_fields).select(
            quoted_lines["line_no"], *[pl.col(f"f{i}").alias(c)
                                       for c, i in layout.positions.items()])
        df = df.filter(~simple)
    # A line with a quote must match the grammar as a whole (tested on those lines only); one
    # without is always valid. Lines without a quote are split on the delimiter once; the
    # others parsed by _fields.
    df = df.select("line_no", "line", quoted=line.str.contains('"', literal=True))
    groups = [df]
    if df["quoted"].any():
        with_quote = df.filter("quoted").with_columns(
            valid=(pl.lit(g.delimiter) + line).str.contains(g.line))
        broken = with_quote.filter(~pl.col("valid"))
        if broken.height:
            bad.append(broken.select("line_no", g.quoting_problem(pl.lit(g.delimiter) + line)
                                     .alias("detail"), "line"))
        groups = [df.filter(~pl.col("quoted")), with_quote.filter("valid").drop("valid")]
    pieces = [fast] if fast is not None else []
    for group in groups:
        if not group.height:
            continue
        if group["quoted"].any():
            fields = _fields(group["line"], layout)
            counted = (fields[f"f{layout.n_fields}"] == _SENTINEL).fill_null(False)
        else:
            fields, counted = _plain_fields(group["line"], layout)
        if not counted.all():
            wrong = group.filter(~counted)
            bad.append(wrong.select("line_no", _count_problem(
                _field_count(line, g, pl.col("quoted")), layout.n_fields).alias("detail"),
                "line"))
            group, fields = group.filter(counted), fields.filter(counted)
        pieces.append(fields.select(group["line_no"], *[pl.col(f"f{i}").alias(c)
                                                        for c, i in layout.positions.items()]))
    pieces = [p for p in pieces if p.height]
    if not pieces:
        loaded = pl.DataFrame(schema=schema)
    elif len(pieces) == 1:
        loaded = pieces[0]
    else:
        loaded = pl.concat(pieces).sort("line_no")
    malformed = _compact(pl.concat([b.select("line_no", "detail",
                                             _cap(pl.col("line")).alias("raw_line"))
                                    .cast(_BAD_SCHEMA) for b in bad]).sort("line_no"))
    return loaded.select(list(schema)).cast(schema), malformed, n_blank


def _overlong(block: dl.Block, line_no: int, encoding: str) -> pl.DataFrame:
    head = dl.decode_head(block.head or b"", encoding)[:dl.RAW_LINE_CAP]
    return pl.DataFrame({
        "line_no": [line_no],
        "detail": [f"line longer than {dl.MAX_LINE_CHARS} characters"],
        "raw_line": [f"{head} … [truncated; the line has {block.n_bytes} bytes]"],
    }, schema=_BAD_SCHEMA)


def _numbered_lines(decoded: dl.DecodedFile):
    """(first line number, the Block, its decoded lines with line_no or None for a skipped
    overlong line) per block."""
    line_no = 1
    for block, lines in decoded:
        if lines is None:
            yield line_no, block, None
            line_no += 1
            continue
        yield line_no, block, lines.with_columns(
            line_no=pl.int_range(line_no, line_no + lines.height, dtype=pl.Int64))
        line_no += lines.height


class _LineSpans:
    """Where each line of a CSV file is, in bytes: per block its first line number, its start
    in the file and its line offsets (dl.Block.offsets, already computed to decode it), so the
    raw text of a few lines (duplicates) is read back with one pread each instead of reading
    the file again. ``usable`` is False when a block's decoded lines do not match its offsets
    (not expected: terminators are ASCII in every encoding read), and the caller then falls
    back to _raw_lines."""

    def __init__(self) -> None:
        self.firsts: list[int] = []
        self.blocks: list[tuple[int, np.ndarray]] = []
        self.usable = True

    def add(self, first: int, block: dl.Block, n_lines: int) -> None:
        if block.offsets is None or block.offsets.size - 1 != n_lines:
            self.usable = False
            return
        offsets = block.offsets
        if offsets[-1] < 2**31:  # a block of up to 2 GB: half the memory
            offsets = offsets.astype(np.int32)
        self.firsts.append(first)
        self.blocks.append((block.start, offsets))

    def raw_lines(self, path: Path, encoding: str, line_nos: pl.Series) -> pl.DataFrame:
        """(line_no, raw_line) of `line_nos`, as _raw_lines gives them."""
        wanted = np.unique(line_nos.to_numpy())
        which = np.searchsorted(np.asarray(self.firsts, dtype=np.int64), wanted,
                                side="right") - 1
        cut = []
        with dl.open_regular(path) as fh:
            fd = fh.fileno()
            for line_no, b in zip(wanted.tolist(), which.tolist()):
                start, offsets = self.blocks[b]
                i = line_no - self.firsts[b]
                lo, hi = start + int(offsets[i]), start + int(offsets[i + 1])
                data = os.pread(fd, hi - lo, lo)
                if len(data) != hi - lo:
                    raise InputError("the file changed while it was read", file=path.name)
                cut.append(data)
        return _decoded_raw(wanted, cut, encoding)


def _decoded_raw(line_nos: np.ndarray, cut: list[bytes], encoding: str) -> pl.DataFrame:
    """(line_no, raw_line capped) of the lines whose bytes are `cut`, decoded together (one at
    a time when a lone CR joined two of them)."""
    if not cut:
        return pl.DataFrame(schema={"line_no": pl.Int64, "raw_line": pl.String})
    lines = dl.decode_lines(b"".join(cut), encoding)["line"]
    if lines.len() != len(cut):
        lines = pl.concat([dl.decode_lines(c, encoding)["line"] for c in cut])
    return _compact(pl.DataFrame({"line_no": line_nos, "line": lines}, schema_overrides={
        "line_no": pl.Int64}).select("line_no", _cap(pl.col("line")).alias("raw_line")))


#: How the spool file is written. It becomes the run's raw file in the warehouse's raw store
#: (flows/warehouse.py: the load links it there instead of copying its rows into DuckDB), and
#: the checks read it back (staging, the row rules, the feed's statistics), so it is compressed
#: with LZ4, whose reading costs next to nothing: at 1M patients 0.42 GB instead of 1.08 GB
#: plain (zstd: 0.21 GB, but its reading made staging, row rules and feed 2.5 s slower); no
#: dictionary pages or column statistics (nothing filters it by them).
SPOOL_PARQUET = dict(compression="lz4", use_dictionary=False,
                     write_statistics=False)
#: The spool file itself also dictionary-encodes the columns of few distinct values (names,
#: codes, dates, slot times; chosen on the first block: `_dictionary_columns`): at 1M patients
#: it is about a quarter smaller, its writing cheaper, and reading it back (staging's DuckDB
#: tables, polars) cheaper. A column whose dictionary outgrows pyarrow's dictionary page
#: limit falls back to plain encoding; the values read back are the same either way.
#: A column is dictionary-encoded when the first block has fewer distinct values in it
#: (estimated: approx_n_unique, ~0.05 CPU s for a block of 500k rows) than this share of its
#: rows.
DICTIONARY_SHARE = 1 / 8


def _dictionary_columns(rows: pl.DataFrame) -> list[str]:
    """The columns to dictionary-encode in a spool file whose first block is `rows`: text
    and temporal columns with few distinct values (booleans are a bit each already)."""
    columns = [c for c, t in rows.schema.items() if t == pl.String or t.is_temporal()]
    if not rows.height or not columns:
        return []
    distinct = rows.select(pl.col(columns).approx_n_unique()).row(0)
    return [c for c, n in zip(columns, distinct) if n < rows.height * DICTIONARY_SHARE]


class _Sink:
    """Where the loaded rows of a CSV file go, block by block: a list of frames in memory, or a
    Parquet spool file. Either way the (line_no, id) keys stay in memory for the duplicate
    check, which needs the whole file."""

    def __init__(self, spec: ExtractFile, path: Path | None, typing=None):
        self.id_column, self.path, self.typing = spec.id_column, path, typing
        self.frames: list[pl.DataFrame] = []
        self.keys: list[pl.DataFrame] = []
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def add(self, rows: pl.DataFrame) -> None:
        self.rows += rows.height
        if self.path is None:
            self.frames.append(rows)
            return
        self.keys.append(_compact(rows.select("line_no", self.id_column)))
        if self.typing is not None:
            rows = self.typing(rows)
        # string views as they are (the oldest compat level copied every string; Parquet and
        # its readers see the same text either way)
        table = rows.to_arrow(compat_level=pl.CompatLevel.newest())
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, **dict(
                SPOOL_PARQUET, use_dictionary=_dictionary_columns(rows) or False))
        self.writer.write_table(table)

    def close(self, schema: dict) -> tuple[pl.DataFrame | None, pl.DataFrame]:
        """(the rows in memory or None when spooled, the (line_no, id) keys)."""
        if self.path is None:
            rows = pl.concat(self.frames) if self.frames else pl.DataFrame(schema=schema)
            return rows, rows.select("line_no", self.id_column)
        if self.writer is None:  # no row at all: an empty spool file all the same
            self.add(pl.DataFrame(schema=schema))
        self.writer.close()
        keys = (pl.concat(self.keys) if self.keys
                else pl.DataFrame(schema={"line_no": pl.Int64, self.id_column: pl.String}))
        return None, keys

    def finish(self, schema: dict, spec: ExtractFile, bads: list[pl.DataFrame],
               raw_texts) -> dict:
        """Close the sink and quarantine what the file held besides its loaded rows: the
        malformed lines (`bads`) and the later occurrences of an id; the ReadResult fields
        that follow. `raw_texts(line_nos, frame)`: (line_no, raw_line) of those lines (`frame`:
        the rows in memory, or None when spooled)."""
        frame, keys = self.close(schema)
        malformed = (pl.concat(bads) if bads else pl.DataFrame(schema=_BAD_SCHEMA)).with_columns(
            reason=pl.lit(MALFORMED), record_id=pl.lit(None, pl.String))
        duplicates = _duplicates(keys, spec)
        if duplicates.height:
            raw = raw_texts(duplicates["line_no"], frame)
            if frame is not None:
                frame = frame.filter(~pl.col("line_no").is_in(duplicates["line_no"].implode()))
            duplicates = duplicates.join(raw, on="line_no", how="left")
        else:
            duplicates = duplicates.with_columns(raw_line=pl.lit(None, pl.String))
        quarantined = pl.concat([malformed.select(list(QUARANTINE_SCHEMA)),
                                 duplicates.select(list(QUARANTINE_SCHEMA))]).sort("line_no")
        return dict(frame=frame, quarantined=quarantined.cast(QUARANTINE_SCHEMA), spec=spec,
                    n_loaded=self.rows - duplicates.height, spool_path=self.path,
                    excluded=duplicates["line_no"], typed=self.typing is not None)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _read_csv(path: Path, spec: ExtractFile, spool_path: Path | None = None,
              typing=None) -> ReadResult:
    known = None
    while True:
        sink = _Sink(spec, spool_path, typing)
        try:
            return _read_csv_into(path, spec, sink, known)
        except dl.EncodingChanged as changed:  # rare: the file's end overturned its start
            sink.abort()
            known = changed.decision  # read again with the decision; cannot change again
        except BaseException:
            sink.abort()
            raise


def _read_csv_into(path: Path, spec: ExtractFile, sink: _Sink,
                   known: dl.EncodingDecision | None = None) -> ReadResult:
    """Read the file once, deciding its encoding as it goes (dl.DecodedFile); raises
    dl.EncodingChanged when the end of the file overturns the encoding read from its start:
    the caller then reads it again into a new sink with ``known=exc.decision``."""
    file_name = path.name
    schema = loaded_schema(spec)
    hasher = hashlib.sha256()
    decision = dl.DecodedFile(path, hasher, known)  # its .note is final after the loop
    encoding = decision.encoding
    layout: _Layout | None = None
    bads: list[pl.DataFrame] = []
    spans = _LineSpans()
    n_lines = n_blank = 0
    for first, block, lines in _numbered_lines(decision):
        if lines is None:
            if layout is None:
                raise InputError(f"the header line is longer than {dl.MAX_LINE_CHARS} "
                                 "characters", file=file_name, line=1)
            bads.append(_overlong(block, first, encoding))
            n_lines += 1
            continue
        spans.add(first, block, lines.height)
        n_lines += lines.height
        if layout is None:
            line, undecodable, _ = lines.row(0)
            layout = _layout(line, undecodable, spec, file_name, encoding)
            lines = lines.slice(1)
        good, bad, blank = _parse_block(lines, layout, encoding, schema,
                                        dl.free_of_bad_chars(block.data, encoding))
        sink.add(good)
        bads.append(bad)
        n_blank += blank
    if layout is None:
        raise InputError("the file is empty (no header line)", file=file_name)
    size = path.stat().st_size
    raw_lines = spans.raw_lines if spans.usable else _raw_lines
    rest = sink.finish(schema, spec, bads,
                       lambda line_nos, _frame: raw_lines(path, encoding, line_nos))
    warnings = _ignored_warning(file_name, layout.ignored)
    if decision.note:
        warnings.append(f"{file_name}: {decision.note}")
    return ReadResult(
        file_name=file_name, entity=spec.entity, format="csv", size_bytes=size,
        sha256=hasher.hexdigest(), encoding=encoding, delimiter=layout.delimiter,
        rows_read=n_lines - 1 - n_blank, blank_lines=n_blank, ignored_columns=layout.ignored,
        warnings=warnings, **rest)


def _duplicates(keys: pl.DataFrame, spec: ExtractFile) -> pl.DataFrame:
    """Quarantine rows of the later occurrences of an id: the first (lowest line) stays."""
    keys = keys.sort("line_no") if not keys["line_no"].is_sorted() else keys
    # Only rows whose id's hash repeats can repeat an id (equal texts hash alike): those few
    # rows are compared as text among themselves, in line order.
    none = pl.DataFrame(schema={k: QUARANTINE_SCHEMA[k]
                                for k in ("line_no", "reason", "detail", "record_id")})
    candidates = _repeated_hashes(keys[spec.id_column])
    if candidates is None:
        return none
    keys = keys.filter(candidates)
    first = keys[spec.id_column].is_first_distinct()
    if first.all():
        return none
    later = keys.filter(~first).select("line_no", pl.col(spec.id_column).alias("record_id"))
    origin = keys.filter(first).select(pl.col(spec.id_column).alias("record_id"),
                                       pl.col("line_no").alias("first_line"))
    return later.join(origin, on="record_id", how="left", maintain_order="left").select(
        "line_no", reason=pl.lit(DUPLICATE),
        detail=pl.format("{} already on line {}", pl.lit(spec.id_column), pl.col("first_line")),
        record_id="record_id")


def _repeated_hashes(ids: pl.Series) -> np.ndarray | None:
    """Which values of `ids` have a 64-bit hash that another value has too (a superset of the
    values that repeat: equal texts hash alike), or None when no hash repeats. Sorting the
    hashes (numpy) and a set lookup of the few repeated ones cost a tenth of hashing every
    text into a set (is_first_distinct: 0.2-0.3 CPU s per 1.4M ids)."""
    hashes = ids.hash()
    ordered = np.sort(hashes.to_numpy())
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not repeated.size:
        return None
    return hashes.is_in(pl.Series(np.unique(repeated)).implode()).to_numpy()


def _raw_lines(path: Path, encoding: str, line_nos: pl.Series) -> pl.DataFrame:
    """Re-read the text of a few lines (duplicates) instead of holding every line in memory:
    the fallback of _LineSpans.raw_lines, reading the whole file again.

    Per block only the line ends are found (numpy); just the wanted lines are cut out and
    decoded, together, so the file is not decoded a second time."""
    wanted = np.unique(line_nos.to_numpy())
    parts = []
    line_no = 1
    with dl.open_regular(path) as fh:
        for block in dl.iter_blocks(fh, strip_bom=encoding == dl.UTF8_SIG):
            if block.data is None:
                line_no += 1
                continue
            offsets = dl.line_offsets(block.data)
            n = offsets.size - 1
            lo, hi = np.searchsorted(wanted, [line_no, line_no + n])
            if hi > lo:
                index = wanted[lo:hi] - line_no
                parts.append(_decoded_raw(wanted[lo:hi], [block.data[offsets[i]:offsets[i + 1]]
                                                          for i in index], encoding))
            line_no += n
    return pl.concat(parts) if parts else _decoded_raw(wanted[:0], [], encoding)


# --------------------------------------------------------------------------- Parquet

def _text_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """One Parquet column as contract text: dates and timestamps in contract formats."""
    col = pl.col(name)
    if dtype == pl.Date:
        text = col.dt.strftime("%Y-%m-%d")
    elif isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%d %H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
        text = col.dt.strftime(fmt)
    else:
        text = col.cast(pl.String)
    return text.fill_null("").alias(name)


def _textual(t: pa.DataType) -> bool:
    """Arrow types whose values have one sensible text form."""
    if pa.types.is_dictionary(t):
        return _textual(t.value_type)
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
            or pa.types.is_boolean(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)
            or pa.types.is_time(t) or pa.types.is_null(t))


def _sha256(path: Path) -> tuple[int, str]:
    hasher = hashlib.sha256()
    with dl.open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        while chunk := fh.read(dl.BLOCK_BYTES):
            hasher.update(chunk)
    return size, hasher.hexdigest()


#: Rows of a Parquet extract converted to text at a time (the file is read batch by batch).
PARQUET_BATCH_ROWS = 1_000_000


def _read_parquet(path: Path, spec: ExtractFile, spool_path: Path | None = None,
                  typing=None) -> ReadResult:
    """Read a Parquet extract batch by batch (PARQUET_BATCH_ROWS rows): each batch's values
    become contract text, rows with a value no CSV record could hold are quarantined, and the
    rest go to the sink (memory, or the spool file like a CSV file's rows)."""
    file_name = path.name
    size, digest = _sha256(path)  # also refuses symlinks, folders, FIFOs
    if size == 0:
        raise InputError("the file is empty", file=file_name)
    sink = _Sink(spec, spool_path, typing)
    try:
        return _read_parquet_into(path, spec, sink, size, digest)
    except BaseException:
        sink.abort()
        raise


def _read_parquet_into(path: Path, spec: ExtractFile, sink: _Sink, size: int,
                       digest: str) -> ReadResult:
    file_name = path.name
    schema = loaded_schema(spec)
    as_json = _cap(pl.struct(spec.columns).struct.json_encode()).alias("raw_line")
    bads: list[pl.DataFrame] = []
    n_rows = 0
    try:
        with pq.ParquetFile(path) as pfile:
            arrow_schema = pfile.schema_arrow
            names = list(arrow_schema.names)
            positions, ignored = _match_columns(names, spec, file_name, line=None)
            for i in positions.values():
                if not _textual(arrow_schema.field(i).type):
                    raise InputError(f"Parquet type {arrow_schema.field(i).type} cannot be "
                                     "read as text", file=file_name, column=names[i])
            renames = {names[i]: col for col, i in positions.items()}
            for batch in pfile.iter_batches(batch_size=PARQUET_BATCH_ROWS,
                                            columns=[names[i] for i in positions.values()]):
                frame = pl.from_arrow(pa.Table.from_batches([batch])).rename(renames)
                rows = frame.select(
                    pl.int_range(n_rows + 1, n_rows + frame.height + 1,
                                 dtype=pl.Int64).alias("line_no"),
                    *[_text_expr(c, frame.schema[c]) for c in spec.columns])
                n_rows += frame.height
                rows = rows.with_columns(_value_problem(spec.columns).alias("_problem"))
                bads.append(rows.filter(pl.col("_problem").is_not_null()).select(
                    "line_no", detail="_problem", raw_line=as_json))
                sink.add(rows.filter(pl.col("_problem").is_null()).drop("_problem"))
    except (pa.ArrowException, OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"unreadable Parquet file ({_short(exc)})", file=file_name) from None

    def raw_texts(line_nos: pl.Series, frame: pl.DataFrame | None) -> pl.DataFrame:
        rows = (frame.lazy() if frame is not None
                else pl.scan_parquet(sink.path).select("line_no", *spec.columns))
        return rows.filter(pl.col("line_no").is_in(line_nos.implode())).select(
            "line_no", as_json).collect()

    return ReadResult(
        file_name=file_name, entity=spec.entity, format="parquet", size_bytes=size,
        sha256=digest, encoding=None, delimiter=None, rows_read=n_rows, blank_lines=0,
        ignored_columns=ignored, warnings=_ignored_warning(file_name, ignored),
        **sink.finish(schema, spec, bads, raw_texts))


def _value_problem(columns: tuple[str, ...]) -> pl.Expr:
    """Why a Parquet row cannot be a record (null: it can): the characters a CSV line may not
    hold (see _line_problem) and line breaks, which a CSV record cannot carry either. So the
    warehouse holds the same kind of text whichever format a file came in, and no control
    character reaches a clinic's spreadsheet (XML 1.0, hence XLSX, cannot hold most of them)."""
    def any_value(test) -> pl.Expr:
        return pl.any_horizontal([test(pl.col(c)) for c in columns])

    return (pl.when(any_value(lambda v: v.str.contains("\x00", literal=True)))
            .then(pl.lit("NUL byte in a value"))
            .when(any_value(lambda v: v.str.contains("\ufeff", literal=True)))
            .then(pl.lit("byte order mark in a value"))
            .when(any_value(lambda v: v.str.contains("[\r\n]")))
            .then(pl.lit("line break in a value"))
            .when(any_value(lambda v: v.str.contains(dl.BAD_CHARS)))
            .then(pl.lit("control character other than TAB in a value"))
            .when(any_value(lambda v: v.str.len_chars() > dl.MAX_LINE_CHARS))
            .then(pl.lit(f"value longer than {dl.MAX_LINE_CHARS} characters"))
            .otherwise(pl.lit(None, pl.String)))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
