"""A copied extract batch that corpus cases break: read its dialects, render rows the way each
file is written, append lines and learn their line numbers, swap a file for something else."""
from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import polars as pl

from flows.synth.dialects import DIALECTS

BOM = b"\xef\xbb\xbf"


def count_lines(data: bytes) -> int:
    """Physical lines as the reader counts them (\\r\\n, \\n or a lone \\r end a line)."""
    if not data:
        return 0
    norm = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return norm.count(b"\n") + (0 if norm.endswith(b"\n") else 1)


class Batch:
    """One case's copy of the clean region: `extract/`, `reference/`, and the CLI arguments."""

    def __init__(self, root: Path, base_rows: dict[str, int]):
        self.root = Path(root)
        self.ext = self.root / "extract"
        self.ref = self.root / "reference"
        self.base_rows = base_rows  # file name -> rows read in the clean run
        self.extracts_arg: Path = self.ext
        self.reference_arg: Path = self.ref
        self.args: list[str] = []
        self.data: dict = {}  # what a case's extra assertions need to know

    # ------------------------------------------------------------------ reading the dialect

    def path(self, name: str) -> Path:
        return self.ext / f"{name}.csv"

    def encoding(self, name: str) -> str:
        return DIALECTS[name].encoding

    def delimiter(self, name: str) -> str:
        return DIALECTS[name].delimiter

    def text(self, name: str) -> str:
        data = self.path(name).read_bytes()
        return data.removeprefix(BOM).decode(self.encoding(name))

    def header(self, name: str) -> list[str]:
        return next(csv.reader(io.StringIO(self.text(name).split("\n", 1)[0]),
                               delimiter=self.delimiter(name)))

    def template(self, name: str) -> dict[str, str]:
        """The last data row of the clean file, by column name."""
        lines = self.text(name).rstrip("\n").split("\n")
        values = next(csv.reader(io.StringIO(lines[-1]), delimiter=self.delimiter(name)))
        return dict(zip(self.header(name), values))

    def first(self, name: str) -> dict[str, str]:
        """The first data row of the clean file (line 2), by column name."""
        line = self.text(name).split("\n", 2)[1]
        values = next(csv.reader(io.StringIO(line), delimiter=self.delimiter(name)))
        return dict(zip(self.header(name), values))

    def render(self, name: str, values: dict[str, str], delimiter: str | None = None) -> str:
        """One line as the file's dialect writes it (every field quoted in slots.csv)."""
        d = DIALECTS[name]
        sep = delimiter or d.delimiter
        out = []
        for col in self.header(name):
            v = values[col]
            if d.quote_all or sep in v or '"' in v:
                v = '"' + v.replace('"', '""') + '"'
            out.append(v)
        return sep.join(out)

    def row(self, name: str, **values: str) -> str:
        """A valid line of `name` (the last clean row with `values` replaced)."""
        return self.render(name, {**self.template(name), **values})

    # ------------------------------------------------------------------ changing files

    def n_lines(self, name: str) -> int:
        return count_lines(self.path(name).read_bytes())

    def append(self, name: str, *lines: str | bytes) -> list[int]:
        """Append lines (text in the file's encoding, or raw bytes); return their line numbers."""
        path = self.path(name)
        data = path.read_bytes()
        first = count_lines(data) + 1
        if data and not data.endswith((b"\n", b"\r")):
            data += b"\n"
        enc = self.encoding(name)
        body = b"".join((line if isinstance(line, bytes) else line.encode(enc)) + b"\n"
                        for line in lines)
        path.write_bytes(data + body)
        return list(range(first, first + len(lines)))

    def rewrite(self, name: str, fn) -> None:
        """Replace the file's text (BOM kept) with fn(text)."""
        path = self.path(name)
        bom = path.read_bytes().startswith(BOM)
        path.write_bytes((BOM if bom else b"") + fn(self.text(name)).encode(self.encoding(name)))

    def frame(self, name: str) -> pl.DataFrame:
        """The clean file as a frame of text (for writing it as Parquet)."""
        frame = pl.read_csv(self.text(name).encode("utf-8"), separator=self.delimiter(name),
                            infer_schema=False)
        return frame.with_columns(pl.all().fill_null(""))

    def to_parquet(self, name: str, frame: pl.DataFrame | None = None) -> Path:
        """Replace `name`.csv by `name`.parquet holding `frame` (default: the file's rows)."""
        frame = self.frame(name) if frame is None else frame
        target = self.ext / f"{name}.parquet"
        frame.write_parquet(target)
        self.path(name).unlink()
        return target

    def replace_with_folder(self, path: Path) -> None:
        path.unlink()
        path.mkdir()
        (path / "inside.txt").write_text("a folder where a file should be")

    def replace_with_symlink(self, path: Path, target: Path | None = None) -> Path:
        """Move the real file aside and leave a symlink to it (or to `target`) in its place."""
        aside = self.root / f"aside-{path.name}"
        shutil.move(path, aside)
        os.symlink(target or aside, path)
        return aside
