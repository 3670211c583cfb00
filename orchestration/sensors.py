"""Sensors: new landing files, the retraining decision of the monitoring marts, and failed runs.

The first two read only files: the landing folders and the published snapshot (never the live warehouse, which a run
may hold). Their cursors make them fire once per new file or per new decision.
"""

import hashlib
import json

import duckdb
from dagster import (
    DefaultSensorStatus,
    RunConfig,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from ml.ingest import ingested, landing_state
from ml.publish import current
from ml.settings import paths
from orchestration.assets.observability import AFTER_FAILED_RUN
from orchestration.assets.spam import SpamLifecycleConfig
from orchestration.jobs import data_health, kpi_anomalies, sentinel_pipeline, spam_retraining, spam_scoring


@sensor(
    name="landing_files_sensor",
    jobs=[kpi_anomalies, spam_scoring],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="A new or re-delivered file in a landing folder runs the job of its feed.",
)
def landing_files_sensor(context: SensorEvaluationContext):
    # without a cursor (a new Dagster home, `make ui` after `make run`): start from what was already ingested
    seen = json.loads(context.cursor) if context.cursor else ingested(paths())
    now = landing_state(paths())
    new = {
        feed: sorted(f for f, sig in files.items() if seen.get(feed, {}).get(f) != sig) for feed, files in now.items()
    }
    requests = []
    for job, feeds in ((kpi_anomalies, ["api_logs"]), (spam_scoring, ["calls", "call_labels"])):
        files = [f"{feed}/{f}" for feed in feeds for f in new[feed]]
        if files:
            key = hashlib.sha256(json.dumps([now[feed] for feed in feeds], sort_keys=True).encode()).hexdigest()[:16]
            requests.append(
                RunRequest(
                    run_key=f"{job.name}:{key}",
                    job_name=job.name,
                    tags={"sentinel/trigger": "new_landing_files", "sentinel/files": ", ".join(files)[:900]},
                )
            )
    if not requests:
        return SkipReason("no new landing files")
    return SensorResult(run_requests=requests, cursor=json.dumps(now))


@sensor(
    name="spam_retraining_sensor",
    job=spam_retraining,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Retrains when fct_spam_retrain_decision says so (no champion, a new feature-mart version, "
    "sustained drift, performance decay), once per decision.",
)
def spam_retraining_sensor(context: SensorEvaluationContext):
    snap = current(paths().published)
    if snap is None:
        return SkipReason("nothing published yet")
    with duckdb.connect(str(snap.path), read_only=True) as con:
        rows = con.execute(
            "select retrain_trigger, should_retrain, reason, champion_version, champion_feature_version, "
            "latest_feature_version from marts.fct_spam_retrain_decision"
        ).fetchall()
        latest_week = con.execute("select max(week_start) from marts.fct_spam_scores_latest").fetchall()[0][0]
    if not rows:
        return SkipReason(f"snapshot {snap.snapshot_id} has no retraining decision")
    trigger, should, reason, champion, champion_fv, latest_fv = rows[0]
    if not should:
        return SkipReason(f"no retraining due ({reason})")
    # a new feature version trains a challenger on it; drift and decay retrain on the newest data
    retrain = trigger in ("sustained_drift", "performance_decay")
    decision = f"{trigger}:{champion}:{champion_fv}:{latest_fv}:{latest_week}"
    return RunRequest(
        run_key=decision,
        run_config=RunConfig(ops={"spam_challenger": SpamLifecycleConfig(retrain=retrain, reason=reason)}),
        tags={"sentinel/trigger": trigger, "sentinel/reason": reason[:900], "sentinel/snapshot": snap.snapshot_id},
    )


@run_failure_sensor(
    name="observability_after_failure",
    monitored_jobs=[sentinel_pipeline, kpi_anomalies, spam_scoring, spam_retraining],
    request_job=data_health,
    default_status=DefaultSensorStatus.RUNNING,
    description="A failed run never reaches its alert step: send the alerts and rebuild the health report then.",
)
def observability_after_failure(context: RunFailureSensorContext):
    run = context.dagster_run
    return RunRequest(run_key=run.run_id, tags={AFTER_FAILED_RUN: run.run_id, "sentinel/job": run.job_name})
