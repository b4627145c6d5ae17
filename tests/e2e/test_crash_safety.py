"""Crash safety of the nightly run (issue "Nightly operation", Safe reruns).

A run killed with SIGKILL at any stage leaves the warehouse and the published reports
consistent; the next start marks it failed and a following run completes. Two runs on one
warehouse exclude each other through the lock.

Real subprocesses are stopped at named points by tests/faults.py (installed by the subprocess
itself, only when TALON_TEST_PAUSE_AT is set: no test hook lives in the package) and killed
there. Most of them run DRIVER, a script that calls pipeline.run_batch, the sequence
nightly_flow runs with Prefect tasks as its steps, with plain steps (nightly_flow.fn cannot run
without a Prefect server). The other subprocesses run the real `talon` CLI against the
session's Prefect test server (its PREFECT_API_URL is passed on), so none of them starts one;
except in test_cli_run_leaves_no_process_behind, which checks that the temporary server such a
run starts without PREFECT_API_URL dies with it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from flows import pipeline, publish, warehouse
from flows.synth import generate_region
from tests import faults

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 11, 25, 23, 0)  # the generated manifest's as_of: the baseline run
DAY2 = "2026-11-26 23:00"
DAY3 = "2026-11-27 23:00"
WAIT = 600  # seconds; only a guard against a hung subprocess, never asserted on

DRIVER = '''\
"""The nightly sequence (pipeline.run_batch, which nightly_flow runs with Prefect tasks) with
plain steps and no Prefect. Prints the run id; exit code of an InputError like the CLI."""
import json
import sys
from pathlib import Path

import tests.faults
tests.faults.install()

from flows import pipeline
from flows.errors import InputError


def nightly(extracts, reference, out, db, as_of=None, force=False, lock_timeout=0.0):
    return pipeline.run_batch(Path(extracts), Path(reference), Path(out), Path(db), as_of,
                              force=force, lock_timeout=lock_timeout).run_id


if __name__ == "__main__":
    try:
        print(nightly(**json.loads(sys.argv[1])))
    except InputError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        sys.exit(exc.exit_code)
'''


# --------------------------------------------------------------------------- fixtures

@dataclass
class Site:
    """One warehouse and its output root."""

    root: Path
    db: Path
    out: Path


@dataclass
class Baseline:
    """A completed run and what it left: its findings rows and its report folder."""

    site: Site
    run_id: str
    label: str
    findings: list = field(repr=False)
    files: dict = field(repr=False)  # path relative to the run folder -> sha256


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash-region")
    generate_region(path, patients=300, seed=11, region="50", as_of=AS_OF)
    return path


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("driver") / "nightly_driver.py"
    path.write_text(DRIVER)
    return path


@pytest.fixture(scope="module")
def prefect_env(prefect_server) -> dict:
    """The session's Prefect test server, for `talon` subprocesses."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness did not set PREFECT_API_URL"
    return {"PREFECT_API_URL": url}


def _manifest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _findings(con, run_id: str) -> list:
    return con.execute("SELECT * FROM findings WHERE run_id = ? ORDER BY ALL", [run_id]).fetchall()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, region, driver) -> Baseline:
    root = tmp_path_factory.mktemp("baseline")
    site = Site(root, root / "w.duckdb", root / "out")
    done = _run(_driver_cmd(driver, region, site), root)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]
    with duckdb.connect(str(site.db), read_only=True) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("completed",)]
        findings = _findings(con, run_id)
    assert findings, "the generated region has defects: the baseline must have findings"
    label = publish.run_label(AS_OF, run_id)
    assert os.readlink(site.out / "latest") == label
    return Baseline(site, run_id, label, findings, _manifest(site.out / label))


@pytest.fixture
def site(baseline, tmp_path) -> Site:
    """A private copy of the baseline's warehouse and outputs (symlinks kept as links)."""
    root = tmp_path / "site"
    root.mkdir()
    for name in ("w.duckdb", "w.duckdb.wal"):
        if (baseline.site.root / name).exists():
            shutil.copy2(baseline.site.root / name, root / name)
    shutil.copytree(baseline.site.out, root / "out", symlinks=True)
    return Site(root, root / "w.duckdb", root / "out")


# --------------------------------------------------------------------------- subprocesses

