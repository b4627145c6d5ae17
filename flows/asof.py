"""The moment an extract describes (as_of): `--as-of`, else manifest `extracted_at`, else now.

Formats are strict (reading 3 of the check catalogue): 4-digit year, 2-digit day, month, hour,
minute, second, nothing around them; no time zone. `--as-of` also accepts a bare date.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from flows.errors import InputError

_TS_FORMATS = (
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}"), "%Y-%m-%d %H:%M"),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"), "%Y-%m-%dT%H:%M:%S"),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"), "%Y-%m-%dT%H:%M"),
    (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}"), "%d.%m.%Y %H:%M:%S"),
    (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}"), "%d.%m.%Y %H:%M"),
)
_DATE_FORMATS = (
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "%Y-%m-%d"),
    (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}"), "%d.%m.%Y"),
)


def parse_timestamp(text: str, *, allow_date: bool = False) -> datetime | None:
    """Parse one timestamp in a contract format; None when it is not one."""
    formats = _TS_FORMATS + (_DATE_FORMATS if allow_date else ())
    for pattern, fmt in formats:
        if pattern.fullmatch(text):
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                return None
    return None


def read_manifest(extracts: Path) -> dict:
    """The optional manifest.json of a batch; {} when absent. Malformed → InputError."""
    path = Path(extracts) / "manifest.json"
    if not path.exists():
        return {}
    if not path.is_file():
        raise InputError("is not a regular file", file=str(path))
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc.reason} at byte {exc.start})", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", file=str(path), line=exc.lineno,
                         column=exc.colno) from None
    if not isinstance(data, dict):
        raise InputError("must be a JSON object", file=str(path))
    return data


def resolve_as_of(cli_value: str | None, manifest: dict, *, now: datetime | None = None,
                  manifest_path: str = "manifest.json") -> tuple[datetime, str]:
    """Return (as_of, source) where source is 'cli', 'manifest' or 'now'."""
    if cli_value:
        ts = parse_timestamp(cli_value.strip(), allow_date=True)
        if ts is None:
            raise InputError(f"--as-of {cli_value!r} is not YYYY-MM-DD[ HH:MM[:SS]] "
                             "or DD.MM.YYYY[ HH:MM[:SS]]")
        return ts, "cli"
    if manifest.get("extracted_at") not in (None, ""):
        raw = manifest["extracted_at"]
        ts = parse_timestamp(raw, allow_date=True) if isinstance(raw, str) else None
        if ts is None:
            raise InputError(f"extracted_at {raw!r} is not a timestamp in a contract format",
                             file=manifest_path, column="extracted_at")
        return ts, "manifest"
    return (now or datetime.now()).replace(microsecond=0), "now"
