"""The end of the line: a published snapshot for readers (API, BI tools), the answer and the HTML report.

`published_snapshot` depends on every relation it copies (read from the manifest: `meta.publish`), so it runs
last, and only when everything before it succeeded: a failure anywhere leaves the previous snapshot current. On
the Spark engine it exports the relations from Spark into the DuckDB file first (Parquet in between): the API, the
BI dashboard and the report read the same DuckDB snapshot whatever the engine.
"""

from pathlib import Path

import duckdb
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ml import spark_steps
from ml.anomaly.report import format_answer, format_evaluation
from ml.dashboard.build import build_dashboard
from ml.publish import current, publish
from ml.reporting.report import build_report
from ml.spam.report import spam_section
from ml.text import fit
from orchestration.assets.dbt import published_relations
from orchestration.resources import Warehouse, dagster_url

PUBLISHED = published_relations()


@asset(
    key="published_snapshot",
    deps=sorted({k for k, _ in PUBLISHED}, key=lambda k: k.to_user_string()),
    group_name="published",
    kinds={"duckdb"},
    pool="duckdb_writer",
)
def published_snapshot(context: AssetExecutionContext, warehouse: Warehouse):
    """A read-only DuckDB copy of the marts, swapped in atomically (`published/current.json`)."""
    p = warehouse.paths
    relations = [rel for _, rel in PUBLISHED]
    if warehouse.on_spark:  # Spark's marts into the DuckDB file first: readers get the same DuckDB snapshot
        exported = warehouse.spark(spark_steps.export, relations)
        context.log.info(f"exported {len(exported)} relations from Spark ({sum(exported.values())} rows)")
    snap = publish(p.warehouse, p.published, relations)
    context.log.info(f"published snapshot {snap.snapshot_id}: {len(snap.row_counts)} relations")
    return Output(
        None,
        metadata={
            "snapshot_id": snap.snapshot_id,
            "path": MetadataValue.path(str(snap.path)),
            "relations": len(snap.row_counts),
            "rows": sum(snap.row_counts.values()),
            "row_counts": MetadataValue.json(snap.row_counts),
        },
    )


def render_answer(con: duckdb.DuckDBPyConnection, source: Path) -> str:
    """The text `make run` prints: the detection-period answer, the detector comparison, the spam summary."""
    return fit(format_answer(con, source) + format_evaluation(con) + spam_section(con))  # within 120 columns


@asset(key="answer_report", deps=["published_snapshot"], group_name="published", kinds={"python"})
def answer_report(context: AssetExecutionContext, warehouse: Warehouse):
    """reports/answer.txt: the answer, read from the published snapshot (what readers see)."""
    snap = current(warehouse.paths.published)
    with duckdb.connect(str(snap.path), read_only=True) as con:
        text = render_answer(con, snap.path)
    path = warehouse.paths.reports / "answer.txt"
    path.write_text(text)
    context.log.info(f"wrote {path} ({len(text.splitlines())} lines) from snapshot {snap.snapshot_id}")
    return Output(
        None,
        metadata={
            "path": MetadataValue.path(str(path)),
            "snapshot_id": snap.snapshot_id,
            "answer": MetadataValue.md(f"```\n{text}\n```"),
        },
    )


@asset(key="sentinel_report", deps=["published_snapshot"], group_name="published", kinds={"html"})
def sentinel_report(context: AssetExecutionContext, warehouse: Warehouse):
    """reports/sentinel_report.html: exploration, data quality, anomalies, evaluation, spam v1 vs v2, and links to
    the lineage (the Dagster UI, dbt's docs)."""
    snap = current(warehouse.paths.published)
    path = warehouse.paths.reports / "sentinel_report.html"
    # the spam models' comparison reads their labelled rows: on Spark, exported from Spark's marts
    training = Path(warehouse.spark(spark_steps.training_set)) if warehouse.on_spark else None
    summary = build_report(snap, warehouse.paths, path, dagster_url=dagster_url(), training=training)
    context.log.info(f"wrote {path}: {summary.plots} plots, {summary.incidents} incidents")
    return Output(
        None,
        metadata={
            "path": MetadataValue.path(str(path)),
            "snapshot_id": snap.snapshot_id,
            "plots": summary.plots,
            "incidents": summary.incidents,
            "spam_versions": MetadataValue.json(summary.spam_versions),
        },
    )


@asset(key="bi_dashboard", deps=["published_snapshot"], group_name="published", kinds={"html"})
def bi_dashboard(context: AssetExecutionContext, warehouse: Warehouse):
    """$SENTINEL_HOME/dashboard/: the BI dashboard (KPI health, data quality, spam) rebuilt from the snapshot just
    published (`make dashboard-serve` serves it; the exposure `kpi_anomaly_dashboard`)."""
    summary = build_dashboard(warehouse.paths.published, warehouse.paths.dashboard)
    context.log.info(f"built the dashboard in {summary.out}: {len(summary.pages)} pages in {summary.seconds} s")
    return Output(
        None,
        metadata={
            "path": MetadataValue.path(str(summary.out / "index.html")),
            "snapshot_id": summary.snapshot_id,
            "pages": len(summary.pages),
            "incidents": summary.incidents,
            "top_incident": summary.top_incident,
            "seconds": summary.seconds,
        },
    )