def _env(**extra) -> dict:
    """The subprocesses' environment: the repository on the path (for tests.faults); an
    `extra` of None unsets that variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALON_TEST_")}
    path = [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env.update(COLUMNS="250", PYTHONPATH=os.pathsep.join(path), **extra)
    return {k: v for k, v in env.items() if v is not None}


def _driver_cmd(driver: Path, region: Path, site: Site, *, as_of: str | None = None,
                force: bool = False, lock_timeout: float = 0.0) -> list[str]:
    args = dict(extracts=str(region / "extract"), reference=str(region / "reference"),
                out=str(site.out), db=str(site.db), as_of=as_of, force=force,
                lock_timeout=lock_timeout)
    return [sys.executable, str(driver), json.dumps(args)]


def _cli_cmd(command: str, region: Path, site: Site, *extra: str) -> list[str]:
    cmd = [sys.executable, "-c",
           "import tests.faults; tests.faults.install(); from flows.cli import app; app()", command,
           "--extracts", str(region / "extract"), "--reference", str(region / "reference"),
           "--warehouse", str(site.db)]
    if command == "run":
        cmd += ["--out", str(site.out)]
    return cmd + list(extra)


def _run(cmd: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=_env(**env), capture_output=True, text=True,
                          timeout=WAIT)


class Paused:
    """A subprocess started with a pause point; its output goes to files (no pipe to fill)."""

    def __init__(self, cmd: list[str], workdir: Path, stage: str, **env):
        assert stage in faults.STAGES
        self.stage, self.signal = stage, workdir / f"paused-{stage}"
        self.log = workdir / f"{stage}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                env=_env(**env, **{faults.PAUSE_AT_ENV: stage,
                                   faults.PAUSE_FILE_ENV: str(self.signal)}))

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_paused(self) -> "Paused":
        deadline = time.monotonic() + WAIT
        while not self.signal.exists():
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended (exit {self.proc.returncode}) before reaching "
                            f"{self.stage!r}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"the run did not reach {self.stage!r}:\n{self.output()[-4000:]}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=WAIT) == -signal.SIGKILL

    def resume(self) -> int:
        self.signal.unlink()
        return self.proc.wait(timeout=WAIT)


# --------------------------------------------------------------------------- inspection

@dataclass
class Ledger:
    status: dict  # run_id -> status
    message: dict  # run_id -> message
    replaced_by: dict
    started: dict
    finished: dict
    holders: dict  # run table -> run_ids with rows in it
    base_findings: list = field(repr=False)

    def running(self) -> list[str]:
        return sorted(r for r, s in self.status.items() if s == "running")

    def completed(self) -> set[str]:
        return {r for r, s in self.status.items() if s == "completed"}


def _ledger(db: Path, base: Baseline) -> Ledger:
    """Read the warehouse as the next run will find it (read-only: WAL replayed in memory)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT run_id, status, message, replaced_by, started_at, finished_at "
                           "FROM runs").fetchall()
        holders = {t: {r[0] for r in con.execute(f"SELECT DISTINCT run_id FROM {t}").fetchall()}
                   for t in warehouse.RUN_TABLES}
        base_findings = _findings(con, base.run_id)
    cols = list(zip(*rows)) if rows else [()] * 6
    return Ledger(*(dict(zip(cols[0], c)) for c in cols[1:]), holders=holders,
                  base_findings=base_findings)


def _assert_consistent(led: Ledger, base: Baseline, site: Site, *, completed: set[str],
                       latest: str) -> None:
    """The invariants that must hold whenever and wherever a run was killed."""
    for table, ids in led.holders.items():  # no rows of a run the ledger does not know
        assert ids <= set(led.status), (table, ids - set(led.status))
    assert led.completed() == completed
    assert led.base_findings == base.findings  # the previous run's findings, row for row
    assert os.readlink(site.out / "latest") == latest
    assert _manifest(site.out / base.label) == base.files  # its report folder, byte for byte
    assert _manifest(site.out / "latest") == _manifest(site.out / latest)
    for name in {Path(p).parts[0] for p in base.files}:  # top-level entries go through latest
        assert (site.out / name).resolve() == (site.out / latest / name).resolve()


def _checkpoint(db: Path) -> None:
    """The file opens read-write (replaying its WAL) and checkpoints cleanly."""
    with duckdb.connect(str(db)) as con:
        con.execute("CHECKPOINT")
        assert con.execute("SELECT count(*) FROM runs").fetchall()[0][0] > 0


def _raw_holders(led: Ledger) -> set[str]:
    return set().union(*(led.holders[f] for f in ("raw_patients", "raw_policies",
                                                  "raw_attachments", "raw_slots", "run_files")))


# --------------------------------------------------------------------------- tests

