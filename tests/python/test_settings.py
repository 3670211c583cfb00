"""`Settings.from_env`: every SENTINEL_* variable is read in one place, with one default each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ml.settings import DEFAULT_DAGSTER_URL, DEFAULT_DUCKDB_MEMORY, DEFAULT_SPARK_MEMORY, PROJECT_DIR, Settings


def test_defaults_without_any_variable() -> None:
    s = Settings.from_env({})
    assert s.home == (PROJECT_DIR / ".sentinel").resolve()
    assert s.benchmarks == (PROJECT_DIR.parent / "shared" / "benchmarks").resolve()
    assert (s.duckdb_memory, s.spark_memory, s.dagster_url) == (
        DEFAULT_DUCKDB_MEMORY,
        DEFAULT_SPARK_MEMORY,
        DEFAULT_DAGSTER_URL,
    )
    assert (s.alert_webhook_url, s.verbose, s.code_version) == (None, False, None)
    assert s.alerts_file == s.home / "alerts" / "alerts.jsonl"
    assert s.paths.warehouse == s.home / "warehouse.duckdb"


def test_every_variable_is_read_and_a_relative_home_is_made_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env(
        {
            "SENTINEL_HOME": "state",
            "SENTINEL_BENCHMARKS": str(tmp_path / "bench"),
            "SENTINEL_DUCKDB_MEMORY": "2GB",
            "SENTINEL_SPARK_MEMORY": "3g",
            "SENTINEL_DAGSTER_URL": "http://dagster.internal:3000/",
            "SENTINEL_ALERT_WEBHOOK_URL": "http://hooks.internal/x",
            "SENTINEL_ALERT_FILE": str(tmp_path / "a.jsonl"),
            "SENTINEL_VERBOSE": "1",
            "SENTINEL_CODE_VERSION": "abc123",
        }
    )
    assert s.home == tmp_path / "state"
    assert s.benchmarks == tmp_path / "bench"
    assert (s.duckdb_memory, s.spark_memory) == ("2GB", "3g")
    assert s.dagster_url == "http://dagster.internal:3000"  # no trailing slash: links are joined onto it
    assert s.alert_webhook_url == "http://hooks.internal/x"
    assert s.alerts_file == tmp_path / "a.jsonl"
    assert s.verbose and s.code_version == "abc123"


def test_a_home_reached_through_a_link_keeps_the_link_s_path(tmp_path: Path, monkeypatch) -> None:
    """The path is the profile's warehouse path, and dbt reuses a saved parse only for the profile it was made with:
    resolving the link made every state reached through it parse the project again (the suite's copied states)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert Settings.from_env({"SENTINEL_HOME": str(tmp_path / "link")}).home == tmp_path / "link"
    monkeypatch.chdir(tmp_path / "real")
    assert Settings.from_env({"SENTINEL_HOME": "../real/./state"}).home == tmp_path / "real" / "state"  # normalised


def test_empty_and_zero_mean_unset() -> None:
    """`SENTINEL_VERBOSE=0` and empty values (as `make` passes an unset variable) fall back to the defaults."""
    s = Settings.from_env({"SENTINEL_HOME": "", "SENTINEL_VERBOSE": "0", "SENTINEL_ALERT_WEBHOOK_URL": ""})
    assert s.home == (PROJECT_DIR / ".sentinel").resolve()
    assert not s.verbose and s.alert_webhook_url is None


def test_the_engine_is_duckdb_unless_spark_is_asked_for_and_a_typo_is_an_error() -> None:
    assert Settings.from_env({}).engine == "duckdb"
    assert Settings.from_env({"SENTINEL_ENGINE": ""}).engine == "duckdb"
    assert Settings.from_env({"SENTINEL_ENGINE": " Spark "}).engine == "spark"
    with pytest.raises(ValueError, match="SENTINEL_ENGINE='sprak': the engine is one of duckdb, spark"):
        Settings.from_env({"SENTINEL_ENGINE": "sprak"})


def test_the_command_line_follows_sentinel_engine_and_refuses_what_spark_cannot_do(
    tmp_path, monkeypatch, capsys
) -> None:
    """`python -m ml ingest|spam` default to $SENTINEL_ENGINE, as Dagster does: with SENTINEL_ENGINE=spark a
    rollback (DuckDB only) is refused before it moves the champion of a Spark state, and a typo is one message."""
    from ml.__main__ import main

    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    monkeypatch.setenv("SENTINEL_ENGINE", "spark")
    with pytest.raises(SystemExit, match="spam rollback runs on DuckDB only"):
        main(["spam", "rollback"])
    assert not (tmp_path / "warehouse.duckdb").exists() and not list((tmp_path / "mlflow").rglob("*"))
    monkeypatch.setenv("SENTINEL_ENGINE", "sprak")
    with pytest.raises(SystemExit, match="SENTINEL_ENGINE='sprak': the engine is one of duckdb, spark"):
        main(["spam", "answer"])
    monkeypatch.setenv("SENTINEL_ENGINE", "spark")  # an explicit --engine wins: DuckDB's answer
    main(["spam", "answer", "--engine", "duckdb"])  # before any training: one line saying so, no catalog error
    assert "no model trained yet: `make run`" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no `previous` model version to roll back to"):  # a message, no traceback
        main(["spam", "rollback", "--engine", "duckdb"])


def test_a_dbt_build_from_the_command_line_imports_no_trainer_and_no_pandas() -> None:
    """Every `python -m ml build` (about twenty in the suite, one per scenario step) paid about a second of CPU,
    a quarter of a one-model build, importing scikit-learn and pandas it never used: the command line imports what
    a command needs when the command runs. Checked in a fresh interpreter, the command itself stubbed out."""
    code = (
        "import sys, ml.__main__ as cli; cli.cmd_build = lambda args: None; cli.main(['build']); "
        "print(sorted(m for m in ('pandas', 'sklearn', 'mlflow', 'dagster', 'pyspark') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
