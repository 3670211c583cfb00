"""`python -m orchestration run`: the whole pipeline through Dagster, in process, with the persistent Dagster
home in $SENTINEL_HOME/dagster (so `make ui` shows the run, its logs and the lineage afterwards).

It generates the reference extract first when the landing folders are empty (the generator plays the source
systems), runs the `sentinel_pipeline` job and prints the answer report. Exit code 1 when the run failed, with
the failing step and its error.
"""

import argparse
import fcntl
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from ml.ingest import landing_files, other_landing_files
from ml.logs import log_event
from ml.settings import DEFAULT_N_BOOT, DEFAULT_SEED, Settings, paths
from orchestration.errors import error_text

HERE = Path(__file__).resolve().parent


class RunLocked(RuntimeError):
    """Another `python -m orchestration run` holds this state directory."""


@contextmanager
def run_lock(home: Path) -> Iterator[None]:
    """One pipeline run per state directory, for the whole run (generate, ingest, dbt, training, publish): a
    second `make run` used to start too and fail at the publish step on DuckDB's lock. The lock is released by
    the kernel when the process dies, so a killed run never blocks the next."""
    path = home / "run.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise RunLocked(
                f"another run holds {path} ({f.read().strip() or 'unknown'}): wait for it to finish, or run with "
                "another SENTINEL_HOME"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


IN_PROCESS_TAG = "sentinel/in_process"  # runs this command executes itself (not the daemon's)


def fail_stale_runs(instance) -> int:
    """Runs this command started in process and that are still STARTED are stale while we hold the run lock: the
    process that ran them was killed. Mark them failed, so they never look alive (or hold a run slot under the
    daemon). Runs without our tag (the daemon's) are left to Dagster's run monitoring."""
    from dagster import DagsterRunStatus, RunsFilter

    stale = instance.get_runs(
        filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING], tags={IN_PROCESS_TAG: "1"})
    )
    for r in stale:
        instance.report_run_failed(r, message="stale: the process that ran it is gone (killed); marked failed")
        log_event("run.stale_marked_failed", run_id=r.run_id)
    return len(stale)