def test_run_killed_at_every_stage_leaves_the_warehouse_consistent(driver, region, baseline,
                                                                   site, tmp_path):
    """Kill one run after another at each stage; each start marks the previous one failed;
    after the last kill a run completes and takes over `latest`."""
    killed: list[str] = []
    for stage in ("loading", "loaded", "checked", "rendered"):
        run = Paused(_driver_cmd(driver, region, site, as_of=DAY2), tmp_path, stage)
        run.wait_paused().kill()
        led = _ledger(site.db, baseline)
        for old in killed:  # marked failed when this run started
            assert led.status[old] == "failed" and "interrupted" in led.message[old]
        _assert_consistent(led, baseline, site, completed={baseline.run_id},
                           latest=baseline.label)
        temp = sorted(p.name for p in site.out.glob(".tmp-*"))
        if stage == "loading":  # killed inside the load transaction: nothing of it is stored
            assert led.running() == []
            assert _raw_holders(led) == {baseline.run_id} | set(killed)
            assert temp == []
            continue
        [run_id] = led.running()
        assert run_id not in killed and run_id in _raw_holders(led)
        assert (run_id in led.holders["findings"]) == (stage != "loaded")
        assert not (site.out / publish.run_label(datetime(2026, 11, 26), run_id)).exists()
        if stage == "rendered":  # a complete report, but only under its temporary name
            assert temp == [f".tmp-{publish.run_label(datetime(2026, 11, 26), run_id)}"]
            assert (site.out / temp[0] / "findings.csv").is_file()
        else:
            assert temp == []
        killed.append(run_id)

    done = _run(_driver_cmd(driver, region, site, as_of=DAY2), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    final = done.stdout.strip().splitlines()[-1]
    led = _ledger(site.db, baseline)
    assert all(led.status[r] == "failed" and "interrupted" in led.message[r] for r in killed)
    _assert_consistent(led, baseline, site, completed={baseline.run_id, final},
                       latest=publish.run_label(datetime(2026, 11, 26), final))
    assert not list(site.out.glob(".tmp-*"))  # the killed run's temporary folder is gone
    _checkpoint(site.db)


def test_cli_run_killed_after_checks_is_marked_failed_by_the_next_run(prefect_env, region,
                                                                      baseline, site, tmp_path):
    run = Paused(_cli_cmd("run", region, site, "--as-of", DAY2), tmp_path, "checked",
                 **prefect_env)
    run.wait_paused().kill()
    led = _ledger(site.db, baseline)
    [killed] = led.running()
    assert killed in led.holders["findings"]  # stored, but its run is not completed
    _assert_consistent(led, baseline, site, completed={baseline.run_id}, latest=baseline.label)

    # the next start (here an ingest of the same batch: allowed, the killed run never completed)
    nxt = _run(_cli_cmd("ingest", region, site, "--as-of", DAY2), tmp_path, **prefect_env)
    assert nxt.returncode == 0, nxt.stdout[-2000:] + nxt.stderr[-3000:]
    led = _ledger(site.db, baseline)
    assert led.status[killed] == "failed" and "interrupted" in led.message[killed]
    assert sorted(led.status.values()) == ["completed", "failed", "ingested"]
    _assert_consistent(led, baseline, site, completed={baseline.run_id}, latest=baseline.label)
    _checkpoint(site.db)


def test_cli_run_killed_after_switching_latest_never_leaves_latest_on_a_failed_run(
        prefect_env, region, baseline, site, tmp_path):
    run = Paused(_cli_cmd("run", region, site, "--as-of", DAY2), tmp_path, "published",
                 **prefect_env)
    run.wait_paused().kill()
    led = _ledger(site.db, baseline)
    target = os.readlink(site.out / "latest")
    # whatever latest points at must be a run that completed (it is not failed at next start)
    assert target == baseline.label or target.split("_", 1)[1] in led.completed()


def test_forced_rerun_killed_midway_keeps_the_run_it_replaces(driver, region, baseline, site,
                                                              tmp_path):
    run = Paused(_driver_cmd(driver, region, site, force=True), tmp_path, "checked")
    run.wait_paused().kill()
    led = _ledger(site.db, baseline)
    [killed] = led.running()
    # set aside (out of reports), not deleted: its findings and its report are all there
    assert led.status[baseline.run_id] == "replacing"
    assert led.replaced_by[baseline.run_id] == killed
    assert led.base_findings == baseline.findings
    assert os.readlink(site.out / "latest") == baseline.label
    assert _manifest(site.out / baseline.label) == baseline.files

    # the next start gives it back: the same input is refused again, naming the baseline run
    again = _run(_driver_cmd(driver, region, site), tmp_path)
    assert again.returncode == 2, again.stderr[-3000:]
    assert "already processed" in again.stderr and baseline.run_id in again.stderr
    led = _ledger(site.db, baseline)
    assert led.status[killed] == "failed" and led.replaced_by[baseline.run_id] is None
    _assert_consistent(led, baseline, site, completed={baseline.run_id}, latest=baseline.label)


def test_forced_rerun_replaces_only_when_it_completes(region, baseline, site):
    """finish_run: a failed --force rerun gives the old run back; a completed one deletes it
    from every table."""
    from reports import data

    prepared = pipeline.prepare(region / "extract", region / "reference")
    with warehouse.connect(site.db) as con:
        replaces = pipeline.check_rerun(con, prepared, force=True)
        assert replaces == [baseline.run_id]
        failed = pipeline.new_run_id()
        pipeline.load_run(con, prepared, failed, replaces)
        assert baseline.run_id not in data.history(con, failed)["run_id"].to_list()
        pipeline.finish_run(con, failed, "failed", "boom")
        assert con.execute("SELECT status, replaced_by FROM runs WHERE run_id = ?",
                           [baseline.run_id]).fetchall() == [("completed", None)]
        assert _findings(con, baseline.run_id) == baseline.findings

        forced = pipeline.new_run_id()
        pipeline.load_run(con, prepared, forced, pipeline.check_rerun(con, prepared, force=True))
        pipeline.finish_run(con, forced, "completed")
        status = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        assert status == {failed: "failed", forced: "completed"}
        for table in warehouse.RUN_TABLES:
            left = con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?",
                               [baseline.run_id]).fetchall()[0][0]
            assert left == 0, table


