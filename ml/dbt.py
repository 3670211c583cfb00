"""One way to run dbt: a pure argument builder and an in-process runner.

Every dbt call of the project goes through `dbt_args` (the command line, nothing else: unit tested) and, in
process, `run_dbt` (the state's dbt folders, dbt's own error message on failure). Dagster's assets use
dagster-dbt's `DbtCliResource`, which runs the same project; `orchestration.resources.prepare_manifest` runs
the dbt CLI with `dbt_args`. The CLIs (`python -m ml`, the benches) print and exit; this module only raises.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.logs import timed
from ml.settings import PROJECT_DIR, paths, use_state_dbt_dirs


class DbtError(RuntimeError):
    """A dbt command failed; the message is dbt's own (the exception or the failing nodes' messages)."""


def dbt_args(
    command: str,
    *extra: str,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dbt_vars: dict[str, Any] | str | None = None,
    full_refresh: bool = False,
    target: str | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
    quiet: bool = False,
    write_json: bool = True,
    project_dir: Path = PROJECT_DIR,
) -> list[str]:
    """The dbt command line (without the `dbt` executable) for this project: pure, so it is unit tested."""
    args = [command, *extra]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    if dbt_vars:
        args += ["--vars", dbt_vars if isinstance(dbt_vars, str) else json.dumps(dbt_vars, sort_keys=True)]
    if full_refresh:
        args.append("--full-refresh")
    if target:
        args += ["--target", target]
    if target_path:
        args += ["--target-path", str(target_path)]
    if log_path:
        args += ["--log-path", str(log_path)]
    if quiet:
        args.append("--quiet")
    if not write_json:
        args.append("--no-write-json")  # no manifest.json / run_results.json: 0.4 to 1.2 s of CPU a command
    return [*args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]


def failures(result: Any) -> list[str]:
    """The messages of the nodes that errored or failed in a dbt result."""
    nodes = getattr(result, "results", None) or []
    return [f"{r.node.name}: {r.message}" for r in nodes if str(r.status) in ("error", "fail")]


def run_dbt(args: list[str]) -> Any:
    """Run dbt in process with the state's dbt folders ($SENTINEL_HOME/dbt); raise `DbtError` if any node fails.

    Returns dbt's result (its `results` hold each node's status and timing). The warehouse is released when dbt
    returns: dbt-duckdb keeps its DuckDB database open in the process after an invocation (until the process
    exits), which locked every other process out of the file: a Dagster step, the publisher, a second CLI."""
    from dbt.cli.main import dbtRunner

    from ml.spam.registry import code_version

    os.environ.setdefault("SENTINEL_HOME", str(paths().home))
    os.environ.setdefault("SENTINEL_CODE_VERSION", code_version())  # stamped on the run and test history
    use_state_dbt_dirs()  # the state's own dbt target folder: its parse is reused run after run
    command = " ".join(args[: args.index("--project-dir")] if "--project-dir" in args else args[:1])
    with timed("dbt", command=command) as facts:
        try:
            res = dbtRunner().invoke(args)
        finally:
            release_warehouse()
        if not res.success:
            detail = str(res.exception) if res.exception else "; ".join(failures(res.result)) or "see the dbt log above"
            raise DbtError(f"dbt {command} failed: {detail}")
        facts["nodes"] = len(getattr(res.result, "results", []) or [])
    return res.result


def release_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb opened in this process, then drop its environment.

    `close_all_connections` (dbt-duckdb's public hook, run at exit) only drops the environment: the database stays
    open until Python frees it, and anything still referring to the environment (a dbt connection left open in a
    reference cycle) keeps it open until the garbage collector runs. Meanwhile a read-only open of the same file in
    this process fails ("Can't open a connection to same database file with a different configuration than
    existing connections"; seen once in the suite) and other processes find it locked. dbt-duckdb closes the
    previous environment the same way (`_ENV.close()` under `_LOCK`) before it replaces it."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
    manager.close_all_connections()
