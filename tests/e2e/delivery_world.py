"""A hand-built warehouse and run folder for `talon send` tests that do not need a checked
region: a handful of clinics, two or three runs, a few findings each, dummy fix-list files.
Fast (no generator, no checks) and independent of how the fix lists are rendered: delivery
attaches the files' bytes as they are.
"""
from __future__ import annotations

import email
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.policy import default as DEFAULT_POLICY
from pathlib import Path

import duckdb
import typer
from typer.testing import CliRunner

from flows import warehouse
from flows.delivery import send_command
from flows.publish import publish, run_label

STEWARD = "steward@talon.example"
SENDER = "talon@talon.example"
AS_OF = datetime(2026, 11, 25, 23, 0)

runner = CliRunner()
app = typer.Typer()
app.command(name="send")(send_command)


@app.callback()
def _group() -> None:
    """Registered like the lead's `talon` app: `send` is a sub-command."""


@dataclass
class Mo:
    """One F003 member: its e-mail (None: none), inclusion period, and findings per run id:
    (check_code, severity, record_id, waived)."""

    code: str
    e_mail: str | None
    findings: dict[str, list[tuple[str, str, str, bool]]] = field(default_factory=dict)
    d_end: date | None = None  # before the run's date: excluded
    in_f003: bool = True


@dataclass
class World:
    db: Path
    out: Path
    runs: list[str]  # oldest first; the last one is `latest`

    def folder(self, run_id: str) -> Path:
        return self.out / run_label(self.as_of(run_id), run_id)

    def as_of(self, run_id: str) -> datetime:
        return AS_OF - timedelta(days=len(self.runs) - 1 - self.runs.index(run_id))


def xlsx_bytes(stem: str, run_id: str) -> bytes:
    """A stand-in for the fix list: delivery attaches whatever bytes the file has."""
    return f"PK-fake-fixlist {stem} {run_id}".encode()


def build(root: Path, clinics: list[Mo], runs: list[str], *, waivers: bool = True,
          unassigned: dict[str, list[tuple[str, str, str, bool]]] | None = None,
          files: dict[str, set[str]] | None = None) -> World:
    """Runs `runs` (completed, one day apart, the last on AS_OF), each with the same F003 and
    its clinics' findings, published under root/out with a `clinics/<stem>.xlsx` for each stem
    in files[run] (default: every clinic with an open finding in that run, and `unassigned`).
    `waivers`: the findings table has `waiver_id` (False: the column is absent)."""
    db, out = root / "w.duckdb", root / "out"
    world = World(db, out, runs)
    with warehouse.connect(db) as con:
        have = {r[0] for r in con.execute("DESCRIBE findings").fetchall()}
        if waivers and "waiver_id" not in have:
            con.execute("ALTER TABLE findings ADD COLUMN waiver_id VARCHAR")
        elif not waivers and "waiver_id" in have:
            con.execute("ALTER TABLE findings DROP COLUMN waiver_id")
        for i, run_id in enumerate(runs):
            as_of = world.as_of(run_id)
            con.execute("""INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir,
                                             reference_dir, started_at, status)
                           VALUES (?, ?, 'cli', '', '', ?, 'completed')""",
                        [run_id, as_of, as_of + timedelta(hours=3)])
            for mo in clinics:
                if mo.in_f003:
                    con.execute("INSERT INTO ref_f003 (run_id, mcod, tf_okato, name, e_mail, "
                                "d_begin, d_end) VALUES (?, ?, '46000', ?, ?, DATE '2020-01-01', ?)",
                                [run_id, mo.code, f"Поликлиника {mo.code}", mo.e_mail, mo.d_end])
            rows = [(mo.code, f) for mo in clinics for f in mo.findings.get(run_id, [])]
            rows += [(None, f) for f in (unassigned or {}).get(run_id, [])]
            for mo_code, (check, severity, record, waived) in rows:
                columns = ("run_id, check_code, severity, entity, record_id, mo_code, "
                           "unassigned_reason, field, value, value_masked, patient_id")
                values = [run_id, check, severity, "attachment", record, mo_code,
                          None if mo_code else "mo_unknown", "mo_code", "x", "x", f"p-{record}"]
                if waivers:
                    columns += ", waiver_id"
                    values.append(f"w-{record}" if waived else None)
                elif waived:
                    raise ValueError("a waived finding needs the waiver_id column")
                con.execute(f"INSERT INTO findings ({columns}) VALUES ({', '.join('?' * len(values))})",
                            values)
            wanted = (files or {}).get(run_id)
            if wanted is None:
                wanted = {mo for mo, (_, _, _, waived) in rows if not waived}
                wanted = {m or "unassigned" for m in wanted}

            def render(folder: Path, wanted=wanted, run_id=run_id) -> None:
                (folder / "clinics").mkdir()
                for stem in wanted:
                    (folder / "clinics" / f"{stem}.xlsx").write_bytes(xlsx_bytes(stem, run_id))

            publish(out, run_label(as_of, run_id), render)
    return world


def send(world: World, *args: str, env: dict | None = None):
    return runner.invoke(app, ["send", "--warehouse", str(world.db), "--out", str(world.out),
                               "--from", SENDER, "--steward", STEWARD, *args], env=env)


def read_eml(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=DEFAULT_POLICY)


def body(msg) -> str:
    return "\n".join(msg.get_body(("plain",)).get_content().splitlines()) + "\n"
