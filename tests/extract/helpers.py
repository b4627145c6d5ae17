"""Helpers for the extract reader tests: write small files in every dialect and read them."""
from __future__ import annotations

from pathlib import Path

from flows.extract.contract import PATIENTS, ExtractFile
from flows.extract.reader import ReadResult, read_extract_file

HEADER = ";".join(PATIENTS.columns)


def write_lines(path: Path, lines: list[str], *, encoding: str = "utf-8", sep: str = "\n",
                final: bool = True) -> Path:
    """Write text lines joined by ``sep`` (a trailing terminator when ``final``)."""
    text = sep.join(lines) + (sep if final else "")
    path.write_bytes(text.encode(encoding))
    return path


def read(path: Path, spec: ExtractFile = PATIENTS) -> ReadResult:
    return read_extract_file(path, spec)


def rows(result: ReadResult) -> list[tuple]:
    return result.loaded.rows()


def quarantine(result: ReadResult) -> list[tuple]:
    """(line_no, reason, detail, record_id) of every quarantined line, in line order."""
    return result.quarantined.select("line_no", "reason", "detail", "record_id").rows()


def patient(i: int | str, last: str = "Иванов", **kw: str) -> list[str]:
    values = {"patient_id": str(i), "last_name": last, "first_name": "Иван",
              "middle_name": "Иванович", "birth_date": "01.02.1980", "sex": "1",
              "snils": "112-233-445 95"}
    values.update(kw)
    return [values[c] for c in PATIENTS.columns]
