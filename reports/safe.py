"""Safe outputs: file names built from data, and spreadsheet cells that cannot run formulas.

File names. A clinic code comes from the extracts and the registry, so it may be anything:
`../../evil`, `a/b`, `CON`, 500 characters, empty. `safe_stem` keeps a code that is already a
plain name (ASCII letters, digits, `.`, `_`, `-`; not starting with `.`; at most 64 characters;
not a Windows device name such as CON, NUL, COM1, LPT1, before or after its first dot; not one
of the `reserved` stems such as `unassigned`) and maps anything else to the plain characters of
the code followed by `_` and 10 hex digits of its SHA-256, so two different codes never share
a file. `inside` then checks the final path really lies in its folder.

Formula injection. A spreadsheet treats a cell starting with `=`, `+`, `-` or `@` as a formula,
and tab or carriage return at the start as a lead-in to one (OWASP "CSV injection"). Every text
cell written to XLSX or CSV that begins with one of these gets a leading apostrophe `'`, the
usual neutral prefix: Excel and LibreOffice then show the text, never evaluate it. The value a
clinic sees is therefore its value with an apostrophe in front in those cases. The XLSX writer
additionally turns off xlsxwriter's string-to-formula and string-to-URL conversion.

URLs in HTML. Pages must not reference anything remote. Templates reference only inline assets,
and `defang_urls` writes any `http://` or `https://` that data brings into a page (a value, a
clinic name) as `http:&#47;&#47;`: the reader sees the same text, no link or fetch can come of
it, and a plain scan of the emitted files finds no URL.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import polars as pl

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = r"^[=+\-@\t\r]"

MAX_STEM = 64
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in list("0123456789") + ["¹", "²", "³"]}


def _is_device(stem: str) -> bool:
    return stem.split(".", 1)[0].upper() in _WINDOWS_DEVICES


def safe_stem(code: str | None, reserved: tuple[str, ...] = ()) -> str:
    """A file-name stem for `code` that cannot leave its folder or collide with another code."""
    code = "" if code is None else str(code)
    taken = {r.lower() for r in reserved}
    if (_PLAIN.match(code) and len(code) <= MAX_STEM and not _is_device(code)
            and not code.endswith(".") and code.lower() not in taken):
        return code
    plain = re.sub(r"[^A-Za-z0-9_-]+", "_", code).strip("_-")[:40]
    digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{plain}_{digest}" if plain else f"x_{digest}"


def inside(folder: Path, name: str) -> Path:
    """`folder / name`, refusing anything that would resolve outside `folder`."""
    folder = folder.resolve()
    path = (folder / name).resolve()
    if path.parent != folder:
        raise ValueError(f"refusing to write {name!r} outside {folder}")
    return path


URL = re.compile(r"(?i)(https?)://")


def defang_urls(markup: str) -> str:
    """`http://` -> `http:&#47;&#47;` in markup whose data sits in text and attribute values
    (both decode character references). Inline scripts and styles must carry no URL."""
    if "://" not in markup:  # a plain substring scan is far cheaper than the regex
        return markup
    return URL.sub(r"\1:&#47;&#47;", markup)


def neutralise(expr: pl.Expr) -> pl.Expr:
    """Prefix `'` to text that a spreadsheet would read as a formula (vectorised)."""
    return pl.when(expr.str.contains(_FORMULA_RE)).then(pl.lit("'") + expr).otherwise(expr)


def neutralise_text(text: str) -> str:
    """`neutralise` for one string (titles written outside a table)."""
    return "'" + text if text.startswith(FORMULA_LEADS) else text


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Apply `neutralise` to every text column of `frame`."""
    return frame.with_columns(
        neutralise(pl.col(c)).alias(c) for c, t in frame.schema.items() if t == pl.String)
