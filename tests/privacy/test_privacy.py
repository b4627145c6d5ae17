"""Privacy of a real `talon run` (issue 7): auditors' files, Prefect artifacts and run logs hold
no full personal data of the input; each clinic's fix list holds only that clinic's findings;
the warehouse and the outputs are readable by their owner only."""
from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.synth import generate_region
from reports.clinic import UNASSIGNED, clinic_stems
from reports.i18n import CSV_SEPARATOR, Texts
from reports.safe import neutralise
from tests.privacy.scan import KINDS, Needles, collect, scan, scan_files

runner = CliRunner()
AS_OF = datetime(2026, 11, 25, 23, 0)
REPO = Path(__file__).resolve().parents[2]
#: Where dates that are not personal may come from besides the input (thresholds, examples).
NOT_PERSONAL_SOURCES = ("checks/catalogue.py", "checks/row_rules.py", "reports/i18n.py")
_FLOW_RUN = re.compile(r"/runs/flow-run/([0-9a-f-]{36})")


@dataclass
class Run:
    region: Path
    db: Path
    out: Path
    folder: Path  # OUT/<as_of>_<run_id>
    run_id: str
    output: str  # everything the CLI printed, Prefect's console log included
    flow_run_id: str
    needles: Needles
    started: float  # time.time() before the run
    #: Needles only the insured-persons register holds (None: the batch has no register).
    register_only: Needles | None = None


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_server) -> Run:
    root = tmp_path_factory.mktemp("privacy")
    region = root / "region"
    generate_region(region, patients=300, seed=23, region="50", as_of=AS_OF)
    db, out = root / "data" / "warehouse.duckdb", root / "out"
    started = time.time()
    result = runner.invoke(app, ["run", "--extracts", str(region / "extract"), "--reference",
                                 str(region / "reference"), "--out", str(out), "--warehouse",
                                 str(db)])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        [(run_id,)] = con.execute("SELECT run_id FROM runs").fetchall()
    flow_runs = set(_FLOW_RUN.findall(result.output))
    assert len(flow_runs) == 1, result.output
    texts = [str(AS_OF.date()), f"{datetime.now():%Y-%m-%d}"]
    texts += [(REPO / p).read_text(encoding="utf-8") for p in NOT_PERSONAL_SOURCES]
    texts += [p.read_bytes().decode("cp1251", "replace") for p in (region / "reference").iterdir()]
    needles = collect(region / "extract", "\n".join(texts))
    register_only = None
    if any((region / "extract").glob("registry.*")):
        v11 = collect(region / "extract", "\n".join(texts), with_register=False)
        register_only = Needles(**{k: getattr(needles, k) - getattr(v11, k) for k in KINDS})
    return Run(region, db, out, (out / "latest").resolve(), run_id, result.output,
               flow_runs.pop(), needles, started, register_only)


def _auditor_files(run: Run) -> list[Path]:
    """Everything in the run's folder but the clinics' own fix lists (clinics/)."""
    files = [p for p in run.folder.rglob("*") if p.is_file()
             and p.relative_to(run.folder).parts[0] != "clinics"]
    return files


