"""Alerts and the data-health report (ml/observability), after every job that loads or builds something.

Both read the warehouse's run history (`observability.*`, written by dbt's on-run-end hook even when a build
fails) and the monitor marts. They run at the end of each job, after the published snapshot; when a job fails
before them, `observability_after_failure` (sensors.py) runs the `data_health` job, so a failure is alerted too.
On the Spark engine, `data_alerts` first exports what both read from Spark into the DuckDB file (`OBSERVED`).
"""

from dataclasses import replace

from dagster import AssetExecutionContext, AssetKey, DagsterEventType, MetadataValue, Output, asset

from ml import spark_steps
from ml.observability.alerts import (
    AlertDeliveryError,
    Links,
    record_run_failure,
    record_run_recovered,
    send_alerts,
    sink_for,
)
from ml.observability.health import build_health_report
from ml.settings import Settings
from orchestration.assets.dbt import check_assets, model_assets, model_keys
from orchestration.errors import error_text
from orchestration.resources import Warehouse, dagster_url

AFTER_FAILED_RUN = "sentinel/after_failed_run"  # set by `make run` and the failure sensor on the data_health run

# what the alerts read: the dbt model of the findings (the tests, the monitors of the pipeline and the KPI
# anomalies of the detection period)
WATCHED = ["fct_data_findings"]

# What the alerts and the health report read that dbt writes (monitor marts, and the run-history hook's tables).
# On the Spark engine they are exported from Spark into the DuckDB file first; the alert log and the run failures
# are Python's own, in the DuckDB file on either engine (tests/python/test_orchestration.py checks the list
# against the SQL of ml/observability).
OBSERVED = [
    "marts.fct_data_findings",
    "marts.fct_dbt_test_status_latest",
    "marts.fct_dbt_test_history",
    "marts.fct_volume_monitor",
    "marts.fct_freshness_monitor",
    "marts.fct_schema_changes",
    "marts.fct_source_schema_changes",
    "marts.fct_api_requests_quarantined",
    "marts.fct_calls_quarantined",
    "observability.dbt_run_results",
    "observability.elementary_test_results",
    "observability.test_result_rows",
]
PYTHON_OWNED = ["observability.alert_log", "observability.run_failures"]


def links(warehouse: Warehouse) -> Links:
    """Alert and report links: the Dagster asset check of each dbt test, and the report's sections."""
    return Links(
        report=warehouse.paths.reports / "data_health.html",
        dagster_url=dagster_url(),
        check_assets=check_assets(),
        model_assets=model_assets(),
    )


@asset(
    key="data_alerts",
    deps=[*(k for name in WATCHED for k in model_keys(name)), AssetKey("published_snapshot")],
    group_name="observability",
    kinds={"python"},
    pool="duckdb_writer",
)
def data_alerts(context: AssetExecutionContext, warehouse: Warehouse):
    """Each new test failure, monitor finding or KPI anomaly, sent once (webhook or JSON lines)."""
    sink = sink_for(replace(Settings.from_env(), home=warehouse.paths.home))
    failed_run = context.run.tags.get(AFTER_FAILED_RUN)
    if warehouse.on_spark:  # what the alerts and the report read, from Spark into the DuckDB file
        exported = warehouse.spark(spark_steps.export, OBSERVED)
        context.log.info(f"exported {len(exported)} relations from Spark ({sum(exported.values())} rows)")
    with warehouse.connect() as con:
        if failed_run:  # a run that failed before its own alerts: it becomes a finding, once
            run = context.instance.get_run_by_id(failed_run)
            failures = {
                e.dagster_event.step_key: error_text(e.dagster_event.step_failure_data.error)
                for e in context.instance.all_logs(failed_run, of_type=DagsterEventType.STEP_FAILURE)
            }
            evaluations = [  # AssetCheckEvaluation: check_name, passed
                e.dagster_event.event_specific_data
                for e in context.instance.all_logs(failed_run, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
            ]
            # the dbt tests that failed in it (dagster-dbt's error names only the command)
            checks = sorted(ev.check_name for ev in evaluations if not ev.passed)
            if checks and failures:
                step = next(iter(failures))
                failures[step] = f"failed checks: {', '.join(checks)}\n{failures[step]}"
            record_run_failure(con, failed_run, run.job_name if run else "?", failures)
        else:  # this job got to its alerts: its earlier failures are over
            record_run_recovered(con, context.run.job_name)
        try:
            run = send_alerts(con, sink, links(warehouse))
        except AlertDeliveryError as exc:
            context.log.error(str(exc))
            raise
    context.log.info(
        f"{len(run.sent)} alerts sent to {run.sink}, {run.already_sent} already sent, "
        f"{len(run.withdrawn)} KPI incidents withdrawn"
    )
    return Output(
        None,
        metadata={
            "sink": run.sink,
            "findings": run.findings,
            "sent": len(run.sent),
            "already_sent": run.already_sent,
            "resolved": len(run.resolved),
            "withdrawn": len(run.withdrawn),
            "sent_keys": MetadataValue.json(run.sent),
        },
    )


@asset(key="data_health_report", deps=["data_alerts"], group_name="observability", kinds={"html"})
def data_health_report(context: AssetExecutionContext, warehouse: Warehouse):
    """reports/data_health.html: latest status and history of every test and monitor, failing rows, plots."""
    with warehouse.connect(read_only=True) as con:
        summary = build_health_report(con, warehouse.paths.reports / "data_health.html", links(warehouse))
    context.log.info(f"wrote {summary.path}: {summary.tests} tests, {len(summary.failing)} failing")
    return Output(
        None,
        metadata={
            "path": MetadataValue.path(str(summary.path)),
            "tests": summary.tests,
            "by_status": MetadataValue.json(summary.by_status),
            "failing": MetadataValue.json(summary.failing),
            "warning": MetadataValue.json(summary.warning),
            "open_alerts": summary.open_alerts,
        },
    )
