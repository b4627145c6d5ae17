"""`talon run` (one region) starts the report workers' forkserver, which imports GX in its own
process, before Prefect is imported and its temporary server starts: GX's import (~4 CPU s)
then overlaps those instead of the run's reading of its files."""
from __future__ import annotations

from typer.testing import CliRunner

from flows import parallel, prefect_server
from flows.cli import app
from flows.errors import InputError


def test_forkserver_starts_before_prefect(tmp_path, monkeypatch):
    order = []
    monkeypatch.setattr(parallel, "start_forkserver",
                        lambda gx=False: order.append(("forkserver", gx)) or True)
    monkeypatch.setattr(prefect_server, "bind_temporary_server",
                        lambda *a, **k: order.append(("server", None)))
    import flows.nightly

    def flow(*args, **kwargs):
        order.append(("flow", None))
        raise InputError("stop here", file="x")

    monkeypatch.setattr(flows.nightly, "nightly_flow", flow)
    (tmp_path / "extract").mkdir()
    (tmp_path / "reference").mkdir()
    result = CliRunner().invoke(app, ["run", "--extracts", str(tmp_path / "extract"),
                                      "--reference", str(tmp_path / "reference"),
                                      "--out", str(tmp_path / "out"),
                                      "--warehouse", str(tmp_path / "w.duckdb")])
    assert "stop here" in result.output and result.exit_code != 0
    assert order == [("forkserver", True), ("server", None), ("flow", None)]
