"""Dagster: the definitions, the end-to-end run on a small extract, reliability, sensors, retries, the UI."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.publish import current, publish
from ml.settings import PROJECT_DIR, Paths
from ml.spam.registry import MODEL_NAME, Registry
from tests.python.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCENARIO_ENV,
    build_once,
    point_link,
    run_ml,
    run_pipeline,
    screenshot_stats,
)

SMALL_CALLS = "20000"  # numbers a week in the small state's call feed (generated once, then dropped in landing)
SMALL = ("--n-boot", "50")  # `orchestration run`'s options: the landing holds files, so it generates nothing


@pytest.fixture(scope="session")
def defs(tmp_path_factory: pytest.TempPathFactory):
    """The Dagster definitions, on one parse of the project for the session (read-only): the first worker that
    asks parses into its own state directory and shares the artifacts, and the other copies them into its own
    (a parse is about 5 s of CPU; the manifest does not depend on the state directory). The worker's dbt commands
    go through one warm dbt server for the session (`warm_dbt`)."""
    from orchestration.project import sentinel_project
    from orchestration.resources import prepare_manifest, warm_dbt

    target = Path(sentinel_project.target_path)
    parsed = build_once(
        tmp_path_factory, "dbt_parse", lambda d: shutil.copytree(prepare_manifest().parent, d, dirs_exist_ok=True)
    )
    if not (target / "manifest.json").exists():
        shutil.copytree(parsed, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".built"))
    from orchestration.definitions import defs

    with warm_dbt():  # this worker's dbt steps, and its `orchestration run` processes', start warm (as `make run`'s)
        yield defs


# The small state and every copy of it are reached through one link beside it, `small_state`: dbt reuses a saved
# parse only for the profile it was made with, and the profile holds the warehouse path, so a copy under a path of
# its own parsed the whole project again in its first dbt process (about 7 s of CPU in each scenario). Through the
# link, the small state's build and each copy have the same path, and the copy's saved parse serves. The tests of
# the small state run one after another on one worker (conftest's scheduler), so the link names one state at a time.
SMALL_LINK = "small_state"


def _build_small(home: Path) -> None:
    """A real extract's shape: files dropped in the landing folders, the API logs under names of their own, no
    ground truth; the reference extract's API logs of March and April (six weeks of history) and a small call
    feed (20k numbers a week). Built through the link its copies are reached by (`SMALL_LINK`)."""
    with tempfile.TemporaryDirectory(prefix="sentinel-source-") as source:
        run_ml(Path(source), "generate", "--calls-numbers", SMALL_CALLS)
        landing = Path(source) / "landing"
        for feed in ("calls", "call_labels"):
            shutil.copytree(landing / feed, home / "landing" / feed)
        (home / "landing" / "api_logs").mkdir()
        for f in sorted((landing / "api_logs").glob("api_requests_2024-0[34]-*.csv")):
            shutil.copy(f, home / "landing" / "api_logs" / f.name.replace("api_requests", "export"))
    proc = run_pipeline(point_link(home.parent / SMALL_LINK, home), *SMALL)
    (home / "run_stderr.txt").write_text(proc.stderr)
    (home / "run_stdout.txt").write_text(proc.stdout)


@pytest.fixture(scope="session")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make run` on a small real-looking extract (see `_build_small`): with this little data the gate refuses v2.
    Its tests read it or change a copy (`_copy`), never the state; they run as one group on one worker
    (conftest's scheduler), and `build_once` keeps it to one build if another worker asks for it."""
    return build_once(tmp_path_factory, "small_home", _build_small)


def _copy(small_home: Path, tmp_path: Path) -> Path:
    """A copy of the small state in the test's own folder, reached through the link (`SMALL_LINK`)."""
    dest = tmp_path / "home"
    shutil.copytree(small_home, dest)
    return point_link(small_home.parent / SMALL_LINK, dest)


