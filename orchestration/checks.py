"""Asset checks written in Python (every dbt test is an asset check already, through dagster-dbt)."""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from orchestration.assets.dbt import manifest
from orchestration.resources import Warehouse

SCHEMA_CHANGES = AssetKey(["marts", "fct_source_schema_changes"])


def _feature_marts_using(column: str) -> list[str]:
    """Versions of the spam feature mart whose contract lists `column` (read from the manifest)."""
    m = manifest()
    return sorted(
        f"{n['name']} v{n['version']}"
        for n in m["nodes"].values()
        if n["resource_type"] == "model" and n["name"] == "fct_spam_features" and column in n.get("columns", {})
    )


@asset_check(
    asset=SCHEMA_CHANGES,
    name="latest_loads_schema_unchanged",
    description="Warns when the latest file of a feed added or removed a column, and says which feature-mart "
    "version uses an added column (then the retraining sensor trains a challenger on it).",
)
def schema_change_check(warehouse: Warehouse) -> AssetCheckResult:
    rows = warehouse.query(
        """
        with latest as (
            select source_name, max(loaded_at) as loaded_at from marts.fct_source_schema_changes group by 1
        )
        select c.source_name, c.file_name, c.column_name, c.change_type
        from marts.fct_source_schema_changes as c
        inner join latest on c.source_name = latest.source_name and c.loaded_at = latest.loaded_at
        order by 1, 2, 3
        """
    )
    # the newest file in use of each feed: a retracted one (python -m ml retract) is left out, as in the mart
    last_loads = warehouse.query(
        "select source, max(file_name) from intermediate.int_loads_in_use where status = 'loaded' group by 1 order by 1"
    )
    latest_file = dict(last_loads)
    current_changes = [r for r in rows if latest_file.get(r[0]) == r[1]]  # changes carried by the newest file
    changes = [
        {
            "source": s,
            "file": f,
            "column": c,
            "change": t,
            "used_by": _feature_marts_using(c) if t == "column_added" else [],
        }
        for s, f, c, t in current_changes
    ]
    text = "; ".join(
        f"{c['source']} {c['file']}: {c['change']} {c['column']}"
        + (f" (used by {', '.join(c['used_by'])})" if c["used_by"] else " (no feature mart uses it yet)")
        for c in changes
    )
    return AssetCheckResult(
        passed=not changes,
        severity=AssetCheckSeverity.WARN,
        description=text or "the newest file of every feed has the columns of the one before",
        metadata={"changes": MetadataValue.json(changes), "latest_files": MetadataValue.json(latest_file)},
    )
