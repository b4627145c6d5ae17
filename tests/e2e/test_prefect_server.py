"""Nightly operation on a real Prefect server: start `prefect server start` on a free port,
`talon serve` the deployment, trigger a run through the API, wait for it, check the reports,
stop everything."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from flows.synth import generate_region

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


TRIGGER = textwrap.dedent("""
    import sys, time
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    deadline = time.monotonic() + 120
    while True:
        try:
            run = run_deployment("talon-nightly/nightly", timeout=600)
            break
        except ObjectNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    print("STATE", run.state.type.value, run.state.name)
""")


@pytest.mark.slow
def test_served_deployment_runs_on_a_real_server(tmp_path):
    region = tmp_path / "region"
    generate_region(region, patients=800, seed=4, region="50", as_of=datetime(2026, 11, 25, 23))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"),
               PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="INFO")
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=open(logs / "server.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    served = None
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/api/health", server)
        served = subprocess.Popen(
            [str(BIN / "talon"), "serve", "--extracts", str(region / "extract"), "--reference",
             str(region / "reference"), "--out", str(tmp_path / "out"), "--warehouse",
             str(tmp_path / "w.duckdb")],
            env=env, cwd=ROOT, stdout=open(logs / "serve.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        trigger = subprocess.run([sys.executable, "-c", TRIGGER], env=env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=600)
        serve_log = (logs / "serve.log").read_text(errors="replace")
        assert "STATE COMPLETED Completed" in trigger.stdout, (trigger.stdout, trigger.stderr[-3000:],
                                                             serve_log[-3000:])
        assert "Prefect UI: http://127.0.0.1:" in serve_log
        assert (tmp_path / "out" / "latest" / "findings.csv").is_file()
        assert (tmp_path / "out" / "findings.csv").is_file()
    finally:
        if served is not None:
            _stop(served)
        _stop(server)