def _scenario(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's Dagster steps on <home>, as a scenario state (see conftest.SCENARIO_ENV), with the state's
    dbt folders, as the code location has them (`use_state_dbt_dirs`): each dbt step starts from its saved parse."""
    monkeypatch.setenv("SENTINEL_HOME", str(home))
    for name, value in SCENARIO_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DBT_TARGET_PATH", str(Paths(home).dbt_target))
    monkeypatch.setenv("DBT_LOG_PATH", str(Paths(home).dbt_logs))


def _execute(defs, home: Path, monkeypatch: pytest.MonkeyPatch, job: str = "sentinel_pipeline", **kwargs):
    """<job> in this process on <home>. The definitions were loaded once per worker (`defs`); each dbt step starts
    from the state's saved parse (a copy reached through `SMALL_LINK` has the small state's), and a step that had to
    parse again leaves its parse for the later steps (`orchestration.resources.keep_fresh_parse`)."""
    from dagster import DagsterInstance

    _scenario(home, monkeypatch)
    with DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def _step_parses(home: Path, run_id: str) -> list[bytes]:
    """The saved parse each dbt step of a run on <home> left in its own target folder (dagster-dbt makes it in
    DBT_TARGET_PATH, the state's target folder: `_scenario`, and names it after the op and the run)."""
    from orchestration.resources import PARTIAL_PARSE

    folders = Paths(home).dbt_target.glob(f"sentinel_dbt_models*-{run_id[:7]}-*")
    return [(f / PARTIAL_PARSE).read_bytes() for f in sorted(folders)]


def _saved_parse(home: Path) -> bytes:
    """The parse saved in a state's dbt target folder, which its next dbt step starts from."""
    from orchestration.resources import PARTIAL_PARSE

    return (Paths(home).dbt_target / PARTIAL_PARSE).read_bytes()


def _state(home: Path) -> dict:
    """What readers and the scorer depend on: the published snapshot, the champion, the registered versions."""
    reg = Registry(Paths(home))
    return {
        "snapshot": current(home / "published").snapshot_id,
        "champion": reg.alias("champion"),
        "versions": len(reg.client.search_model_versions(f"name = '{MODEL_NAME}'")),
    }


def _failures(result) -> dict[str, str]:
    """Failed step -> its error and the chain of causes (what the UI shows on the failed step)."""
    from orchestration.errors import error_text

    return {e.step_key: error_text(e.step_failure_data.error) for e in result.all_events if e.is_step_failure}


# ---------------------------------------------------------------- definitions


def test_a_dbt_step_that_parsed_again_leaves_its_parse_for_the_next_step(tmp_path: Path) -> None:
    from orchestration.resources import keep_fresh_parse

    saved, step = tmp_path / "target" / "partial_parse.msgpack", tmp_path / "step" / "partial_parse.msgpack"
    step.parent.mkdir()
    assert not keep_fresh_parse(step, saved)  # the step wrote none: nothing to keep
    step.write_bytes(b"parsed for this warehouse")
    assert keep_fresh_parse(step, saved) and saved.read_bytes() == b"parsed for this warehouse"  # none saved yet
    saved.write_bytes(b"parsed for another warehouse")
    assert keep_fresh_parse(step, saved) and saved.read_bytes() == b"parsed for this warehouse"
    before = saved.stat().st_mtime_ns
    assert not keep_fresh_parse(step, saved) and saved.stat().st_mtime_ns == before  # the same parse: untouched
    assert not keep_fresh_parse(saved, saved)
    assert sorted(p.name for p in saved.parent.iterdir()) == ["partial_parse.msgpack"]  # no temporary file left


def test_definitions_load_with_lineage_from_landing_files_to_published_results(defs) -> None:
    from dagster import AssetKey, AssetSelection, Definitions

    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    upstream = {k.to_user_string() for k in AssetSelection.assets("answer_report").upstream().resolve(graph)}
    assert {
        "calls/calls_weekly",
        "staging/stg_calls__weekly",
        "fct_spam_features_v2",
        "spam_challenger",
        "spam_champion",
        "spam_scores",
        "marts/fct_spam_scores_latest",
        "marts/fct_spam_retrain_decision",
        "marts/fct_api_anomaly_detection_summary",
        "evaluation/fct_detector_evaluation",
        "published_snapshot",
    } <= upstream
    # the landing folders are external assets (written by the sources), upstream of the raw tables
    assert AssetKey(["landing", "calls"]) in graph.get(AssetKey(["calls", "calls_weekly"])).parent_keys
    assert AssetKey(["landing", "api_logs"]) in graph.get(AssetKey(["api_logs", "api_requests"])).parent_keys
    # the loads taken back by an operator's command are an external table every feed's validation reads
    retractions = AssetKey(["ingestion", "load_retractions"])
    assert not graph.get(retractions).is_materializable
    assert retractions in graph.get(AssetKey(["staging", "stg_ingestion__load_retractions"])).parent_keys
    validated = ["int_api_requests_validated", "int_calls_weekly_validated", "int_call_labels_validated"]
    assert all(
        AssetKey(["intermediate", "int_retracted_loads"]) in graph.get(AssetKey(["intermediate", v])).parent_keys
        for v in validated
    )
    # the dashboard is rebuilt from each published snapshot; its numbers come from the metric marts
    assert AssetKey("published_snapshot") in graph.get(AssetKey("bi_dashboard")).parent_keys
    assert {"marts/fct_kpi_metrics_daily", "marts/fct_spam_metrics_weekly"} <= {
        k.to_user_string() for k in AssetSelection.assets("bi_dashboard").upstream().resolve(graph)
    }
    # the registry sits between the feature mart and the scores, the scores before the monitoring marts
    assert AssetKey("spam_champion") in graph.get(AssetKey("spam_scores")).parent_keys
    assert AssetKey("spam_scores") in {
        k for k in AssetSelection.assets(["marts", "fct_spam_drift"]).upstream().resolve(graph)
    }
    assert {j.name for j in defs.resolve_all_job_defs()} >= {
        "sentinel_pipeline",
        "kpi_anomalies",
        "spam_scoring",
        "spam_retraining",
    }
    assert {s.name: s.cron_schedule for s in defs.schedules} == {
        "kpi_anomalies_daily": "0 6 * * *",
        "spam_retraining_weekly": "0 7 * * 1",
    }
    assert {s.name for s in defs.sensors} == {
        "landing_files_sensor",
        "spam_retraining_sensor",
        "observability_after_failure",
    }
    # the alerts and the health report come last: after the monitors and the published snapshot
    alerts_up = {k.to_user_string() for k in AssetSelection.assets("data_health_report").upstream().resolve(graph)}
    assert {"data_alerts", "published_snapshot", "marts/fct_volume_monitor", "marts/fct_schema_changes"} <= alerts_up


def test_every_dbt_test_is_an_asset_check_and_the_gate_blocks(defs) -> None:
    from ml.observability.alerts import MONITOR_CHECKS
    from orchestration.assets.dbt import sentinel_dbt_models
    from orchestration.assets.spam import spam_challenger
    from orchestration.project import sentinel_project

    manifest = json.loads(sentinel_project.manifest_path.read_text())  # the one the definitions loaded
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    assert len(tests) > 100
    checks = {k.name for k in sentinel_dbt_models.check_keys}
    missing = sorted(t["name"] for t in tests if t["name"] not in checks)
    # dagster-dbt cannot attach a relationship test between two sources to either; they still run in dbt
    # (Dagster records them as observations). Every other test is a check.
    assert [m.split("__")[0] for m in missing] == ["source_relationships_api_logs_api_requests"] + [
        "source_relationships_calls_calls_weekly",
        "source_relationships_ingestion_load_columns_load_id",
        "source_relationships_ingestion_load_retractions_load_id",
    ]
    assert len(checks) == len(tests) - 4
    assert set(MONITOR_CHECKS.values()) <= checks  # every check an alert links back to exists
    (gate,) = spam_challenger.check_specs
    assert gate.name == "gate" and not gate.blocking  # a refusal keeps the champion; it does not fail the run


def test_no_asset_module_imports_the_definitions() -> None:
    """`definitions.py` imports the asset modules; the report asset imported it back (inside the asset, to draw
    the lineage), a cycle. The report now links to the lineage instead."""
    assets = Path(__file__).resolve().parents[2] / "orchestration" / "assets"
    importers = [p.name for p in assets.glob("*.py") if "orchestration.definitions" in p.read_text()]
    assert importers == []


def test_on_the_spark_engine_dbt_runs_on_the_spark_output_and_the_steps_in_child_processes(
    tmp_path: Path, monkeypatch
) -> None:
    """SENTINEL_ENGINE=spark: the same definitions, dbt on profiles.yml's `spark` output, and every Python step's
    warehouse work sent to a child process (stubbed here: the Spark session itself is `make spark-test`'s)."""
    from ml import spark_steps
    from orchestration.resources import Warehouse, dbt_resource

    assert dbt_resource("spark").target == "spark"
    assert dbt_resource("duckdb").target is None  # profiles.yml's default output, DuckDB
    calls = []

    def fake_in_child(step, home, *args):
        calls.append((step.__name__, home, args))
        return {"raw.loads": 3} if step is spark_steps.row_counts else [("api_logs", "x.csv")]

    monkeypatch.setattr(spark_steps, "in_child", fake_in_child)
    spark = Warehouse(home=str(tmp_path), engine="spark")
    assert spark.row_counts(["raw.loads"]) == {"raw.loads": 3}
    assert spark.query("select 1") == [("api_logs", "x.csv")]
    assert [c[0] for c in calls] == ["row_counts", "query"] and calls[0][1] == str(tmp_path.resolve())
    assert not (tmp_path / "warehouse.duckdb").exists()  # the DuckDB file was not touched
    duck = Warehouse(home=str(tmp_path))
    with duck.connect() as con:
        con.execute("create schema raw; create table raw.loads as select 1 as x union all select 2")
    assert duck.row_counts(["raw.loads"]) == {"raw.loads": 2} and len(calls) == 2


def test_on_spark_a_locked_metastore_or_registry_is_retried_by_the_spam_steps(
    defs, tmp_path: Path, monkeypatch
) -> None:
    """The challenger and the champion steps on Spark: a lock held by another process (Spark's Derby metastore,
    MLflow's SQLite store), whose error comes back from the child process as text, is a retry of the step, as on
    DuckDB; any other error fails it."""
    from dagster import RetryRequested, build_asset_context

    from ml import spark_steps
    from ml.spam.lifecycle import Challenge
    from ml.spark_steps import SparkStepError
    from orchestration.assets.spam import SpamLifecycleConfig, spam_challenger, spam_champion
    from orchestration.resources import Warehouse

    errors = iter(
        [
            SparkStepError("java.sql.SQLException: Another instance of Derby may have already booted the database"),
            SparkStepError("sqlite3.OperationalError: database is locked"),
            SparkStepError("AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] ml.spam_training_examples"),
        ]
    )

    def locked(step, home, *args):
        raise next(errors)

    monkeypatch.setattr(spark_steps, "in_child", locked)
    spark = Warehouse(home=str(tmp_path), engine="spark")
    with pytest.raises(RetryRequested):
        list(spam_challenger(build_asset_context(), config=SpamLifecycleConfig(), warehouse=spark))
    with pytest.raises(RetryRequested):
        spam_champion(build_asset_context(), warehouse=spark, spam_challenger=Challenge(champion=1, challenger=2))
    with pytest.raises(SparkStepError, match="TABLE_OR_VIEW_NOT_FOUND"):
        list(spam_challenger(build_asset_context(), config=SpamLifecycleConfig(), warehouse=spark))


def test_what_the_alerts_and_the_health_report_read_is_exported_from_spark(defs) -> None:
    """On the Spark engine, `data_alerts` exports OBSERVED into the DuckDB file; a relation ml/observability reads
    that is neither in it nor Python's own would be missing (or stale) in the alerts and the report."""
    import re

    from orchestration.assets.observability import OBSERVED, PYTHON_OWNED

    code = " ".join(p.read_text() for p in (PROJECT_DIR / "ml" / "observability").glob("*.py"))
    read = set(re.findall(r"(?<![\w./])((?:marts|observability)\.[a-z_]+)\b", code)) - {"observability.md"}
    assert read - set(PYTHON_OWNED) == set(OBSERVED)


def test_jobs_are_built_from_dbt_selections(defs) -> None:
    """A model tagged `anomaly` is in the daily job, a `spam` one in the scoring job, neither in the other."""
    graph = defs.resolve_asset_graph()

    def keys(job: str) -> set[str]:
        return {k.to_user_string() for k in defs.resolve_job_def(job).asset_layer.selected_asset_keys}

    daily, scoring, retraining = keys("kpi_anomalies"), keys("spam_scoring"), keys("spam_retraining")
    assert "marts/fct_api_anomaly_detection_summary" in daily and "fct_spam_features_v2" not in daily
    assert {"fct_spam_features_v2", "spam_scores", "marts/fct_spam_drift"} <= scoring
    assert "spam_challenger" not in scoring and "spam_challenger" in retraining
    assert {"api_logs/api_requests", "published_snapshot", "data_alerts", "data_health_report"} <= (
        daily & scoring & retraining
    )
    assert len(graph.get_all_asset_keys()) > 40


def test_the_run_s_dbt_options_reach_every_dbt_step_of_the_job(defs) -> None:
    """`python -m orchestration run --vars ... --full-refresh` configures every `dbt build` of the job. Dagster runs
    the dbt assets in several steps (the ML steps cut the dbt graph), and the options went to the first one only:
    the detection mart, built in another step, kept the default detector ("the pipeline with another detector"
    ran the default one)."""
    from dagster import AssetKey

    from orchestration.__main__ import dbt_steps

    job = defs.resolve_job_def("sentinel_pipeline")
    steps = dbt_steps(job)
    dbt_keys = [k for k in job.asset_layer.selected_asset_keys if k.path[0] in ("marts", "intermediate", "staging")]
    assert len(steps) > 1 and dbt_keys
    assert {job.asset_layer.get_op_output_handle(k).node_handle.name for k in dbt_keys} <= set(steps)
    mart = job.asset_layer.get_op_output_handle(AssetKey(["marts", "fct_api_request_anomalies"]))
    assert mart.node_handle.name in steps


# ---------------------------------------------------------------- end to end on a small extract


def test_small_run_end_to_end_refused_challenger_leaves_the_champion(small_home: Path) -> None:
    from dagster import AssetCheckKey, AssetKey, DagsterInstance, DagsterRunStatus

    err, out = (small_home / "run_stderr.txt").read_text(), (small_home / "run_stdout.txt").read_text()
    assert "the challenger was refused at the gate: refused:" in err
    # files dropped in the landing folders are what the same command answers for: nothing generated, no truth
    assert "the landing folders hold files: nothing generated" in out
    assert not list((small_home / "ground_truth").iterdir())
    assert "Anomalies in the detection period 2024-04-01 .. 2024-04-14" in out
    # one run, and it succeeded: a refusal is the gate's decision (a warning on the check), not a failure
    with DagsterInstance.from_config(str(small_home / "dagster")) as instance:
        runs = instance.get_runs()
        statuses = sorted(r.status.value for r in runs)
        gate = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(AssetKey("spam_challenger"), "gate")]
        )
        anomalies = instance.get_latest_materialization_event(AssetKey(["marts", "fct_api_request_anomalies"]))
    assert statuses == [DagsterRunStatus.SUCCESS.value]
    (execution,) = gate.values()
    assert execution.evaluation.passed is False
    assert execution.evaluation.severity.value == "WARN" and "refused:" in execution.evaluation.description
    reg = Registry(Paths(small_home))
    assert (reg.alias("champion"), reg.alias("challenger")) == (1, 2)  # v1 bootstrapped, v2 refused
    snap = current(small_home / "published")
    assert snap.row_counts["marts.fct_spam_scores_latest"] > 15_000
    assert snap.row_counts["marts.fct_api_request_anomalies"] > 1_000
    # the dbt materialisations carry their row counts (read after dbt exits: it holds the write lock)
    metadata = anomalies.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == snap.row_counts["marts.fct_api_request_anomalies"]
    with duckdb.connect(str(snap.path), read_only=True) as con:
        assert con.execute("select distinct model_version from marts.fct_spam_scores_latest").fetchall() == [(1,)]
        trigger = con.execute("select retrain_trigger from marts.fct_spam_retrain_decision").fetchall()
    assert trigger == [("new_feature_version",)]  # the refused v2 will be tried again as data arrives
    assert (
        "Anomalies in the detection period 2024-04-01 .. 2024-04-14"
        in (small_home / "reports" / "answer.txt").read_text()
    )


