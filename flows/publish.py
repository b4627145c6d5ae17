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
    final = stage(out_root, label, render)
    promote(out_root, label)
    return final


def stage(out_root: Path, label: str, render: Callable[[Path], None]) -> Path:
    """Render into `OUT/.tmp-<label>` and rename it to `OUT/<label>`; `latest` is not touched.

    Callers that keep a run ledger mark the run completed between stage() and promote(), so
    `latest` never points at a run that could still fail.
    """
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
    return final


def promote(out_root: Path, label: str) -> None:
    """Point `OUT/latest` at `OUT/<label>` (atomic rename of a symlink) and make sure the
    top-level entries link through `latest`."""
    out_root = Path(out_root)
    final = out_root / label
    if not final.is_dir():
        raise FileNotFoundError(f"no staged output folder {final}")
    _swap_symlink(out_root / LATEST, label)
    for entry in sorted(final.iterdir()):
        link = out_root / entry.name
        if link.is_symlink() or not link.exists():
            _swap_symlink(link, f"{LATEST}/{entry.name}")


def clean_stale_temp(out_root: Path) -> None:
    """Remove folders of runs that were killed while rendering (and a half-made symlink of a
    run killed while switching `latest`)."""
    if Path(out_root).is_dir():
        for tmp in Path(out_root).glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
        for half in Path(out_root).glob(".*.new"):
            if half.is_symlink():
                half.unlink()


def remove_run_folders(out_root: Path, run_ids: list[str]) -> list[Path]:
    """Delete the staged output folders of runs that did not complete (never `latest`'s)."""
    out_root = Path(out_root)
    current = (out_root / LATEST).resolve() if (out_root / LATEST).is_symlink() else None
    removed = []
    for run_id in run_ids:
        for folder in out_root.glob(f"*_{run_id}"):
            if folder.is_dir() and not folder.is_symlink() and folder.resolve() != current:
                shutil.rmtree(folder)
                removed.append(folder)
    return removed
