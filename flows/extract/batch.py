"""Find the files of one extract batch (a folder) before anything is read."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from flows.errors import InputError
from flows.extract.contract import ALL_FILES, SUFFIXES
from flows.extract.dialect import describe_mode


def locate_files(extracts: Path) -> dict[str, Path]:
    """Map each contract file name (patients, ...) to its ``.csv`` or ``.parquet`` path.

    Exactly one of the two must exist and be a regular file: a missing file, both formats,
    or a folder, symlink (never followed), FIFO or device in its place is an InputError. An
    optional file (the registry) may be absent: it is then not in the map.
    """
    extracts = Path(extracts)
    try:
        folder_mode = os.stat(extracts).st_mode
    except FileNotFoundError:
        raise InputError("extract folder not found", file=str(extracts)) from None
    except OSError as exc:
        raise InputError(f"extract folder unreadable ({exc.strerror})",
                         file=str(extracts)) from None
    if not stat.S_ISDIR(folder_mode):
        raise InputError("is not a folder", file=str(extracts))
    found: dict[str, Path] = {}
    for spec in ALL_FILES:
        present = [extracts / f"{spec.name}{suffix}" for suffix in SUFFIXES
                   if os.path.lexists(extracts / f"{spec.name}{suffix}")]
        if not present and spec.optional:
            continue
        if not present:
            names = " or ".join(spec.name + s for s in SUFFIXES)
            raise InputError(f"missing required file ({names})", file=f"{spec.name}{SUFFIXES[0]}")
        if len(present) > 1:
            raise InputError(f"both {' and '.join(p.name for p in present)} are present; "
                             "keep exactly one", file=present[0].name)
        mode = os.lstat(present[0]).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"is {describe_mode(mode)}, not a regular file",
                             file=present[0].name)
        found[spec.name] = present[0]
    return found
