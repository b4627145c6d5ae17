"""HTML rendering: one Jinja2 environment with autoescape on for every template, and the local
CSS/JS inlined into each page so that every page (also a clinic's file sent on its own) renders
without a network and without any other file."""
from __future__ import annotations

import base64
import hashlib
import os
from collections import namedtuple
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from reports.safe import URL, defang_urls

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["inline_css"] = Markup(_static("talon.css"))
    js = _static("talon.js")
    env.globals["inline_js"] = Markup(js)
    # The page's Content-Security-Policy allows exactly this script and nothing remote.
    env.globals["script_hash"] = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    env.filters["num"] = num
    return env


def num(n) -> str:
    """A count with thin spaces between thousands (the templates' `num` filter)."""
    return f"{int(n):,}".replace(",", "\u202f") if n is not None else ""


def _static(name: str) -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    if "</style" in text.lower() or "</script" in text.lower() or URL.search(text):
        raise ValueError(f"{name} must contain no </style>, </script> or http(s):// URL")
    return text


def render(template: str, path: Path, **context) -> Path:
    """Render `template` to `path` (UTF-8, readable by the owner only)."""
    html = defang_urls(environment().get_template(template).render(**context))
    write_private(path, html)
    return path


#: What markupsafe's `escape` replaces, and with what.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}


def escaped(value: pl.Expr) -> pl.Expr:
    """markupsafe's `escape` as a polars expression (&, <, >, ", '): for table bodies built
    by polars for all rows at once instead of a template loop. One pass replacing all five
    characters (`replace_many`: single characters never overlap, so the same text as one
    `replace_all` per character with `&` first; a fifth of their CPU)."""
    return value.str.replace_many(list(_ENTITIES), list(_ENTITIES.values()))


def records(frame: pl.DataFrame):
    """A frame's rows as named tuples for a template: `r.value` is then a tuple's attribute,
    where a dict's key is found only after a failed attribute lookup (an exception per cell)."""
    row = namedtuple("Row", frame.columns)
    return map(row._make, frame.iter_rows())


@dataclass(frozen=True)
class Page:
    """One page to render, as plain data (a worker process can render it): polars frames in
    `context` reach the template as rows (`records`)."""
    template: str
    path: Path
    context: dict

    def render(self) -> Path:
        context = {k: records(v) if isinstance(v, pl.DataFrame) else v
                   for k, v in self.context.items()}
        return render(self.template, self.path, **context)


def write_private(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding=encoding, newline="\n") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