def _wait_for(condition, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"ended (exit {proc.returncode}) before {what}:\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never {what}")
        time.sleep(0.05)


def test_two_runs_on_one_warehouse_exclude_each_other(prefect_env, driver, region, baseline,
                                                      site, tmp_path):
    lock = Path(str(site.db) + ".lock")
    first = Paused(_driver_cmd(driver, region, site, as_of=DAY2), tmp_path, "rendered")
    _wait_for(lambda: lock.exists() and lock.read_text() == f"pid {first.proc.pid}", first.proc,
              "the first run took the lock", first.log)

    # a second run that waits for as long as it takes, and a third that gives up after 1 s
    patient_log = tmp_path / "patient.log"
    with open(patient_log, "wb") as log:
        patient = subprocess.Popen(
            _cli_cmd("ingest", region, site, "--as-of", DAY3, "--lock-timeout", str(WAIT)),
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=_env(**prefect_env))
    busy = _run(_cli_cmd("run", region, site, "--as-of", DAY3, "--lock-timeout", "1"),
                tmp_path, **prefect_env)
    assert busy.returncode == 4, busy.stdout[-2000:] + busy.stderr[-3000:]
    assert f"warehouse is in use by pid {first.proc.pid}" in busy.stderr
    assert "--lock-timeout" in busy.stderr and "Traceback" not in busy.stderr + busy.stdout

    first.wait_paused()  # still holding the lock, its report rendered but not yet published
    # let the second run reach the lock (its flow holds it from its first line) before
    # the first one goes on; this only makes the test stronger, the ledger check below decides
    _wait_for(lambda: "Beginning flow run" in patient_log.read_text(errors="replace"), patient,
              "the second run started its flow", patient_log)
    assert first.resume() == 0, first.output()[-4000:]
    assert patient.wait(timeout=WAIT) == 0, patient_log.read_text(errors="replace")[-4000:]

    led = _ledger(site.db, baseline)
    a = first.output().strip().splitlines()[-1]  # the driver prints its run id last
    [b] = [r for r, s in led.status.items() if s == "ingested"]  # `talon ingest` runs no checks
    assert led.started[b] >= led.finished[a]  # the second loaded only after the first finished
    _assert_consistent(led, baseline, site, completed={baseline.run_id, a},
                       latest=publish.run_label(datetime(2026, 11, 26), a))
    _checkpoint(site.db)


# --------------------------------------------------------------------------- the temporary server

def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, from /proc; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0], int(fields[19])