def _published_rows(snapshot: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema != 'meta'"
        ).fetchall()
        out = {}
        for schema, table in tables:
            cols = con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "and data_type not like 'TIMESTAMP%' order by ordinal_position",
                [schema, table],
            ).fetchall()
            sel = ", ".join(f'"{c}"' for (c,) in cols)
            out[f"{schema}.{table}"] = con.execute(f"select {sel} from {schema}.{table} order by all").df()
    return out


def test_running_twice_gives_the_same_marts_and_no_new_model_version(small_home: Path, tmp_path: Path) -> None:
    home = _copy(small_home, tmp_path)
    before, first = _state(home), _published_rows(current(home / "published").path)
    out = run_pipeline(home, *SMALL)
    after, second = _state(home), _published_rows(current(home / "published").path)
    assert "refused at the gate" not in out.stderr  # v2 is already registered: nothing new to judge
    assert after["snapshot"] != before["snapshot"]
    assert (after["champion"], after["versions"]) == (before["champion"], before["versions"])
    assert first.keys() == second.keys()
    for rel in first:  # timestamps aside (when it ran), every published row is the same
        # hours since the last load measures the clock; test executions per day grow with every run
        if rel in ("marts.fct_freshness_monitor", "marts.fct_dbt_test_status_daily"):
            continue
        pd.testing.assert_frame_equal(first[rel], second[rel], check_exact=False, rtol=1e-9, obj=rel)