def dagster_home() -> Path:
    """$SENTINEL_HOME/dagster with this project's dagster.yaml; exported as DAGSTER_HOME."""
    home = paths().ensure().dagster
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run(args: argparse.Namespace) -> int:
    from ml.__main__ import EXTRACT_END, EXTRACT_START, generate_extract
    from orchestration.progress import StepProgress, detail_to_file, step, verbose
    from orchestration.resources import warm_dbt

    p = paths().ensure()
    engine = Settings.from_env().engine
    if engine == "spark":  # before anything runs: one message naming what to install
        from ml.spark import SparkUnavailable, require_spark

        try:
            require_spark()
        except SparkUnavailable as e:
            print(f"SENTINEL_ENGINE=spark: {e} (or `make spark-extra`)", file=sys.stderr)
            return 2
    log = p.home / "logs" / f"run_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    if not verbose():
        print(f"state: {p.home}\nlog:   {log} (dbt's output, Dagster's debug lines, the JSON events)", flush=True)
    with detail_to_file(log) as out, warm_dbt() if engine != "spark" else nullcontext():
        folders = (p.landing_api_logs, p.landing_calls)
        if any(landing_files(f) or other_landing_files(f) for f in folders):  # a .zip alone is the user's too
            log_event("run.landing_not_empty", landing=str(p.landing_api_logs.parent))
            out.write(f"  the landing folders hold files: nothing generated ({p.landing_api_logs.parent})\n")
        else:
            with step(out, "generate the reference extract") as facts:
                g = generate_extract(args.seed, args.calls_numbers, args.calls_drift_weeks, EXTRACT_START, EXTRACT_END)
                facts["facts"] = f"{g['api_logs']['rows']:,} API-log rows, {g['calls']['rows']:,} call rows"
        dagster_home()
        with step(out, "dbt parse, load the definitions"):
            from orchestration.resources import prepare_manifest

            prepare_manifest()
            from dagster import DagsterInstance, RunConfig

            from orchestration.assets.dbt import DbtBuildConfig
            from orchestration.assets.observability import AFTER_FAILED_RUN
            from orchestration.assets.spam import SpamLifecycleConfig
            from orchestration.definitions import defs

            job = defs.resolve_job_def("sentinel_pipeline")
        dbt_build = DbtBuildConfig(full_refresh=args.full_refresh, vars=args.vars or "")
        config = RunConfig(
            ops={
                **dict.fromkeys(dbt_steps(job), dbt_build),
                "spam_challenger": SpamLifecycleConfig(seed=args.seed, n_boot=args.n_boot, retrain=args.retrain),
            }
        )
        with DagsterInstance.get() as instance:
            fail_stale_runs(instance)
            run_id = str(uuid.uuid4())
            with StepProgress(instance, run_id, out):
                result = job.execute_in_process(
                    run_config=config,
                    instance=instance,
                    raise_on_error=False,
                    tags={IN_PROCESS_TAG: "1"},
                    run_id=run_id,
                )
            if not result.success:
                # what the sensor observability_after_failure does under the daemon: alert, rebuild the report
                with step(out, "data_health (after the failure)"):
                    health(instance, tags={AFTER_FAILED_RUN: result.run_id})
    skipped = sorted({e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"})
    if result.success and skipped:  # a step that produced no output: what depends on it never ran
        print(f"steps skipped (an upstream step reported no output): {', '.join(skipped)}", file=sys.stderr)
        print(f"run {result.run_id} is incomplete; the full log is {log}", file=sys.stderr)
        return 1
    refusal = gate_refusal(result)
    if refusal:  # the champion stayed, scored the newest week and was published: the run succeeded
        print(f"the challenger was refused at the gate: {refusal}", file=sys.stderr)
    if not result.success:
        print_failures(result)
        note = rejected_feed_note(p.warehouse) if engine != "spark" else None
        if note:
            print(note, file=sys.stderr)
        print(f"run {result.run_id} failed; `make ui` shows it with its logs; the full log is {log}", file=sys.stderr)
        print(f"data health: {p.reports / 'data_health.html'} (alerts: {p.home / 'alerts'} or the webhook)")
        return 1
    print()
    print((p.reports / "answer.txt").read_text())
    print(f"report: {p.reports / 'sentinel_report.html'}; data health: {p.reports / 'data_health.html'}")
    print(f"dashboard: {p.dashboard / 'index.html'} (`make dashboard-serve` serves it on http://127.0.0.1:8050)")
    print(f"run {result.run_id} succeeded; `make ui` shows it, its assets and their lineage")
    return 0


def dbt_steps(job) -> list[str]:
    """The job's dbt steps: one per run of `dbt build`, `sentinel_dbt_models` and its copies (`..._2`, ...), which
    Dagster adds where the ML steps cut the dbt graph. Each needs the run's `--vars` and `--full-refresh`: given to
    the first step only, they missed the detection mart, built in another one."""
    from orchestration.assets.dbt import sentinel_dbt_models

    return sorted(node.name for node in job.graph.nodes if node.definition.name == sentinel_dbt_models.op.name)


def health(instance, tags: dict[str, str] | None = None) -> bool:
    """Run the `data_health` job (alerts, then the data-health report) in process; True when it succeeded."""
    ok = run_job(instance, "data_health", tags)
    print(f"data health: {paths().reports / 'data_health.html'} (alerts: {paths().home / 'alerts'} or the webhook)")
    return ok


def run_job(instance, name: str, tags: dict[str, str] | None = None) -> bool:
    """One small job in process, its failures printed with their causes; True when it succeeded."""
    from orchestration.definitions import defs

    result = defs.resolve_job_def(name).execute_in_process(
        instance=instance, raise_on_error=False, tags={IN_PROCESS_TAG: "1", **(tags or {})}
    )
    print_failures(result)
    return result.success


def print_failures(result) -> None:
    """Each failed step of an in-process run, with its chain of causes, on stderr."""
    for event in result.all_events:
        if event.is_step_failure:
            print(f"step {event.step_key} failed: {error_text(event.step_failure_data.error)}", file=sys.stderr)


def rejected_feed_note(warehouse: Path) -> str | None:
    """After a failed run: that every API-log row was rejected at load, and why, when that is the case."""
    import duckdb

    from ml.anomaly.report import rejected_feed

    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return rejected_feed(con)
    except duckdb.Error:  # no warehouse, or the run stopped before validating the feed
        return None


def gate_refusal(result) -> str | None:
    """The gate's reason when it refused the challenger in this run."""
    refused = [e for e in result.get_asset_check_evaluations() if e.check_name == "gate" and not e.passed]
    return refused[0].description if refused else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="generate if empty, materialise every asset, print the answer")
    r.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator and model seed")
    r.add_argument("--calls-numbers", type=int, default=200_000, help="active numbers per week (calls)")
    r.add_argument("--calls-drift-weeks", type=int, default=0, help="shift caller behaviour in the last N weeks")
    r.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap resamples for the gate's intervals")
    r.add_argument("--retrain", action="store_true", help="train a challenger even without a new feature version")
    r.add_argument("--vars", default=None, help="dbt --vars, e.g. '{anomaly_method: iqr}'")
    r.add_argument("--full-refresh", action="store_true", help="rebuild the incremental detection mart")
    sub.add_parser("home", help="print the Dagster home (for `make ui`)")
    sub.add_parser("health", help="send new alerts and rebuild reports/data_health.html (the data_health job)")
    sub.add_parser("report", help="rebuild reports/sentinel_report.html from the published snapshot (report job)")
    args = parser.parse_args(argv)
    if args.command == "home":
        print(dagster_home())
        return 0
    if args.command in ("health", "report"):
        dagster_home()
        from dagster import DagsterInstance

        from orchestration.resources import prepare_manifest

        prepare_manifest()
        with DagsterInstance.get() as instance:
            if args.command == "health":
                return 0 if health(instance) else 1
            ok = run_job(instance, "report")
            print(f"report: {paths().reports / 'sentinel_report.html'}")
            return 0 if ok else 1
    try:
        with run_lock(paths().ensure().home):
            return run(args)
    except RunLocked as e:
        print(str(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
