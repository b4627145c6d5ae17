"""Atomic, per-run output folders.

Each run renders into `OUT/.tmp-<label>` and is renamed to `OUT/<as_of date>_<run_id>` only when
complete; `OUT/latest` is then swapped (a symlink replaced by rename, atomic on POSIX) and the
top-level entries (`OUT/findings.csv`, `OUT/index.html`, `OUT/clinics`, ...) are links through
`latest`. A reader therefore sees the previous complete report or the new complete report,
never half of one. Folders are created readable by their owner only.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Callable

LATEST = "latest"


def run_label(as_of: datetime, run_id: str) -> str:
    return f"{as_of:%Y-%m-%d}_{run_id}"


def _swap_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.new")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def publish(out_root: Path, label: str, render: Callable[[Path], None]) -> Path:
    """Render a run's outputs into a fresh folder, then make it the latest one atomically."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = out_root / label
    tmp = out_root / f".tmp-{label}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(mode=0o700)
    try:
        render(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # the same run published again (--force): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    _swap_symlink(out_root / LATEST, label)
    for entry in sorted(final.iterdir()):
        link = out_root / entry.name
        if link.is_symlink() or not link.exists():
            _swap_symlink(link, f"{LATEST}/{entry.name}")
    return final


def clean_stale_temp(out_root: Path) -> None:
    """Remove folders of runs that were killed while rendering."""
    if Path(out_root).is_dir():
        for tmp in Path(out_root).glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