def _prefect_texts(run: Run) -> list[str]:
    """The run's artifacts and its log lines, read back from the Prefect server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId,
                                                LogFilter, LogFilterFlowRunId)

    texts = []
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run.flow_run_id])))
        assert {a.key for a in artifacts} >= {"talon-findings-by-check", "talon-booking-impact",
                                              "talon-report"}
        texts += [f"{a.key}\n{a.description}\n{a.data}" for a in artifacts]
        offset, logs = 0, []
        while True:
            page = client.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[run.flow_run_id])), limit=200, offset=offset)
            logs += page
            offset += len(page)
            if len(page) < 200:
                break
        assert len(logs) > 5
        texts += [f"{log.name} {log.message}" for log in logs]
    return texts


# --------------------------------------------------------------------------- no leaks


def test_needles_are_many(run):
    sizes = run.needles.sizes()
    assert sizes["snils"] > 250 and sizes["enp"] > 250 and sizes["names"] > 500, sizes
    assert sizes["policy"] > 250 and sizes["birth"] > 150, sizes


def test_scanner_finds_every_kind_in_every_rendering(run):
    """The scan is not blind: one needle of each kind hidden the ways a page could hold it."""
    n = run.needles
    snils = sorted(n.snils)[0]
    snils_form = f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"
    enp, policy = sorted(n.enp)[0], sorted(n.policy)[0]
    birth = sorted(n.birth)[0]
    birth_ru = f"{birth[8:]}.{birth[5:7]}.{birth[:4]}"
    full = sorted(x for x in n.names if x.count(" ") == 2)[0]
    last, first, middle = full.split(" ")
    renderings = {
        "snils": [f"<td>{snils_form}</td>", f'title="{snils}"', f"x;{snils};y"],
        "enp": [f"<td>{enp}</td>", f'{{"v": "{enp}"}}'],
        "policy": [f"<td>{policy}</td>", f"a,{policy},b"],
        "birth": [f"<td>{birth_ru}</td>", f"{birth}"],
        "names": [f"<td>{last}</td><td>{first}</td><td>{middle}</td>",
                  f"{last};{first};{middle}", f'"{last}, {first} {middle}"',
                  full.encode("ascii", "backslashreplace").decode(),
                  "".join(f"&#{ord(c)};" for c in full)],
    }
    for kind, texts in renderings.items():
        for text in texts:
            assert scan(f"<p>before</p>{text}<p>after</p>", n)[kind], (kind, text)


def test_control_full_values_do_appear_in_clinic_fix_lists(run):
    """Clinics see full values of their own records: the same scan finds them there."""
    found = scan_files(sorted((run.folder / "clinics").glob("*.csv")), run.needles)
    kinds = {k for hits in found.values() for k in hits}
    assert kinds >= {"snils", "enp", "policy", "birth"}, kinds


def test_control_register_values_appear_in_clinic_fix_lists(run):
    """The register's own personal data (a suggested SNILS, ENP, name) reaches the clinics'
    lists in full, so the scan of the auditors' files below also looks for it."""
    if run.register_only is None:
        pytest.skip("the generated batch has no registry file")
    assert sum(run.register_only.sizes().values()) > 0, run.register_only.sizes()
    found = scan_files(sorted((run.folder / "clinics").glob("*.csv")), run.register_only)
    kinds = {k for hits in found.values() for k in hits}
    assert kinds >= {"snils", "enp", "names"}, kinds


def test_insured_record_ids_are_masked_for_auditors(run):
    """A register row's record id is its ENP text (valid or not): no auditor's file shows it."""
    with duckdb.connect(str(run.db), read_only=True) as con:
        ids = [r for (r,) in con.execute("SELECT record_id FROM findings WHERE run_id = ? AND "
                                         "entity = 'insured'", [run.run_id]).fetchall()]
    if run.register_only is None:
        assert ids == []
        pytest.skip("the generated batch has no registry file")
    findings = pl.read_csv(run.folder / "findings.csv", infer_schema=False)
    shown = findings.filter(pl.col("entity") == "insured")["record_id"].to_list()
    assert len(shown) == len(ids)
    assert all(r.startswith("*") or r == "" for r in shown), shown
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in _auditor_files(run)}
    for record_id in (r for r in ids if len(r) >= 6):
        assert [p.name for p, t in texts.items() if record_id in t] == [], record_id


def test_auditor_files_hold_no_personal_data(run):
    files = _auditor_files(run)
    names = {p.relative_to(run.folder).as_posix() for p in files}
    assert {"index.html", "findings.csv", "gx/index.html"} <= names
    assert any(n.startswith("clinic/") for n in names)
    assert any(n.startswith("check/") for n in names)
    assert scan_files(files, run.needles) == {}


def test_top_level_links_lead_to_the_same_scanned_files(run):
    for entry in run.out.iterdir():
        if entry.is_symlink() and entry.name != "latest":
            assert entry.resolve().is_relative_to(run.folder)


def test_prefect_artifacts_and_logs_hold_no_personal_data(run):
    texts = _prefect_texts(run)
    leaks = {i: {k: v for k, v in scan(t, run.needles).items() if v} for i, t in enumerate(texts)}
    assert {i: h for i, h in leaks.items() if h} == {}


