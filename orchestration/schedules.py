"""Daily KPI anomalies, weekly retraining (times in UTC; both jobs are built from dbt selections)."""

from dagster import DefaultScheduleStatus, RunConfig, ScheduleDefinition

from orchestration.assets.spam import SpamLifecycleConfig
from orchestration.jobs import kpi_anomalies, spam_retraining

kpi_anomalies_daily = ScheduleDefinition(
    name="kpi_anomalies_daily",
    job=kpi_anomalies,
    cron_schedule="0 6 * * *",  # after the daily API-log export has landed
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
spam_retraining_weekly = ScheduleDefinition(
    name="spam_retraining_weekly",
    job=spam_retraining,
    cron_schedule="0 7 * * 1",  # Monday, after the weekly call file and the week's labels
    execution_timezone="UTC",
    run_config=RunConfig(ops={"spam_challenger": SpamLifecycleConfig(retrain=True, reason="weekly schedule")}),
    default_status=DefaultScheduleStatus.RUNNING,
)