# ---------------------------------------------------------------- failures leave what readers see untouched


@pytest.mark.slow
def test_a_bad_file_fails_ingestion_and_keeps_everything(defs, small_home, tmp_path, monkeypatch) -> None:
    home = _copy(small_home, tmp_path)
    before = _state(home)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        raw_before = con.execute("select count(*) from raw.calls_weekly").fetchall()
    bad = home / "landing" / "calls" / "calls_2024-04-15.csv"
    bad.write_text("id,country,call_count\n123,US,5\n")  # required columns missing
    result = _execute(defs, home, monkeypatch)
    assert not result.success
    failures = _failures(result)
    assert list(failures) == ["ingest_landing_files"]
    assert "calls_2024-04-15.csv" in failures["ingest_landing_files"]
    assert _state(home) == before
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.calls_weekly").fetchall() == raw_before


@pytest.mark.slow
def test_a_failing_dbt_test_stops_the_run_before_publishing(defs, small_home, tmp_path, monkeypatch) -> None:
    """... and the failure is still alerted and reported: the failure sensor runs the `data_health` job."""
    from dagster import DagsterEventType, DagsterInstance, RunRequest, build_run_status_sensor_context

    from orchestration.sensors import observability_after_failure

    home = _copy(small_home, tmp_path)
    before = _state(home)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:  # rows lost after loading: reconciliation fails
        con.execute(
            "delete from raw.api_requests where _line_number <= 5 "
            "and _load_id = (select min(_load_id) from raw.api_requests)"
        )
    _scenario(home, monkeypatch)
    saved = _saved_parse(home)
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("sentinel_pipeline").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failures = _failures(result)
        assert any(k.startswith("sentinel_dbt_models") for k in failures)
        # the copy, reached at the small state's path, is parsed as the small state was: no step parsed again
        parses = _step_parses(home, result.run_id)
        assert len(parses) >= 2 and set(parses) == {saved}
        assert any("expect_column_sum_identity_fct_api_request_load_reconciliation" in m for m in failures.values())
        assert _state(home) == before
        evaluations = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert any(  # shown on the asset whose test failed
            e.asset_key.to_user_string() == "marts/fct_api_request_load_reconciliation" for e in evaluations
        )
        # the run never reached its alert step; the failure sensor asks for the data_health job, once per run
        (failure,) = [e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE]
        context = build_run_status_sensor_context(
            sensor_name="observability_after_failure",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        request = observability_after_failure(context)
        assert isinstance(request, RunRequest) and request.run_key == result.run_id
        for _ in range(2):  # what the requested run does (twice: the run's failure is alerted once)
            health = defs.resolve_job_def("data_health").execute_in_process(
                instance=instance, raise_on_error=False, tags=request.tags
            )
            assert health.success
    alerts = [json.loads(line) for line in (home / "alerts" / "alerts.jsonl").read_text().splitlines()]
    # the failed run itself is a finding: its failed step and error (it used to send nothing)
    (run_alert,) = [a for a in alerts if a["key"] == f"run:{result.run_id}"]
    assert run_alert["severity"] == "error" and run_alert["detail"]["job"] == "sentinel_pipeline"
    assert "sentinel_dbt_models" in run_alert["detail"]["failed_steps"]
    assert "expect_column_sum_identity" in run_alert["detail"]["error"]
    (failed,) = [a for a in alerts if "expect_column_sum_identity_fct_api_request_load_reconciliation" in a["key"]]
    assert failed["severity"] == "error" and failed["detail"]["sample_rows"]
    check_url = failed["links"]["check"]  # the failing check's tab in the Dagster UI
    assert check_url.startswith("http://127.0.0.1:3000/assets/marts/fct_api_request_load_reconciliation?view=checks")
    assert "&checkDetail=expect_column_sum_identity_fct_api_request_load_reconciliation" in check_url
    report = (home / "reports" / "data_health.html").read_text()
    assert 'id="test-expect_column_sum_identity_fct_api_request_load_reconciliation' in report


@pytest.mark.slow
def test_a_crash_in_training_keeps_the_champion_and_the_published_results(
    defs, small_home, tmp_path, monkeypatch
) -> None:
    from ml.spam import lifecycle

    home = _copy(small_home, tmp_path)
    before = _state(home)

    def crash(*args, **kwargs):
        raise MemoryError("training ran out of memory (injected)")

    monkeypatch.setattr(lifecycle, "train_candidate", crash)
    # another seed: a candidate not registered yet, so it is fitted (a registered one is found before any fit)
    seed = {"ops": {"spam_challenger": {"config": {"seed": 7, "n_boot": 20}}}}
    # training and everything after it (promotion, scores, monitoring, publish, reports): the steps before it
    # (ingestion, the feature marts) have nothing new to do in the copied state
    from dagster import AssetKey, AssetSelection

    after = AssetSelection.assets("spam_challenger").downstream().resolve(defs.resolve_asset_graph())
    assert AssetKey("published_snapshot") in after
    result = _execute(defs, home, monkeypatch, run_config=seed, asset_selection=list(after))
    assert not result.success
    failures = _failures(result)
    assert list(failures) == ["spam_challenger"]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert not materialized & after  # nothing after the crash ran, publishing included
    assert "training ran out of memory (injected)" in failures["spam_challenger"]
    assert _state(home) == before


# ---------------------------------------------------------------- sensors, with built contexts


def _write(path: Path, text: str = "x\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.usefixtures("defs")  # the sensors read the definitions, which need the parsed manifest
def test_landing_sensor_fires_once_per_new_file_and_picks_the_right_job(tmp_path, monkeypatch) -> None:
    from dagster import SkipReason, build_sensor_context

    from orchestration.sensors import landing_files_sensor

    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    assert isinstance(landing_files_sensor(build_sensor_context()), SkipReason)  # empty landing folders
    _write(tmp_path / "landing" / "api_logs" / "api_requests_2024-04-14.csv")
    _write(tmp_path / "landing" / "calls" / "calls_2024-04-08.csv")
    first = landing_files_sensor(build_sensor_context())
    assert {r.job_name for r in first.run_requests} == {"kpi_anomalies", "spam_scoring"}
    quiet = landing_files_sensor(build_sensor_context(cursor=first.cursor))
    assert isinstance(quiet, SkipReason)  # nothing new since the cursor
    _write(tmp_path / "landing" / "call_labels" / "labels_2024-04-15.csv")
    second = landing_files_sensor(build_sensor_context(cursor=first.cursor))
    (req,) = second.run_requests
    assert req.job_name == "spam_scoring" and req.tags["sentinel/files"] == "call_labels/labels_2024-04-15.csv"
    _write(tmp_path / "landing" / "calls" / "calls_2024-04-08.csv", "x\ny\n")  # a re-delivery is new content
    third = landing_files_sensor(build_sensor_context(cursor=second.cursor))
    assert [r.tags["sentinel/files"] for r in third.run_requests] == ["calls/calls_2024-04-08.csv"]


@pytest.mark.usefixtures("defs")  # the sensors read the definitions, which need the parsed manifest
def test_the_landing_sensor_starts_from_what_was_already_ingested(tmp_path, monkeypatch) -> None:
    """`make ui` after `make run` started two runs by itself: the sensor's first tick (no cursor) took every file
    `make run` had loaded for new. It now starts from what the last ingestion saw."""
    from dagster import SkipReason, build_sensor_context

    from ml.__main__ import main as ml_main
    from orchestration.sensors import landing_files_sensor

    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    _write(tmp_path / "landing" / "api_logs" / "api_requests_2024-04-14.csv", "date,country,os,count\n")
    ml_main(["ingest"])
    assert isinstance(landing_files_sensor(build_sensor_context()), SkipReason)  # nothing new since the ingest
    _write(tmp_path / "landing" / "api_logs" / "api_requests_2024-04-15.csv", "date,country,os,count\n")
    (req,) = landing_files_sensor(build_sensor_context()).run_requests
    assert req.tags["sentinel/files"] == "api_logs/api_requests_2024-04-15.csv"


def _publish_decision(home: Path, trigger: str, should: bool, week: str = "2024-04-08") -> None:
    wh = home / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.fct_spam_retrain_decision as select ? as retrain_trigger, "
            "? as should_retrain, ? as reason, 2 as champion_version, 2 as champion_feature_version, "
            "2 as latest_feature_version",
            [trigger, should, f"{trigger}: evidence"],
        )
        con.execute(f"create or replace table marts.fct_spam_scores_latest as select date '{week}' as week_start")
    publish(wh, home / "published", ["marts.fct_spam_retrain_decision", "marts.fct_spam_scores_latest"])


@pytest.mark.usefixtures("defs")  # the sensors read the definitions, which need the parsed manifest
def test_retraining_sensor_acts_on_the_published_decision_once(tmp_path, monkeypatch) -> None:
    from dagster import RunRequest, SkipReason, build_sensor_context

    from orchestration.sensors import spam_retraining_sensor

    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    assert "nothing published" in spam_retraining_sensor(build_sensor_context()).skip_message
    _publish_decision(tmp_path, "none", False)
    assert isinstance(spam_retraining_sensor(build_sensor_context()), SkipReason)
    _publish_decision(tmp_path, "sustained_drift", True)
    drift = spam_retraining_sensor(build_sensor_context())
    assert isinstance(drift, RunRequest)
    assert drift.tags["sentinel/trigger"] == "sustained_drift"
    assert drift.tags["sentinel/reason"] == "sustained_drift: evidence"
    assert drift.run_config["ops"]["spam_challenger"]["config"]["retrain"] is True
    again = spam_retraining_sensor(build_sensor_context())
    assert again.run_key == drift.run_key  # the same decision: Dagster launches it once
    _publish_decision(tmp_path, "sustained_drift", True, week="2024-04-15")
    assert spam_retraining_sensor(build_sensor_context()).run_key != drift.run_key  # a new week: a new decision
    _publish_decision(tmp_path, "new_feature_version", True)
    new_version = spam_retraining_sensor(build_sensor_context())
    assert new_version.run_config["ops"]["spam_challenger"]["config"]["retrain"] is False  # the new version


@pytest.mark.slow
def test_a_new_column_is_reported_and_a_challenger_is_requested(defs, small_home, tmp_path, monkeypatch) -> None:
    """Deliver next week's file with a column no feature mart uses: the landing sensor runs the scoring job,
    the schema-change check warns and names the column; the published decision still asks for v2 (a feature
    mart version that uses manual_spam_count), so the retraining sensor requests a challenger on it."""
    from dagster import build_sensor_context

    from orchestration.sensors import landing_files_sensor, spam_retraining_sensor

    home = _copy(small_home, tmp_path)
    monkeypatch.setenv("SENTINEL_HOME", str(home))
    from dagster import SkipReason

    first = landing_files_sensor(build_sensor_context())  # a fresh sensor starts from what make run ingested
    assert isinstance(first, SkipReason)
    cursor = None
    latest = pd.read_csv(home / "landing" / "calls" / "calls_2024-04-08.csv", dtype=str)
    latest.assign(voicemail_count="0").to_csv(home / "landing" / "calls" / "calls_2024-04-15.csv", index=False)
    (req,) = landing_files_sensor(build_sensor_context(cursor=cursor)).run_requests
    assert req.job_name == "spam_scoring"
    # a profile the state's saved parse was not made for (another memory limit): the first dbt step parses the
    # project again and every later step reuses that parse (each full parse writes a parse of its own)
    saved = _saved_parse(home)
    monkeypatch.setenv("SENTINEL_DUCKDB_MEMORY", "5GB")
    result = _execute(defs, home, monkeypatch, job=req.job_name, tags=req.tags)
    assert result.success, _failures(result)
    parses = _step_parses(home, result.run_id)
    assert len(parses) >= 3 and len(set(parses)) == 1 and parses[0] != saved
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "latest_loads_schema_unchanged"]
    assert not check.passed and check.severity.value == "WARN"
    assert "column_added voicemail_count (no feature mart uses it yet)" in check.description
    with duckdb.connect(str(current(home / "published").path), read_only=True) as con:
        assert con.execute("select max(week_start) from marts.fct_spam_scores_latest").fetchall()[0][0].isoformat() == (
            "2024-04-15"
        )
    request = spam_retraining_sensor(build_sensor_context())
    assert request.tags["sentinel/trigger"] == "new_feature_version"
    assert "v2" in request.tags["sentinel/reason"]


