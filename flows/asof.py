"""The moment an extract describes (as_of): `--as-of`, else manifest `extracted_at`, else now.

Formats are strict (reading 3 of the check catalogue): 4-digit year, 2-digit day, month, hour,
minute, second, nothing around them; no time zone. `--as-of` also accepts a bare date.

An as_of after this machine's clock is judged against it (issue 7):
- up to FUTURE_TOLERANCE ahead: accepted silently (a region's local time runs up to ~10 h ahead
  of a server on Moscow time, and a late extract can be stamped just past midnight);
- up to FUTURE_LIMIT ahead: accepted with a warning in the run log (replaying a fixed date on a
  machine whose clock lags, a test region generated for a later date);
- further ahead: refused (exit 2). No extract describes a moment a year away; such a value is a
  typo (2062 for 2026) or a broken source clock, and a run dated there would sort after every
  real run in the history and make every check judge the data on the wrong day.
"""
from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from flows.errors import InputError
from flows.extract.dialect import open_regular

FUTURE_TOLERANCE = timedelta(days=1)
FUTURE_LIMIT = timedelta(days=366)
#: A manifest is a few lines of JSON; anything larger is not one (and is not read into memory).
MAX_MANIFEST_BYTES = 1024 * 1024

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
    """The optional manifest.json of a batch; {} when absent. Malformed → InputError.

    Like the extract files, it must be a regular file: a symlink is not followed, a folder or a
    FIFO is refused (without blocking), and its size is capped.
    """
    path = Path(extracts) / "manifest.json"
    if not os.path.lexists(path):
        return {}
    with open_regular(path) as fh:
        raw = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InputError(f"is larger than {MAX_MANIFEST_BYTES} bytes; a manifest is a small JSON "
                         "object", file=str(path))
    try:
        data = json.loads(raw.decode("utf-8-sig"))
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
    """Return (as_of, source) where source is 'cli', 'manifest' or 'now'.

    An as_of in the future is warned about or refused (see the module docstring); `now` is the
    clock it is compared with (default: this machine's).
    """
    clock = (now or datetime.now()).replace(microsecond=0)
    if cli_value:
        ts = parse_timestamp(cli_value.strip(), allow_date=True)
        if ts is None:
            raise InputError(f"--as-of {cli_value!r} is not YYYY-MM-DD[ HH:MM[:SS]] "
                             "or DD.MM.YYYY[ HH:MM[:SS]]")
        check_not_future(ts, clock, "--as-of")
        return ts, "cli"
    if manifest.get("extracted_at") not in (None, ""):
        raw = manifest["extracted_at"]
        ts = parse_timestamp(raw, allow_date=True) if isinstance(raw, str) else None
        if ts is None:
            raise InputError(f"extracted_at {_show(raw)} is not a timestamp in a contract format",
                             file=manifest_path, column="extracted_at")
        check_not_future(ts, clock, "extracted_at", file=manifest_path)
        return ts, "manifest"
    return clock, "now"


def _show(value: object) -> str:
    """A value from the manifest for a one-line message: repr, at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_not_future(ts: datetime, clock: datetime, what: str, *, file: str | None = None) -> None:
    """Refuse an as_of more than FUTURE_LIMIT after `clock`; warn beyond FUTURE_TOLERANCE."""
    ahead = ts - clock
    if ahead <= FUTURE_TOLERANCE:
        return
    if ahead > FUTURE_LIMIT:
        raise InputError(f"{what} {ts:%Y-%m-%d %H:%M:%S} is {ahead.days} days after this "
                         f"machine's clock ({clock:%Y-%m-%d %H:%M:%S}); an extract cannot describe "
                         f"a moment more than {FUTURE_LIMIT.days} days ahead (a typo in the "
                         "year, or a wrong clock at the source?)",
                         file=file, column="extracted_at" if file else None)
    _warn(f"as_of {ts:%Y-%m-%d %H:%M:%S} ({what}) is in the future: {_ahead(ahead)} after this "
          f"machine's clock ({clock:%Y-%m-%d %H:%M:%S}); the checks judge the data as of that "
          "moment")


def _ahead(delta: timedelta) -> str:
    if delta.days >= 2:
        return f"{delta.days} days"
    return f"{int(delta.total_seconds() // 3600)} hours"


def _warn(message: str) -> None:
    """To the Prefect run log when called inside a flow run, else to the `talon` logger."""
    try:
        from prefect.logging import get_run_logger

        logger = get_run_logger()
    except Exception:  # noqa: BLE001  (MissingContextError outside a run)
        logger = logging.getLogger("talon")
    logger.warning(message)
