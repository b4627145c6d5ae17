"""National runs: each Dask worker's DuckDB gets its share of the host's memory and cores.

The arithmetic (`national.duckdb_share`), the share a Talon-started local cluster passes to its
tasks, a region task applying it to every warehouse connection of its run (and putting the
environment back), and a real worker process working out its own share from its Dask memory
limit and the workers on its host (a cluster Talon did not start, `--dask-address`)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows import national, pipeline, warehouse
from flows.errors import ConfigError
from flows.synth import generate_region

from tests.e2e.test_national import AS_OF, REGIONS

MiB, GiB = 2**20, 2**30
ENV = (warehouse.MEMORY_LIMIT_ENV, warehouse.THREADS_ENV)


def _settings(con) -> tuple[int | None, int]:
    memory, threads = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('threads')").fetchall()[0]
    return pipeline.parse_memory_size(memory), int(threads)


# --------------------------------------------------------------------------- the arithmetic


def test_share_of_the_worker_memory_limit():
    # Half of the worker's Dask limit, split among the tasks that run at once in the worker.
    assert national.duckdb_share(4, 8, 4 * GiB) == national.DuckDBShare("2048MiB", 2)
    assert national.duckdb_share(4, 8, 4 * GiB, worker_tasks=2) == national.DuckDBShare(
        "1024MiB", 2)
    # The cores over the host's tasks, never below one thread.
    assert national.duckdb_share(16, 2, 4 * GiB).threads == 1
    assert national.duckdb_share(1, 2, 4 * GiB).threads == 2


def test_a_configured_limit_is_the_hosts_budget_split_among_its_tasks():
    share = national.duckdb_share(4, 8, 64 * GiB, configured="8GiB")
    assert share == national.DuckDBShare("2048MiB", 2)
    assert national.duckdb_share(2, 2, None, configured="1GB").memory_limit == f"{10**9 // 2 // MiB}MiB"


def test_without_a_worker_limit_the_hosts_memory_is_split():
    assert national.duckdb_share(4, 4, None, host_memory=16 * GiB).memory_limit == "2048MiB"
    assert national.duckdb_share(4, 4, 0, host_memory=None) == national.DuckDBShare(None, 1)
    assert national.DuckDBShare(None, 1).env() == {warehouse.THREADS_ENV: "1"}


def test_a_bad_configured_limit_is_a_setting_error():
    with pytest.raises(ConfigError, match=warehouse.MEMORY_LIMIT_ENV):
        national.duckdb_share(2, 2, GiB, configured="lots")


def test_local_cluster_share(monkeypatch):
    monkeypatch.delenv(warehouse.MEMORY_LIMIT_ENV, raising=False)
    share = national.local_share(2)
    assert share.memory_limit == f"{national.local_worker_memory(2) // 2 // MiB}MiB"
    assert share.threads == max(1, national.host_cores() // 2)
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "3GiB")
    assert national.local_share(3).memory_limit == "1024MiB"
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "lots")  # national_flow: before the cluster
    with pytest.raises(ConfigError, match=warehouse.MEMORY_LIMIT_ENV):
        national.local_share(2)


def test_outside_a_worker_nothing_is_changed(monkeypatch):
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "1GB")
    monkeypatch.delenv(warehouse.THREADS_ENV, raising=False)
    with national.duckdb_settings(None) as share:
        assert share is None and os.environ[warehouse.MEMORY_LIMIT_ENV] == "1GB"
    with national.duckdb_settings(national.DuckDBShare("300MiB", 1)):
        assert os.environ[warehouse.MEMORY_LIMIT_ENV] == "300MiB"
        assert os.environ[warehouse.THREADS_ENV] == "1"
    assert os.environ[warehouse.MEMORY_LIMIT_ENV] == "1GB"
    assert warehouse.THREADS_ENV not in os.environ


def test_a_bad_threads_setting_is_a_setting_error(tmp_path, monkeypatch):
    monkeypatch.setenv(warehouse.THREADS_ENV, "many")
    with pytest.raises(ConfigError, match=warehouse.THREADS_ENV):
        warehouse.connect(tmp_path / "w.duckdb")


# --------------------------------------------------------------------------- in a region run


@pytest.mark.slow
def test_region_task_gives_every_connection_of_its_run_the_share(tmp_path, monkeypatch):
    """Every warehouse connection pipeline.run_batch opens in the task has the share, not
    DuckDB's default (80 % of the machine, one thread per core); afterwards the environment is
    as before."""
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    generate_region(tmp_path / "d" / "50", patients=150, seed=REGIONS["50"], region="50",
                    as_of=AS_OF)
    region = national.discover_regions(tmp_path / "d")[0]
    seen = []
    connect = warehouse.connect

    def spy(path, **kw):
        con = connect(path, **kw)
        seen.append(_settings(con))
        return con

    monkeypatch.setattr(warehouse, "connect", spy)
    monkeypatch.setenv("TALON_REPORT_WORKERS", "1")
    share = national.DuckDBShare("320MiB", 1)
    result = national.region_task.fn(region, tmp_path / "out", tmp_path / "wh", None,
                                     pipeline.CheckParams(), "en", False, 0.0, share)
    assert result.status == "completed" and result.duckdb == share
    assert len(seen) >= 4  # recover, load, check, reports, finish
    assert set(seen) == {(320 * MiB, 1)}
    assert not any(k in os.environ for k in ENV)
    with connect(result.warehouse, read_only=True) as con:  # the default is something else
        assert _settings(con) != (320 * MiB, 1)


# --------------------------------------------------------------------------- in a Dask worker


def _worker_probe(db: str):
    """Runs in a Dask worker: the share it works out and what a warehouse connection shows."""
    with national.duckdb_settings(None) as share:
        with warehouse.connect(db) as con:
            inside = _settings(con)
    return share, inside, {k: os.environ.get(k) for k in ENV}


def test_a_dask_worker_caps_duckdb_to_its_share(tmp_path, monkeypatch):
    """A cluster Talon did not start: two worker processes of 1 GiB each on this host. Each
    task's DuckDB gets half of its worker's 1 GiB and the host's cores over the two workers."""
    from distributed import Client, LocalCluster

    for key in ENV:
        monkeypatch.delenv(key, raising=False)  # the workers inherit this environment
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        results = client.gather([client.submit(_worker_probe, str(tmp_path / f"{i}.duckdb"),
                                               pure=False) for i in range(2)])
    threads = max(1, national.host_cores() // 2)
    for share, inside, env_after in results:
        assert share == national.DuckDBShare("512MiB", threads)
        assert inside == (512 * MiB, threads)
        assert env_after == dict.fromkeys(ENV)  # put back when the task ended
