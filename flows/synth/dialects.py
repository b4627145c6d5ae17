"""Writing extract files in the dialects the input contract allows, one variation per file.

patients.csv     Windows-1251, `;`, dates DD.MM.YYYY, quoting only where needed
policies.csv     UTF-8 with BOM, `,`, dates YYYY-MM-DD
attachments.csv  UTF-8, `;`, shuffled column order, an extra column (area_name), mixed date formats
slots.csv        UTF-8, `,`, every field quoted, an extra column whose values contain the delimiter,
                 timestamps in all three contract layouts

One record is always one physical line (no embedded line breaks), so a row's line number is its
position + 2 (the header is line 1); malformed lines are rendered from a normal row by a
corruption op and keep that property. Rendering is vectorised (polars string expressions).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

# Stand-in for bytes that do not decode in the file's encoding (polars strings must be UTF-8);
# replaced in the encoded bytes by a Windows-1251 word, which is not valid UTF-8.
BAD_BYTES_TOKEN = "\x00BAD\x00"
BAD_BYTES = "ЕА".encode("cp1251")  # b"\xc5\xc0": invalid UTF-8

# Corruption ops (column _corrupt; field-level ones name the field in _cfield).
FIELD_OPS = ("unclosed_quote", "text_after_quote", "raw_delimiter", "bad_bytes")
LINE_OPS = ("drop_field", "extra_field")


@dataclass(frozen=True)
class Dialect:
    encoding: str  # python codec: cp1251 or utf-8
    bom: bool
    delimiter: str
    quote_all: bool
    order: tuple[str, ...] | None = None  # column order in the file; None = contract order + extras


DIALECTS = {
    "patients": Dialect("cp1251", False, ";", False),
    "policies": Dialect("utf-8", True, ",", False),
    "attachments": Dialect("utf-8", False, ";", False,
                           ("attach_date", "mo_code", "attachment_id", "area_name", "doctor_snils",
                            "patient_id", "detach_date", "attach_method", "area_code")),
    "slots": Dialect("utf-8", False, ",", True,
                     ("slot_id", "mo_code", "doctor_id", "doctor_name", "doctor_snils", "doctor_status",
                      "specialty_code", "slot_start", "slot_end", "status", "patient_id", "updated_at")),
}


def _quote(v: pl.Expr, d: Dialect) -> pl.Expr:
    quoted = pl.lit('"') + v.str.replace_all('"', '""', literal=True) + pl.lit('"')
    if d.quote_all:
        return quoted
    needs = v.str.contains(d.delimiter, literal=True) | v.str.contains('"', literal=True)
    return pl.when(needs).then(quoted).otherwise(v)


def _line(columns: tuple[str, ...], d: Dialect, corrupt: bool) -> pl.Expr:
    fields = []
    for c in columns:
        v = pl.col(c)
        e = _quote(v, d)
        if corrupt:
            on = pl.col("_cfield") == c
            op = pl.col("_corrupt")
            e = (pl.when(on & (op == "unclosed_quote")).then(pl.lit('"') + v)
                 .when(on & (op == "text_after_quote")).then(pl.lit('"') + v + pl.lit('"а'))
                 .when(on & (op == "raw_delimiter")).then(
                     _quote(v.str.slice(0, 3), d) + pl.lit(d.delimiter) + _quote(v.str.slice(3), d))
                 .when(on & (op == "bad_bytes")).then(v + pl.lit(BAD_BYTES_TOKEN))
                 .otherwise(e))
        fields.append(e)
    line = pl.concat_str(fields, separator=d.delimiter)
    if corrupt:
        op = pl.col("_corrupt")
        last = _quote(pl.col(columns[-1]), d)
        line = (pl.when(op == "drop_field").then(line.str.head(line.str.len_chars() - last.str.len_chars() - 1))
                .when(op == "extra_field").then(line + pl.lit(d.delimiter) + _quote(pl.lit("лишнее"), d))
                .otherwise(line))
    return line.alias("line")


def render_lines(df: pl.DataFrame, columns: tuple[str, ...], d: Dialect) -> pl.Series:
    """One text line per row (no line break); rows with _corrupt set are rendered broken."""
    lines = df.select(_line(columns, d, False)).to_series()
    if "_corrupt" in df.columns:
        rows = df.with_row_index("_row").filter(pl.col("_corrupt").is_not_null())
        if len(rows):
            lines = lines.scatter(rows["_row"], rows.select(_line(columns, d, True)).to_series())
    return lines


CHUNK_ROWS = 200_000


def write_csv(df: pl.DataFrame, path: Path, columns: tuple[str, ...], d: Dialect,
              header: tuple[str, ...] | None = None, append: bool = False) -> None:
    """Write rows in their current order, in chunks (bounded memory); every value is non-null text.
    header: the names to write for columns (default: the column names). append: add the rows to
    the end of a file this function wrote before (no BOM, no header)."""
    header = d.delimiter.join(f'"{c}"' if d.quote_all else c for c in (header or columns))
    with open(path, "ab" if append else "wb") as f:
        if not append:
            f.write((b"\xef\xbb\xbf" if d.bom else b"") + (header + "\n").encode(d.encoding))
        for offset in range(0, len(df), CHUNK_ROWS):
            lines = render_lines(df.slice(offset, CHUNK_ROWS), columns, d)
            if d.encoding == "utf-8" and not lines.str.contains(BAD_BYTES_TOKEN, literal=True).any():
                pl.DataFrame({"l": lines}).write_csv(f, include_header=False, quote_style="never")
                continue
            data = (lines.str.join("\n").item() + "\n").encode(d.encoding)
            f.write(data.replace(BAD_BYTES_TOKEN.encode(d.encoding), BAD_BYTES))


def write_parquet(df: pl.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    df.select(columns).write_parquet(path, compression="zstd", statistics=False)


class ParquetAppender:
    """A Parquet file written part by part (a region generated in blocks): every column text,
    zstd, no statistics, row groups of at most CHUNK_ROWS rows."""

    def __init__(self, path: Path, columns: tuple[str, ...]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.columns = columns
        self.schema = pa.schema([(c, pa.string()) for c in columns])
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd", write_statistics=False)

    def write(self, df: pl.DataFrame) -> None:
        for offset in range(0, len(df), CHUNK_ROWS):
            table = df.slice(offset, CHUNK_ROWS).select(self.columns).to_arrow().cast(self.schema)
            self.writer.write_table(table, row_group_size=CHUNK_ROWS)

    def close(self) -> None:
        self.writer.close()
