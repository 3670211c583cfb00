"""Resources: the warehouse (DuckDB under $SENTINEL_HOME, the same file `profiles.yml` points dbt at) and dbt.

The engine is chosen by SENTINEL_ENGINE (`duckdb`, the default, or `spark`: docs/scaling.md). On Spark, dbt runs
with profiles.yml's `spark` output and the Python steps run on Spark in a child process each
(`ml/spark_steps.py`); the DuckDB file stays, holding what the publish step, the alerts and the data-health report
read (exported from Spark by those steps) and the alert log.

The state directory is chosen by one environment variable, SENTINEL_HOME: the definitions configure the
`Warehouse` with `EnvVar("SENTINEL_HOME")`, and `profiles.yml` reads the same variable, so the assets and dbt
cannot disagree on the warehouse path. A test can also build `Warehouse(home=...)` for a step that runs no dbt.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource, RetryRequested
from dagster_dbt import DbtCliResource
from packaging import version

from ml.dbt import dbt_args
from ml.settings import DEFAULT_DUCKDB_MEMORY, Paths, Settings
from orchestration.project import sentinel_project


def dagster_url() -> str:
    """Where the Dagster UI is, for the links in alerts and reports (SENTINEL_DAGSTER_URL, default `make ui`'s)."""
    return Settings.from_env().dagster_url


# Another process holds a store this step needs: DuckDB allows one writing process, SQLite (MLflow's store) one
# writer at a time, and Spark's embedded Derby metastore one process (the text of Derby's error XSDB6).
_LOCK_ERRORS = (
    "Could not set lock on file",
    "database is locked",
    "Another instance of Derby may have already booted the database",
)


def is_transient(exc: BaseException) -> bool:
    """A failure worth retrying: the warehouse, Spark's metastore or the MLflow store is locked by another
    process (on Spark the error may come back from the step's child process as a SparkStepError's text)."""
    text = str(exc)
    return any(lock in text for lock in _LOCK_ERRORS)


@contextmanager
def retry_when_locked(max_retries: int = 5, seconds_to_wait: float = 10.0) -> Iterator[None]:
    """Turn a lock held by another process into a Dagster retry of the step (a bad file or a failing test is
    not retried: it would fail the same way again)."""
    try:
        yield
    except Exception as exc:
        if is_transient(exc):
            raise RetryRequested(max_retries=max_retries, seconds_to_wait=seconds_to_wait) from exc
        raise


class Warehouse(ConfigurableResource):
    """The warehouse's engine, the DuckDB file and the state directory `home` (the definitions pass $SENTINEL_HOME
    and $SENTINEL_ENGINE)."""

    home: str
    engine: str = "duckdb"  # or "spark" (SENTINEL_ENGINE)
    duckdb_memory: str = DEFAULT_DUCKDB_MEMORY  # as profiles.yml: SENTINEL_DUCKDB_MEMORY

    @property
    def on_spark(self) -> bool:
        return self.engine == "spark"

    def spark(self, step: Callable[..., Any], *args: Any) -> Any:
        """A step of `ml/spark_steps.py` (`step(home, *args)`) in a child process of its own."""
        from ml.spark_steps import in_child

        return in_child(step, str(self.paths.home), *args)

    def query(self, sql: str) -> list[tuple]:
        """The rows of a small query of portable SQL, on the engine's warehouse."""
        if self.on_spark:
            from ml import spark_steps

            return self.spark(spark_steps.query, sql)
        with self.connect(read_only=True) as con:
            return con.execute(sql).fetchall()

    def row_counts(self, relations: list[str]) -> dict[str, int]:
        """Rows of each relation (`schema.table`) on the engine's warehouse."""
        if not relations:
            return {}
        if self.on_spark:
            from ml import spark_steps

            return self.spark(spark_steps.row_counts, relations)
        with self.connect(read_only=True) as con:
            return {r: con.execute(f"select count(*) from {r}").fetchall()[0][0] for r in relations}

    @property
    def paths(self) -> Paths:
        return Paths(Path(self.home).resolve()).ensure()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection for one step; a lock held by another process becomes a retry of the step."""
        with retry_when_locked():
            con = duckdb.connect(
                str(self.paths.warehouse),
                read_only=read_only,
                config={"memory_limit": self.duckdb_memory},
            )
        try:
            yield con
        finally:
            con.close()


# dbt from this interpreter's environment, whether or not the virtualenv is on PATH
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


# what the assets run: a wrapper that execs that dbt with the kernel told to kill it when its parent dies, or hands
# the command to a warm dbt server (`warm_dbt`)
DBT_CHILD = str(Path(__file__).resolve().parent / "bin" / "dbt")
DBT_SERVER_ENV = "SENTINEL_DBT_SERVER"  # the warm server's socket, for DBT_CHILD


@contextmanager
def warm_dbt() -> Iterator[subprocess.Popen | None]:
    """This process's dbt commands (the steps of a run in process, through DBT_CHILD) forked from one server that
    has imported dbt, instead of a new dbt process each that imports it again (about 2 s of CPU a command; see
    orchestration/bin/dbt). The server dies with this process; without it (another platform, a server that could
    not start) the commands start cold, as before. Nested, the outer server serves. Yields the server (None when
    this call started none)."""
    if os.environ.get(DBT_SERVER_ENV) or not sys.platform.startswith("linux"):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="sentinel-dbt-") as folder:
        sock = Path(folder) / "dbt.sock"
        server = subprocess.Popen([sys.executable, DBT_CHILD, "--serve", str(sock)], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not sock.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # it binds its socket before it imports dbt: milliseconds
        os.environ[DBT_SERVER_ENV] = str(sock)
        try:
            yield server
        finally:
            os.environ.pop(DBT_SERVER_ENV, None)
            server.kill()
            server.wait()


class SentinelDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without the dbt adapter it builds in process before every dbt command.

    That adapter loads the project and its macros again (2.2 s the first time in a process, then about 0.7 s
    a command) and serves only `fetch_row_counts()` and `fetch_column_metadata()`. Neither can run against
    DuckDB while the dbt process holds the write lock; the assets count rows themselves once dbt has exited
    (orchestration/assets/dbt.py). Without an adapter, dagster-dbt skips that metadata, as it does when the
    adapter cannot be built."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # dagster-dbt's private hook
        return None

    @cached_property
    def _cli_version(self) -> version.Version:  # dagster-dbt's private hook
        """The version of the dbt the steps run: this environment's dbt-core (DBT_CHILD execs its executable).
        dagster-dbt asks the executable (`dbt --version`, a process that imports all of dbt: about 1.8 s of CPU
        before the first dbt command of every run)."""
        return version.parse(importlib.metadata.version("dbt-core"))


def dbt_resource(engine: str = "duckdb") -> DbtCliResource:
    """dbt on the engine's output of profiles.yml (`dev`: DuckDB, or `spark`)."""
    os.environ.setdefault("SENTINEL_REAL_DBT", DBT_EXECUTABLE)
    return SentinelDbtCliResource(
        project_dir=sentinel_project,
        profiles_dir=sentinel_project.profiles_dir,
        dbt_executable=DBT_CHILD,
        target="spark" if engine == "spark" else None,
    )


def _dbt_target() -> str | None:
    """profiles.yml's output for the engine: the parse and the builds use the same one (a switch re-parses)."""
    return "spark" if Settings.from_env().engine == "spark" else None


def prepare_manifest() -> Path:
    """`dbt parse` into the state's target folder, whose manifest the definitions load (`dagster dev` does it
    itself)."""
    subprocess.run(
        [
            DBT_CHILD,  # the real dbt, or the warm server's (`warm_dbt`)
            *dbt_args("parse", quiet=True, target=_dbt_target(), target_path=sentinel_project.target_path),
        ],
        cwd=sentinel_project.project_dir,
        check=True,
        env={**os.environ, "DBT_PROFILES_DIR": str(sentinel_project.profiles_dir), "SENTINEL_REAL_DBT": DBT_EXECUTABLE},
    )
    return sentinel_project.manifest_path


PARTIAL_PARSE = "partial_parse.msgpack"


def saved_parse() -> Path:
    """The saved parse dagster-dbt copies into each step's own target folder before dbt runs there: the one in
    DBT_TARGET_PATH (the state's target folder, `ml.settings.use_state_dbt_dirs`), else the project's `target/`."""
    return Path(sentinel_project.project_dir, os.environ.get("DBT_TARGET_PATH", "target"), PARTIAL_PARSE)


def keep_fresh_parse(step_parse: Path, saved: Path) -> bool:
    """After a dbt step: when dbt had to parse again (a changed project file, or a profile that is not the one the
    saved parse was made for: another warehouse path, memory limit or target) it wrote a new parse into the step's
    own target folder, and dagster-dbt would copy the old one into the next step's, which parses again. Keep the
    new one instead (atomically); dbt checks a saved parse itself before it uses it. True when it was replaced."""
    if not step_parse.is_file() or step_parse.resolve() == saved.resolve():
        return False
    new = step_parse.read_bytes()
    if saved.is_file() and saved.read_bytes() == new:
        return False
    saved.parent.mkdir(parents=True, exist_ok=True)
    tmp = saved.with_name(f".{saved.name}.{os.getpid()}")
    tmp.write_bytes(new)
    tmp.replace(saved)
    return True