def test_the_schema_check_judges_the_newest_file_in_use_not_a_retracted_one(defs, tmp_path: Path) -> None:
    """The newest calls file was retracted (python -m ml retract); the file before it added a column. The check
    must warn about that file: before, it took the retracted file for the newest, found no change carried by it
    and passed."""
    from orchestration.checks import schema_change_check
    from orchestration.resources import Warehouse

    warehouse = Warehouse(home=str(tmp_path))
    with duckdb.connect(str(warehouse.paths.warehouse)) as con:
        for schema in ("raw", "marts", "intermediate"):
            con.execute(f"create schema {schema}")
        con.execute(
            "create table raw.loads as select * from (values ('c1', 'calls', 'calls_2024-04-01.csv', 'loaded'), "
            "('c2', 'calls', 'calls_2024-04-08.csv', 'loaded'), ('cx', 'calls', 'calls_2024-04-15.csv', 'loaded')) "
            "as t(load_id, source, file_name, status)"
        )
        con.execute(  # what dbt builds from them: cx, the newest, is retracted
            "create table intermediate.int_loads_in_use as select * from raw.loads where load_id != 'cx'"
        )
        con.execute(
            "create table marts.fct_source_schema_changes as select * from (values ('calls', 'c2', "
            "'calls_2024-04-08.csv', timestamp '2024-04-09 06:00', 'manual_spam_count', 'column_added')) "
            "as t(source_name, load_id, file_name, loaded_at, column_name, change_type)"
        )
    result = schema_change_check(warehouse=warehouse)
    assert not result.passed
    assert result.description == (
        "calls calls_2024-04-08.csv: column_added manual_spam_count (used by fct_spam_features v2)"
    )


