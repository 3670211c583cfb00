"""The one `Definitions` of the code location (`dagster dev` finds it through [tool.dagster] in pyproject)."""

from dagster import Definitions, EnvVar, multiprocess_executor

from orchestration.assets.dbt import sentinel_dbt_models
from orchestration.assets.ingestion import external_specs, ingest_landing_files, load_labelled_benchmarks
from orchestration.assets.observability import data_alerts, data_health_report
from orchestration.assets.publish import answer_report, bi_dashboard, published_snapshot, sentinel_report
from orchestration.assets.spam import spam_challenger, spam_champion, spam_scores
from orchestration.checks import schema_change_check
from orchestration.jobs import data_health, kpi_anomalies, report, sentinel_pipeline, spam_retraining, spam_scoring
from orchestration.project import settings
from orchestration.resources import Warehouse, dbt_resource
from orchestration.schedules import kpi_anomalies_daily, spam_retraining_weekly
from orchestration.sensors import landing_files_sensor, observability_after_failure, spam_retraining_sensor

defs = Definitions(
    assets=[
        *external_specs,
        ingest_landing_files,
        load_labelled_benchmarks,
        sentinel_dbt_models,
        spam_challenger,
        spam_champion,
        spam_scores,
        published_snapshot,
        answer_report,
        sentinel_report,
        bi_dashboard,
        data_alerts,
        data_health_report,
    ],
    asset_checks=[schema_change_check],
    jobs=[sentinel_pipeline, kpi_anomalies, spam_scoring, spam_retraining, data_health, report],
    schedules=[kpi_anomalies_daily, spam_retraining_weekly],
    sensors=[landing_files_sensor, spam_retraining_sensor, observability_after_failure],
    resources={
        "warehouse": Warehouse(
            home=EnvVar("SENTINEL_HOME"), engine=settings.engine, duckdb_memory=settings.duckdb_memory
        ),
        "dbt": dbt_resource(settings.engine),
    },
    # DuckDB has one writer (and Spark's local metastore one process): the steps of a run go one after the
    # other, each in its own process
    # (`make run` executes in process anyway; dagster.yaml allows one run at a time)
    executor=multiprocess_executor.configured({"max_concurrent": 1}),
)
