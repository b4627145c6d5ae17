"""The forkserver imports GX on a low-priority thread (flows/gx_preload.py): the import takes
the cores the run leaves idle; the forkserver's main thread and the workers it forks keep their
priority."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flows import gx_preload, parallel

LINUX = sys.platform.startswith("linux")


def _probe_module(tmp_path: Path, monkeypatch, body: str) -> str:
    name = f"talon_preload_probe_{abs(hash(body)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(gx_preload, "MODULE", name)
    return name


@pytest.mark.skipif(not LINUX, reason="a thread's own nice value is Linux's")
def test_the_module_is_imported_on_a_thread_at_low_priority(tmp_path, monkeypatch):
    name = _probe_module(tmp_path, monkeypatch, (
        "import os, threading\n"
        "SEEN = (threading.current_thread().name,\n"
        "        os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))\n"))
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    gx_preload.preload()
    seen = sys.modules.pop(name).SEEN
    if own >= 19:
        pytest.skip("this test runs at the lowest priority already")
    assert seen == ("talon-gx-preload", max(own, gx_preload.NICE)) and seen[1] > own
    # the caller (the forkserver's main thread, which forks the workers) keeps its priority
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own


def test_an_import_error_is_raised_in_the_caller(tmp_path, monkeypatch):
    _probe_module(tmp_path, monkeypatch, "raise ImportError('no GX here')\n")
    with pytest.raises(ImportError, match="no GX here"):
        gx_preload.preload()


_PROBE = """
import os, sys
from flows import parallel


def has_gx():
    return "great_expectations" in sys.modules


if __name__ == "__main__":
    parallel.start_forkserver(gx=True)
    with parallel.Pool(2) as pool:
        nice = pool.executor.submit(os.getpriority, os.PRIO_PROCESS, 0).result()
        gx = pool.executor.submit(has_gx).result()
    print(os.getpriority(os.PRIO_PROCESS, 0), nice, gx)
"""


@pytest.mark.skipif(not LINUX, reason="a thread's own nice value is Linux's")
def test_workers_keep_their_priority_and_find_gx_imported(tmp_path):
    if "forkserver" not in parallel.mp.get_all_start_methods():
        pytest.skip("no forkserver here")
    script = tmp_path / "probe.py"
    script.write_text(_PROBE, encoding="utf-8")
    env = dict(os.environ, TALON_REPORT_WORKERS="2")
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    own, worker, gx = subprocess.run([sys.executable, str(script)], env=env,
                                     capture_output=True, text=True, check=True,
                                     timeout=180).stdout.split()
    assert worker == own and gx == "True"