def _tree(root: int) -> dict[int, int]:
    """`root` and every process descended from it: pid -> start time (against reused pids)."""
    procs = {int(p.name): st for p in Path("/proc").iterdir()
             if p.name.isdigit() and (st := _stat(int(p.name)))}
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in tree:
            tree[pid] = procs[pid][2]
            todo += [child for child, (parent, _, _) in procs.items() if parent == pid]
    return tree


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _alive(tree: dict[int, int]) -> dict[int, str]:
    """Those of `tree` still running (a zombie is dead: only its exit status is left)."""
    alive = {}
    for pid, started in tree.items():
        st = _stat(pid)
        if st is not None and st[2] == started and st[1] != "Z":
            alive[pid] = _cmdline(pid)
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("end", ["killed", "completed"])
def test_cli_run_leaves_no_process_behind(end, region, tmp_path):
    """Without PREFECT_API_URL, `talon run` starts Prefect's temporary server (a uvicorn
    child). Whether the run completes or is killed with SIGKILL mid-run, no process of it
    outlives it (issue 15: a killed run's server was re-parented to init and lived on)."""
    site = Site(tmp_path, tmp_path / "w.duckdb", tmp_path / "out")
    env = {"PREFECT_API_URL": None, "PREFECT_PROFILES_PATH": None,
           "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    run = Paused(_cli_cmd("run", region, site), tmp_path, "loaded", **env).wait_paused()
    tree = _tree(run.proc.pid)
    try:
        assert any("uvicorn" in cmd for cmd in _alive(tree).values()), (
            f"no temporary server among the run's processes: {_alive(tree)}")
        if end == "killed":
            run.kill()
        else:
            assert run.resume() == 0, run.output()[-4000:]
        deadline = time.monotonic() + 30
        while _alive(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(tree), f"outlived the {end} run: {_alive(tree)}"
    finally:
        for pid in _alive(tree):  # never leave one behind, even when the test fails
            os.kill(pid, signal.SIGKILL)


def test_publish_stage_promote_and_cleanup(tmp_path):
    """What a killed publish can leave behind, and that cleaning it never touches `latest`."""
    out = tmp_path / "out"
    publish.publish(out, "2026-11-25_r1", lambda f: (f / "findings.csv").write_text("one"))
    staged = publish.stage(out, "2026-11-26_r2", lambda f: (f / "findings.csv").write_text("two"))
    assert staged == out / "2026-11-26_r2" and (staged / "findings.csv").read_text() == "two"
    assert os.readlink(out / "latest") == "2026-11-25_r1"
    assert (out / "findings.csv").read_text() == "one"

    (out / ".tmp-2026-11-27_r3").mkdir()  # killed while rendering
    os.symlink("2026-11-26_r2", out / ".latest.new")  # killed while switching latest
    publish.clean_stale_temp(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "2026-11-25_r1", "2026-11-26_r2", "findings.csv", "latest"]

    # folders of runs that never completed go; latest's never does
    assert publish.remove_run_folders(out, ["r1", "r2", "r3"]) == [out / "2026-11-26_r2"]
    assert (out / "findings.csv").read_text() == "one"
    with pytest.raises(FileNotFoundError):
        publish.promote(out, "2026-11-26_r2")
    publish.promote(out, "2026-11-25_r1")
    assert os.readlink(out / "latest") == "2026-11-25_r1"


def test_pause_is_inert_unless_asked(monkeypatch, tmp_path):
    signal_file = tmp_path / "paused"
    monkeypatch.setenv(faults.PAUSE_FILE_ENV, str(signal_file))
    monkeypatch.delenv(faults.PAUSE_AT_ENV, raising=False)
    for stage in faults.STAGES:
        faults.pause(stage)
    faults.install()  # nothing asked: nothing wrapped
    assert pipeline.load_run.__module__ == "flows.pipeline"
    monkeypatch.setenv(faults.PAUSE_AT_ENV, "checked")
    faults.pause("loaded")
    assert not signal_file.exists()


def test_no_test_hook_in_the_package():
    """The pause points live in tests/faults.py; the package knows nothing of them."""
    for path in (REPO / "flows").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "TALON_TEST_" not in text and "pause_point" not in text, path


def test_warehouse_open_elsewhere_is_a_clear_busy_error(tmp_path):
    """DuckDB lets one process open the file; a second one (e.g. `talon history` during a run)
    gets WarehouseBusy (exit code 4) naming the holder, not DuckDB's IOException."""
    from flows.lock import WarehouseBusy

    db = tmp_path / "w.duckdb"
    warehouse.connect(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(600)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for read_only in (False, True):
            with pytest.raises(WarehouseBusy) as busy:
                warehouse.connect(db, read_only=read_only)
            assert busy.value.exit_code == 4 and f"PID {holder.pid}" in str(busy.value)
    finally:
        holder.kill()
        holder.wait()
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]
