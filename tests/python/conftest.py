"""Shared fixtures: a generated reference extract and a fully built warehouse in a temporary state dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ml.settings import PROJECT_DIR

CHROMIUM = "/usr/bin/chromium"  # Debian's package (`make pytest` installs it); the flags keep it off the network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_ml(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SENTINEL_HOME": str(home), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "ml", *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"python -m ml {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def run_pipeline(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`make run`'s command: the whole pipeline through Dagster, in process, Dagster home in <home>/dagster."""
    env = {**os.environ, "SENTINEL_HOME": str(home), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration", "run", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, (
        f"orchestration run {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    return proc


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make run` end to end through Dagster (generate, ingest, dbt, spam lifecycle, evaluation, publish,
    report) on the reference extract in a fresh state dir."""
    home = tmp_path_factory.mktemp("sentinel_home")
    proc = run_pipeline(home)
    (home / "run_stdout.txt").write_text(proc.stdout)
    return home


@pytest.fixture()
def warehouse(built_home: Path):
    con = duckdb.connect(str(built_home / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()
