"""Warehouse connection settings taken from the environment."""
from __future__ import annotations

import pytest

from flows import warehouse


def test_memory_limit_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "1GB")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert limit.replace(" ", "") in ("953.6MiB", "1.0GiB", "1GB", "1000.0MB")


def test_without_the_variable_duckdb_keeps_its_default(tmp_path, monkeypatch):
    monkeypatch.delenv(warehouse.MEMORY_LIMIT_ENV, raising=False)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert limit.replace(" ", "") not in ("953.6MiB", "1.0GiB")


def test_a_bad_memory_limit_is_refused_with_the_variable_named(tmp_path, monkeypatch):
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match=warehouse.MEMORY_LIMIT_ENV):
        warehouse.connect(tmp_path / "w.duckdb")


def test_a_bad_memory_limit_is_a_setting_error_exit_2(tmp_path, monkeypatch):
    """The CLI says which variable is wrong and exits 2 (bad input), not 3 (internal)."""
    from typer.testing import CliRunner

    from flows.cli import app
    from flows.errors import ConfigError

    db = tmp_path / "w.duckdb"
    warehouse.connect(db).close()  # a warehouse to look at
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ConfigError):
        warehouse.connect(db)
    result = CliRunner().invoke(app, ["history", "--warehouse", str(db)])
    assert result.exit_code == 2, result.output
    assert "TALON_DUCKDB_MEMORY_LIMIT='lots'" in result.output
    assert "internal error" not in result.output
