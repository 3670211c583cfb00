"""Every dbt seed, model and test of the project as Dagster assets and asset checks, in one `@dbt_assets`.

Groups and the asset keys of sources written by Python steps come from the manifest (`meta.dagster` set per
folder in dbt_project.yml and per source), so a new model needs no code here. The dbt graph is cut by the
ML steps (features -> model -> scores -> monitoring marts); Dagster runs this one definition as as many
steps as the cut needs, each a `dbt build` of its subset, one at a time (pool `duckdb_writer`).
"""

import functools
import json
import os
from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetKey, Config, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ml.spam.registry import code_version
from orchestration.project import sentinel_project
from orchestration.resources import PARTIAL_PARSE, Warehouse, keep_fresh_parse, retry_when_locked, saved_parse

translator = DagsterDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True,  # every dbt test is an asset check
        enable_source_tests_as_checks=True,  # ... including the tests on the raw sources
        enable_duplicate_source_asset_keys=True,  # two ml tables are written by the same step (spam_challenger)
    )
)


class DbtBuildConfig(Config):
    full_refresh: bool = False  # rebuild the incremental detection mart (after a new version of the detector code)
    vars: str = ""  # dbt --vars, e.g. "{anomaly_method: iqr}"


@dbt_assets(
    manifest=sentinel_project.manifest_path,
    project=sentinel_project,
    dagster_dbt_translator=translator,
    pool="duckdb_writer",
)
def sentinel_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse, config: DbtBuildConfig
) -> Iterator:
    """`dbt build` of the selected seeds, models and tests (a failing error-severity test fails the step)."""
    # The ML steps cut the dbt graph, so one step may build a seed whose relationship test belongs to a model
    # of a later step. "buildable" runs a test only once all its parents are built (dbt's default, "eager",
    # would run it with the seed, before the model exists). dagster-dbt reads this variable when it subsets.
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    os.environ.setdefault("SENTINEL_CODE_VERSION", code_version())  # stamped on the run and test history
    # --no-write-json: this step's own target folder would get a copy of the manifest (1.7 MB) and the run
    # results, which nothing reads (the run's events come from dbt's log lines; the run history from the
    # on-run-end hook): about 0.45 s of CPU a step
    args = ["build", "--no-write-json"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.vars:
        args += ["--vars", config.vars]
    events: list = []
    invocation = None
    try:
        with retry_when_locked():  # another process holding the warehouse: retry; a failing test: fail
            invocation = dbt.cli(args, context=context)
            for event in invocation.stream():
                events.append(event)
    except BaseException:
        yield from events  # what dbt reported before failing, failed checks included, then the failure
        raise
    finally:
        if invocation is not None:  # even after a failure: the parse is as good for the next step
            keep_fresh_parse(invocation.target_path / PARTIAL_PARSE, saved_parse())
    # row counts once dbt has exited: while it runs it holds DuckDB's write lock, so dagster-dbt's own
    # fetch_row_counts (a second connection per model) cannot be used here
    yield from with_row_counts(events, warehouse)


def with_row_counts(events: list, warehouse: Warehouse) -> Iterator:
    """The dbt events, each table's and seed's materialisation with `dagster/row_count` added."""
    nodes = manifest()["nodes"]
    relations = {}
    for e in events:
        node = nodes.get(_unique_id(e))
        if node and node["config"].get("materialized") in ("table", "incremental", "seed"):
            relations[node["unique_id"]] = f"{node['schema']}.{node['alias']}"
    rows = warehouse.row_counts(sorted(set(relations.values())))
    counts = {uid: rows[rel] for uid, rel in relations.items()}
    for e in events:
        uid = _unique_id(e)
        yield e.with_metadata({**e.metadata, "dagster/row_count": counts[uid]}) if uid in counts else e


def _unique_id(event) -> str | None:
    """The dbt node a materialisation is about (None for checks and other events)."""
    return event.metadata["unique_id"].value if isinstance(event, Output) and "unique_id" in event.metadata else None


@functools.cache
def manifest() -> dict:
    """The parsed manifest, read once per process (a code reload re-imports this module)."""
    return json.loads(sentinel_project.manifest_path.read_text())


def _key(m: dict, unique_id: str) -> AssetKey:
    return translator.get_asset_spec(m, unique_id, sentinel_project).key


def model_keys(name: str) -> list[AssetKey]:
    """The asset keys of a dbt model, every version of it, oldest first."""
    m = manifest()
    nodes = [n for n in m["nodes"].values() if n["resource_type"] == "model" and n["name"] == name]
    return [_key(m, n["unique_id"]) for n in sorted(nodes, key=lambda n: str(n.get("version") or ""))]


def check_assets() -> dict[str, list[str]]:
    """Every Dagster asset check of a dbt test: its name (the test's name) -> the asset key path it is on.
    Read from the dbt assets themselves, so a link never points at a check Dagster does not have (the three
    relationship tests between two sources are not checks)."""
    return {key.name: key.asset_key.path for key in sentinel_dbt_models.check_keys}


def model_assets() -> dict[str, list[str]]:
    """Every dbt model's asset key path, by model name (the latest version for a versioned model)."""
    m = manifest()
    nodes = [n for n in m["nodes"].values() if n["resource_type"] == "model"]
    nodes.sort(key=lambda n: str(n.get("version") or ""))
    return {n["name"]: _key(m, n["unique_id"]).path for n in nodes}


def published_relations() -> list[tuple[AssetKey, str]]:
    """What the publish step copies for readers: every model and source whose meta says `publish: true`,
    with its asset key and its relation (schema.table) in the warehouse."""
    m = manifest()
    out = []
    for node in [*m["nodes"].values(), *m["sources"].values()]:
        if node["resource_type"] in ("model", "source") and node.get("meta", {}).get("publish"):
            out.append((_key(m, node["unique_id"]), f"{node['schema']}.{node.get('alias') or node.get('identifier')}"))
    return out