def test_prefect_result_storage_holds_no_personal_data(run):
    """Prefect persists some states (failed tasks' exceptions) as pickles in its local storage;
    whatever it wrote during the run must hold nothing personal."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value()).expanduser()
    written = [p for p in storage.iterdir() if p.is_file() and p.stat().st_mtime >= run.started] \
        if storage.is_dir() else []
    for path in written:
        data = path.read_bytes()
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            pass
        hits = scan(data.decode("utf-8", "replace"), run.needles)
        assert not any(hits.values()), (path, hits)


def test_cli_output_holds_no_personal_data(run):
    assert "Finished in state Completed" in run.output  # Prefect's log is part of it
    hits = scan(run.output, run.needles)
    assert {k: v for k, v in hits.items() if v} == {}


# --------------------------------------------------------------------------- isolation


def _clinic_lists(run: Run, con) -> tuple[dict, pl.DataFrame]:
    """mo_code (None: unassigned) -> (the fix list's key columns, the clinic's findings in the
    warehouse, the whole fix list), and every finding of the run."""
    findings = con.sql("SELECT check_code, record_id, mo_code, value, patient_id, "
                       "coalesce(suggested_value, '') AS suggested FROM findings "
                       "WHERE run_id = ?", params=[run.run_id]).pl()
    codes = sorted(c for c in findings["mo_code"].unique().to_list() if c is not None)
    stems = clinic_stems(codes)
    t = Texts("ru")
    lists = {}
    for code, stem in stems.items():
        path = run.folder / "clinics" / f"{stem}.csv"
        mine = findings.filter(pl.col("mo_code").is_null() if code is None
                               else pl.col("mo_code") == code)
        assert path.is_file() == (mine.height > 0), path
        if not path.is_file():
            continue
        frame = pl.read_csv(path, separator=CSV_SEPARATOR["ru"], infer_schema=False,
                            encoding="utf8").fill_null("")
        lists[code] = (frame.select(check_code=t["check_code"], record_id=t["record_id"],
                                    value=t["value"], patient_id=t["patient_id"],
                                    suggested=t["suggested"]), mine, frame)
    assert UNASSIGNED in stems.values() and len(lists) >= 5
    return lists, findings


def test_each_fix_list_holds_exactly_its_clinics_findings(run):
    with duckdb.connect(str(run.db), read_only=True) as con:
        lists, _ = _clinic_lists(run, con)
    for code, (shown, mine, _) in lists.items():
        expected = mine.select(neutralise(pl.col(c).fill_null("")).alias(c) for c in
                               ("check_code", "record_id", "value", "patient_id", "suggested"))
        key = ["check_code", "record_id"]
        assert shown.sort(key).rows() == expected.select(shown.columns).sort(key).rows(), code


def test_no_other_clinics_patient_appears_in_a_fix_list(run):
    with duckdb.connect(str(run.db), read_only=True) as con:
        lists, findings = _clinic_lists(run, con)
    for code, (shown, mine, frame) in lists.items():
        own = set(mine["patient_id"].drop_nulls()) | set(mine["record_id"]) | set(
            mine["value"].drop_nulls())
        others = findings.filter(pl.col("mo_code").ne_missing(code) if code is not None
                                 else pl.col("mo_code").is_not_null())
        foreign = {p for p in others["patient_id"].drop_nulls() if p} - own
        assert len(foreign) > 10
        cells = set(frame.unpivot()["value"].to_list())
        assert not (cells & foreign), (code, sorted(cells & foreign)[:5])
        # REG.PATIENT.DUPLICATE names the person's other records: only the clinic's own
        named = {p for text in shown.filter(pl.col("check_code") == "REG.PATIENT.DUPLICATE")
                 ["suggested"] for p in text.split(", ") if p}
        assert named <= own, (code, sorted(named - own)[:5])


# --------------------------------------------------------------------------- permissions


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_warehouse_and_lock_are_owner_only(run):
    assert _mode(run.db) == 0o600
    assert _mode(Path(f"{run.db}.lock")) == 0o600
    leftovers = [p.name for p in run.db.parent.iterdir()
                 if p.name not in (run.db.name, f"{run.db.name}.lock")]
    for name in leftovers:  # a WAL or temp folder left behind must be private too
        assert _mode(run.db.parent / name) & 0o077 == 0, name


def test_outputs_are_owner_only(run):
    assert _mode(run.out) == 0o700
    checked = 0
    for path in run.out.rglob("*"):
        if path.is_symlink():
            continue
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == expected, (path, oct(_mode(path)))
        checked += 1
    assert checked > 20


def test_write_ahead_log_is_owner_only_while_a_run_writes(tmp_path):
    from flows.warehouse import connect

    db = tmp_path / "w.duckdb"
    con = connect(db)
    try:
        con.execute("INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir, "
                    "started_at, status) VALUES ('r', now(), 'cli', '.', '.', now(), 'running')")
        wal = Path(f"{db}.wal")
        assert wal.exists()
        assert _mode(wal) & 0o077 == 0, oct(_mode(wal))
    finally:
        con.close()

