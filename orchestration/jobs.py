"""Jobs, built from dbt selections (a new model with the right tag joins its job with no code change).

* `sentinel_pipeline`: everything, in dependency order (what `make run` materialises).
* `kpi_anomalies`: new API logs -> anomaly and data-quality marts -> publish.
* `spam_scoring`: new weekly calls or labels -> feature marts -> scores with the current champion ->
  monitoring marts -> publish. No training: the champion keeps scoring whatever the retraining decides.
* `spam_retraining`: features -> challenger -> gate -> champion -> scores -> monitoring -> publish.
* `data_health`: alerts and the data-health report alone (after a failed run: `observability_after_failure`).
* `report`: the HTML report alone, from the current published snapshot (`make report`).

Every job ends with the alerts and the data-health report.
"""

from dagster import AssetSelection, define_asset_job
from dagster_dbt import build_dbt_asset_selection

from orchestration.assets.dbt import sentinel_dbt_models
from orchestration.checks import schema_change_check

INGEST = AssetSelection.assets(["api_logs", "api_requests"]).required_multi_asset_neighbors()
OBSERVE = AssetSelection.assets("data_alerts", "data_health_report")
PUBLISH = AssetSelection.assets("published_snapshot", "answer_report", "sentinel_report", "bi_dashboard") | OBSERVE
# every job that loads files rebuilds the data-quality marts and the monitors of the pipeline itself
MONITORS = "tag:data_quality tag:observability"
ANOMALY_DBT = build_dbt_asset_selection([sentinel_dbt_models], dbt_select=f"tag:anomaly {MONITORS}")
SPAM_DBT = build_dbt_asset_selection([sentinel_dbt_models], dbt_select=f"tag:spam {MONITORS}")
# seeds are reference data every model reads; they are cheap, so every job rebuilds them
SEEDS = build_dbt_asset_selection([sentinel_dbt_models], dbt_select="resource_type:seed")
TAGS = {"sentinel/writes": "warehouse"}
# a dbt selection brings its dbt tests as checks, not the Python checks on the same assets
SPAM_CHECKS = AssetSelection.checks(schema_change_check)


sentinel_pipeline = define_asset_job(
    "sentinel_pipeline",
    selection=AssetSelection.all(),
    description="Everything: ingest, dbt, spam lifecycle, evaluation on the real benchmarks, publish, report.",
    tags=TAGS,
)
kpi_anomalies = define_asset_job(
    "kpi_anomalies",
    selection=INGEST | SEEDS | ANOMALY_DBT | PUBLISH,
    description="New API logs -> anomaly and data-quality marts -> published snapshot and report.",
    tags=TAGS,
)
spam_scoring = define_asset_job(
    "spam_scoring",
    selection=INGEST | SEEDS | SPAM_DBT | SPAM_CHECKS | AssetSelection.assets("spam_scores") | PUBLISH,
    description="New weekly calls or labels -> features -> scores with the current champion -> monitoring.",
    tags=TAGS,
)
spam_retraining = define_asset_job(
    "spam_retraining",
    selection=INGEST | SEEDS | SPAM_DBT | SPAM_CHECKS | AssetSelection.groups("spam_model") | PUBLISH,
    description="Train a challenger, gate it, promote it if it wins, rescore, refresh monitoring, publish.",
    tags=TAGS,
)
data_health = define_asset_job(
    "data_health",
    selection=OBSERVE,
    description="Send the new alerts and rebuild the data-health report from the run history and the monitors.",
    tags=TAGS,
)
report = define_asset_job(
    "report",
    selection=AssetSelection.assets("sentinel_report"),
    description="Rebuild reports/sentinel_report.html from the current published snapshot.",
    tags=TAGS,
)