# ---------------------------------------------------------------- retries


def test_a_locked_warehouse_is_retried_not_failed(defs, small_home, tmp_path, monkeypatch) -> None:
    """Another process holding DuckDB's write lock is transient: the step waits and retries, then succeeds."""
    from dagster import materialize

    from orchestration.assets.ingestion import ingest_landing_files
    from orchestration.resources import Warehouse

    home = _copy(small_home, tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(4)",
            str(home / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    result = materialize(
        [ingest_landing_files], resources={"warehouse": Warehouse(home=str(home))}, raise_on_error=False
    )
    holder.wait(timeout=30)
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) >= 1


# ---------------------------------------------------------------- the UI in a real browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_ui_shows_the_asset_graph_in_headless_chromium(defs, small_home: Path, tmp_path: Path) -> None:
    """The Dagster webserver on the small run's home, opened in Debian's Chromium: the spam model's lineage
    renders with its neighbours (feature marts, registry, published snapshot) and no page error."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make pytest` installs Debian's chromium package"
    home = _copy(small_home, tmp_path)  # the webserver writes to its Dagster home; other tests read the state
    port = _free_port()
    env = {**os.environ, "SENTINEL_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "orchestration.definitions",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).read()
                break
            except OSError:
                assert time.time() < deadline, "the Dagster webserver did not start within 120 s"
                assert server.poll() is None, "the Dagster webserver exited"
                time.sleep(1)
        errors: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/assets/spam_challenger?view=lineage&lineageScope=neighbors")
            for name in ("fct_spam_features_v2", "spam_champion", "published_snapshot", "int_spam_champion"):
                page.get_by_text(name, exact=True).first.wait_for(timeout=90_000)
            shot = tmp_path / "lineage.png"
            page.screenshot(path=str(shot))
            browser.close()
        assert errors == []
        assert shot.stat().st_size > 30_000 and screenshot_stats(shot)[0] > 0.02  # a drawn graph, not blank
    finally:
        server.terminate()
        server.wait(timeout=30)


# ---------------------------------------------------------------- registry consistency across crashes


def test_a_promotion_judged_against_an_old_champion_is_not_applied(small_home: Path, tmp_path: Path) -> None:
    """A stale outcome (the champion changed since the gate judged, e.g. a rollback) must not move the alias."""
    from ml.spam import lifecycle

    home = _copy(small_home, tmp_path)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        stale = lifecycle.Challenge(champion=7, challenger=2, feature_version=2, promoted=True, reason="old run")
        assert lifecycle.promote(con, Paths(home), stale) == 1
        fresh = lifecycle.Challenge(champion=1, challenger=2, feature_version=2, promoted=True, reason="this run")
        assert lifecycle.promote(con, Paths(home), fresh) == 2
    reg = Registry(Paths(home))
    assert (reg.alias("champion"), reg.alias("previous")) == (2, 1)


@pytest.mark.slow
def test_a_version_registered_without_its_warehouse_mirror_is_replaced(
    small_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between MLflow and the warehouse leaves an orphan version; the retried step removes it and
    registers once, so no version is duplicated and none is left without its mirror."""
    from ml.spam import lifecycle

    home = _copy(small_home, tmp_path)
    cfg = lifecycle.LifecycleConfig(seed=7, n_boot=20)  # another seed: a new fingerprint

    def crash(self, version):
        raise ConnectionError("the process died after registering in MLflow (injected)")

    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        with monkeypatch.context() as m:
            m.setattr(Registry, "run_id", crash)  # read inside the mirror's transaction
            with pytest.raises(ConnectionError):
                lifecycle.challenge(con, Paths(home), cfg, retrain=True)
        mirrored_before = con.execute("select count(*) from ml.spam_model_versions").fetchall()[0][0]
        orphans = len(Registry(Paths(home)).client.search_model_versions(f"name = '{MODEL_NAME}'")) - mirrored_before
        outcome = lifecycle.challenge(con, Paths(home), cfg, retrain=True)
        mirrored = [v for (v,) in con.execute("select model_version from ml.spam_model_versions order by 1").fetchall()]
    registered = sorted(
        int(v.version) for v in Registry(Paths(home)).client.search_model_versions(f"name = '{MODEL_NAME}'")
    )
    assert (mirrored_before, orphans) == (2, 1)  # the failed step left one version in MLflow only
    assert registered == mirrored and len(registered) == 3  # v1, v2 and the retried challenger: no orphan left
    assert outcome.challenger == registered[-1] and outcome.challenger > 2


@pytest.mark.slow
def test_a_promotion_lost_between_the_gate_and_the_alias_is_resumed_once(small_home: Path, tmp_path: Path) -> None:
    """The gate promoted, then the step that moves the alias died: the next run promotes that version instead
    of calling it "already registered" forever. After a rollback the same version is not promoted again."""
    from ml.spam import lifecycle
    from ml.spam.metrics import GateRules

    home = _copy(small_home, tmp_path)
    lenient = GateRules(min_uplift=-1.0, max_recall_drop=1.0, max_zero_slice_drop=1.0)  # this gate promotes
    cfg = lifecycle.LifecycleConfig(seed=7, n_boot=20, rules=lenient)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        judged = lifecycle.challenge(con, Paths(home), cfg)
        assert judged.promoted and judged.champion == 1  # ... and the promote step never runs (a crash)
        resumed = lifecycle.challenge(con, Paths(home), cfg)
        assert resumed.reason.startswith("resumed:") and resumed.challenger == judged.challenger
        assert lifecycle.promote(con, Paths(home), resumed) == judged.challenger
        assert lifecycle.challenge(con, Paths(home), cfg).challenger is None  # champion now: nothing to judge
        lifecycle.rollback(con, Paths(home))
        after_rollback = lifecycle.challenge(con, Paths(home), cfg)
    assert after_rollback.challenger is None and "already registered" in after_rollback.reason
    assert Registry(Paths(home)).alias("champion") == 1


# ---------------------------------------------------------------- killed and concurrent runs


def test_a_second_run_is_refused_while_another_holds_the_state(tmp_path: Path) -> None:
    """Two `make run` at once both started, and one failed at the publish step on DuckDB's lock. Now the second
    stops at once, says why, and touches nothing."""
    from orchestration.__main__ import run_lock

    with run_lock(tmp_path):
        proc = subprocess.run(
            [sys.executable, "-m", "orchestration", "run"],
            env={**os.environ, "SENTINEL_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 2
    assert "another run holds" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
    assert not list((tmp_path / "landing").rglob("*.csv"))  # nothing generated, nothing ingested


def test_runs_left_started_by_a_killed_process_are_marked_failed(tmp_path: Path) -> None:
    """An in-process run killed with -9 stayed STARTED forever; the next start marks it failed. A run the daemon
    launched (no in-process tag) is left to Dagster's run monitoring."""
    from dagster import DagsterInstance, DagsterRunStatus, job, op

    from orchestration.__main__ import IN_PROCESS_TAG, fail_stale_runs

    @op
    def step() -> int:
        return 1

    @job
    def killed() -> None:
        step()

    with DagsterInstance.ephemeral() as instance:
        ours = instance.create_run_for_job(job_def=killed, tags={IN_PROCESS_TAG: "1"}, status=DagsterRunStatus.STARTED)
        daemons = instance.create_run_for_job(job_def=killed, status=DagsterRunStatus.STARTED)
        assert fail_stale_runs(instance) == 1
        assert instance.get_run_by_id(ours.run_id).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(daemons.run_id).status == DagsterRunStatus.STARTED
        assert fail_stale_runs(instance) == 0


def test_the_dbt_child_dies_with_the_process_that_started_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed run's dbt child kept writing to the warehouse for a minute. The assets' dbt is a wrapper that
    arms the kernel's parent-death signal, then execs the real dbt (here `sleep`, to watch it)."""
    from orchestration.resources import DBT_CHILD, DBT_SERVER_ENV, dbt_resource

    monkeypatch.delenv(DBT_SERVER_ENV, raising=False)  # the worker's warm server (`defs`): the wrapper execs
    assert dbt_resource().dbt_executable == DBT_CHILD
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "c = subprocess.Popen([sys.argv[1], '120']); print(c.pid, flush=True); time.sleep(120)", DBT_CHILD],
        env={**os.environ, "SENTINEL_REAL_DBT": "/bin/sleep"}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    child = int(parent.stdout.readline())
    deadline = time.time() + 10
    while not Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"/bin/sleep"):  # the real program runs
        assert time.time() < deadline, "the wrapper never started the real program"
        time.sleep(0.05)
    parent.kill()  # kill -9
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        status = Path(f"/proc/{child}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the dbt child outlived its parent")


def _children(pid: int) -> list[int]:
    """The processes whose parent is <pid>."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


VERSION_AND_BAD = (("--version",), ("build", "--no-such-flag"))  # a command that succeeds, a usage error


def test_a_warm_dbt_command_is_dbts_own_and_dies_with_its_wrapper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a warm server (`make run` starts one), the wrapper hands each dbt command to a child forked from a
    process that has already imported dbt: the command's output and exit status are the real dbt's, the child
    dies when the wrapper is killed, and a server that is gone means a cold start, not a failure."""
    from orchestration.resources import DBT_CHILD, DBT_EXECUTABLE, DBT_SERVER_ENV, warm_dbt

    def dbt(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([DBT_CHILD, *args], env={**os.environ, **env}, capture_output=True, text=True)

    monkeypatch.delenv(DBT_SERVER_ENV, raising=False)  # the worker's server (`defs`): this test starts its own
    cold = [dbt(*args, SENTINEL_REAL_DBT=DBT_EXECUTABLE) for args in VERSION_AND_BAD]
    with warm_dbt() as server:
        assert server is not None
        warm = [dbt(*args, SENTINEL_REAL_DBT="/bin/false") for args in VERSION_AND_BAD]  # a cold start fails
        for c, w in zip(cold, warm, strict=True):
            assert (w.returncode, w.stdout) == (c.returncode, c.stdout), w.stderr
        assert warm[1].returncode == 2 and "No such option" in warm[1].stderr
        # `dbt init` waits at its first prompt: the process running it is the server's child, not the wrapper
        wrapper = subprocess.Popen(
            [DBT_CHILD, "init"], cwd=tmp_path, env={**os.environ, "SENTINEL_REAL_DBT": "/bin/false"},
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.time() + 30
        while not (children := _children(server.pid)):
            assert time.time() < deadline and wrapper.poll() is None, "the server never forked the command"
            time.sleep(0.05)
        (child,) = children
        wrapper.kill()  # kill -9
        wrapper.wait()
        deadline = time.time() + 10
        while Path(f"/proc/{child}").exists():
            assert time.time() < deadline, "the warm dbt child outlived its wrapper"
            time.sleep(0.05)
    # the server is gone (its socket too): the wrapper starts the real dbt itself
    gone = dbt("--version", **{DBT_SERVER_ENV: str(tmp_path / "gone.sock")}, SENTINEL_REAL_DBT=DBT_EXECUTABLE)
    assert (gone.returncode, gone.stdout) == (0, cold[0].stdout)


def test_the_dbt_steps_know_dbts_version_without_starting_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    """dagster-dbt asked the dbt executable for its version (`dbt --version`: a process importing all of dbt,
    about 2 s) before the first dbt command of every run. The steps' dbt is this environment's dbt-core."""
    import importlib.metadata

    from orchestration.resources import dbt_resource

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_process)
    monkeypatch.setattr(subprocess, "run", no_process)
    assert str(dbt_resource()._cli_version) == importlib.metadata.version("dbt-core")


# ---------------------------------------------------------------- what `make run` shows


def test_run_progress_is_one_line_per_step_with_rows_checks_and_time(tmp_path: Path) -> None:
    """`make run` printed 1,200 lines (dbt's, JSON events, Dagster DEBUG) with silent stretches of a minute. Now
    the terminal gets one line per step, live, with its assets, rows, checks and time; the detail goes to a log
    file (here a child process's output, as dbt's): a job with rows, a warning check and a failing step."""
    import io

    from dagster import (
        AssetCheckResult,
        AssetCheckSeverity,
        AssetCheckSpec,
        DagsterInstance,
        Definitions,
        MaterializeResult,
        asset,
        define_asset_job,
    )

    from orchestration.progress import StepProgress, detail_to_file

    @asset(check_specs=[AssetCheckSpec("is_fresh", asset="loads")])
    def loads():
        subprocess.run(["echo", "a child's line, for the log only"], check=True)  # as dbt's output
        yield MaterializeResult(metadata={"dagster/row_count": 12345})
        yield AssetCheckResult(check_name="is_fresh", passed=False, severity=AssetCheckSeverity.WARN)

    @asset(deps=[loads])
    def broken() -> None:
        raise RuntimeError("injected")

    job = Definitions(assets=[loads, broken], jobs=[define_asset_job("j")]).resolve_job_def("j")
    out = io.StringIO()
    log = tmp_path / "run.log"
    run_id = str(uuid.uuid4())
    with DagsterInstance.ephemeral() as instance, detail_to_file(log) as terminal:
        with StepProgress(instance, run_id, out, interval=0.05):
            job.execute_in_process(instance=instance, raise_on_error=False, run_id=run_id)
        terminal.write("on the terminal\n")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].split()[:2] == ["ok", "loads"] and "1 asset, 12,345 rows, 1 check, warn is_fresh" in lines[0]
    assert lines[1].split()[:2] == ["FAIL", "broken"] and lines[1].split()[3] == "s"
    assert all(len(x) <= 120 for x in lines)
    detail = log.read_text()
    assert "a child's line, for the log only" in detail and "on the terminal" not in detail
