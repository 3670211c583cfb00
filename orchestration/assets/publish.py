"""The end of the line: a published snapshot for readers (API, BI tools) and the answer report.

`published_snapshot` depends on every relation it copies (read from the manifest: `meta.publish`), so it runs
last, and only when everything before it succeeded: a failure anywhere leaves the previous snapshot current.
"""

import contextlib
import io

import duckdb
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ml.anomaly.report import print_answer, print_evaluation
from ml.publish import current, publish
from ml.spam.report import print_spam_answer
from orchestration.assets.dbt import published_relations
from orchestration.resources import Warehouse

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
    snap = publish(p.warehouse, p.published, [rel for _, rel in PUBLISHED])
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


def render_answer(con: duckdb.DuckDBPyConnection, warehouse: Warehouse) -> str:
    """The text `make run` prints: the detection-period answer, the detector comparison, the spam summary."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_answer(con, warehouse.paths)
        print_evaluation(con)
        if con.execute("select count(*) from marts.fct_spam_scores_latest").fetchall()[0][0]:
            print_spam_answer(con)
    return out.getvalue()


@asset(key="answer_report", deps=["published_snapshot"], group_name="published", kinds={"python"})
def answer_report(context: AssetExecutionContext, warehouse: Warehouse):
    """reports/answer.txt: the answer, read from the published snapshot (what readers see)."""
    snap = current(warehouse.paths.published)
    with duckdb.connect(str(snap.path), read_only=True) as con:
        text = render_answer(con, warehouse)
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
