"""The same dbt models on Apache Spark (issue 16): a local PySpark session, the `spark` output of profiles.yml.

`python -m ml spark-test` (`make spark-test`) builds every model, seed and test of the project on Spark (the KPI
anomaly product, the spam feature and monitoring marts, the data-quality marts, the detector evaluation on the
generator's truth and the real benchmarks, observability) from the state's DuckDB warehouse, scores the latest
week there, and checks that Spark computes what DuckDB computed:

1. Spark ingests the state's landing files itself (`ml/spark_ingest.py`: the same rules as DuckDB's ingestion,
   with the load ids DuckDB gave each file), the generator's ground truth and the real benchmarks (read in
   place); the other tables the selection reads (the lifecycle's ml tables: scores, registry) are copied from
   the DuckDB warehouse through Parquet. The run and test history (schema `observability`) is not copied: each
   engine's hooks write their own, and Spark's observability marts read Spark's;
2. `dbt build --target spark` of the selection but the models that read the spam scores: seeds, models, data
   tests and unit tests, from the same SQL (the engine differences are `spark__` macros under macros/cross_db/);
3. the champion scores the latest week it scored on DuckDB again on Spark (`score_on_spark`: the model broadcast,
   each partition scored with `mapInPandas`), replacing that week's partition of Spark's ml.spam_scores;
4. `dbt build --target spark` of the models that read the scores (the monitoring marts), from Spark's scores;
5. each raw table Spark loaded, each PARITY relation the selection built, and the scores (every week: the one
   Spark scored and those it must have left alone) are read back from Spark and compared with DuckDB's on
   their key: rows on each side only, verdicts (`direction` for the
   detection mart, `is_flagged` for the scores, ...) that differ, text columns that differ, and the largest
   relative difference of each numeric column. The check fails on any row or verdict or text difference, or a
   numeric one above 1e-9;
6. the spam trainer reads its training set from Spark's marts (`training_warehouse`: the labelled rows, cut in
   Spark, into the trainer's own interface) and from DuckDB's, for every feature version, and fits a candidate
   on each (`compare_training`): the same rows in the same order, and the same family, threshold and held-out
   PR-AUC;
7. the whole training step runs again on Spark's marts (`lifecycle_on_spark`, into a scratch MLflow registry:
   the first model bootstrapped champion, the latest feature version challenged, gated, promoted or refused)
   and must register and decide what DuckDB's did (`compare_lifecycle`).

With `--published-from HOME` it instead compares the published snapshot of a Dagster run on the Spark engine
(SENTINEL_ENGINE=spark, in HOME, on the same landing files) with this state's DuckDB marts (`compare_published`).
Spark's tables, its Hive metastore (Derby) and its logs live under $SENTINEL_HOME/spark/, as profiles.yml says.
The DuckDB side must be built (and trained and scored, for step 3) first, as `make spark-test` does; Spark never
writes to it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ml.dbt import dbt_args, run_dbt
from ml.logs import log_event, timed
from ml.settings import DEFAULT_N_BOOT, Paths, Settings
from ml.spam.features import KEYS, TRAINING_MART
from ml.spark_ingest import (
    BENCHMARK_TABLES,
    RAW_TABLES,
    ingest_landing_spark,
    load_benchmarks_spark,
    replayed_load_ids,
)

# Every seed, model and test of the project: the KPI anomaly product, the spam features, training examples and
# monitoring, the data-quality marts, the evaluation, observability and the metric marts.
SPARK_SELECTION = "fqn:*"
# Written by each engine's own dbt hooks (macros/monitoring/store_run_results.sql), never copied between them
OWN_HISTORY_SCHEMA = "observability"
PARITY_RELATION = "marts.fct_api_request_anomalies"
PARITY_KEY = ("series_key", "series_date")
# What spark-test compares: each relation on its key, and its verdict column where it has one.
PARITY: dict[str, tuple[tuple[str, ...], str | None]] = {
    # ingested by each engine from the same landing files (RAW_TABLES)
    "raw.api_requests": (("_load_id", "_line_number"), None),
    "raw.calls_weekly": (("_load_id", "_line_number"), None),
    "raw.call_labels": (("_load_id", "_line_number"), None),
    "raw.loads": (("load_id",), None),
    "raw.load_columns": (("load_id", "ordinal"), None),
    "raw.api_ground_truth_incidents": (("incident_id",), None),
    "raw.calls_ground_truth": (("id",), None),
    # read by each engine from the real benchmarks in place (BENCHMARK_TABLES); NAB repeats some timestamps
    "raw.benchmark_points": (("dataset", "series_id", "ts", "value"), None),
    "raw.benchmark_windows": (("dataset", "series_id", "window_start"), None),
    # built by dbt
    PARITY_RELATION: (PARITY_KEY, "direction"),
    "marts.fct_api_anomaly_incidents": (("incident_key",), None),
    "marts.fct_api_anomaly_detection_summary": (("incident_key",), None),
    "marts.fct_kpi_metrics_daily": (("metric_name", "metric_date", "level", "country", "os", "breakdown"), None),
    "marts.fct_spam_features_v1": (("number_id", "week_start"), None),
    "marts.fct_spam_features_v2": (("number_id", "week_start"), None),
    "marts.fct_spam_training_examples": (("number_id", "week_start"), None),
    "marts.fct_api_request_load_reconciliation": (("load_id",), None),
    "marts.fct_calls_load_reconciliation": (("load_id",), None),
    "marts.fct_api_requests_quarantined": (("load_id", "line_number"), None),
    "marts.fct_calls_quarantined": (("load_id", "line_number"), None),
    "marts.fct_spam_scores_latest": (("number_id", "week_start"), "is_flagged"),
    "marts.fct_spam_drift": (("monitored_name", "week_start"), "drift_band"),
    "marts.fct_spam_model_performance_weekly": (("week_start", "model_version"), None),
    "marts.fct_spam_retrain_decision": (("champion_version",), "retrain_trigger"),
    "marts.fct_spam_metrics_weekly": (
        ("metric_name", "week_start", "model_version", "country_code", "breakdown"),
        None,
    ),
    "intermediate.int_eval_detector_flags": (("dataset", "detector", "series_key", "period_ts"), "direction"),
    "evaluation.fct_eval_series": (("dataset", "series_key"), "is_scored"),
    "evaluation.fct_eval_truth_events": (("event_id",), None),
    "evaluation.fct_detector_evaluation": (("dataset", "detector", "event_type"), "fc_rank"),
    "evaluation.fct_eval_series_scores": (("dataset", "detector", "series_key"), None),
}
# What a verdict column's rows are counted by on each side (default: is_anomaly)
PARITY_FLAG = {
    "marts.fct_spam_scores_latest": "is_flagged",
    "marts.fct_spam_drift": "drift_band = 'major'",
    "marts.fct_spam_retrain_decision": "should_retrain",
    "intermediate.int_eval_detector_flags": "direction = 'down'",
    "evaluation.fct_eval_series": "is_scored",
    "evaluation.fct_detector_evaluation": "fc_rank = 1",
}
# Columns each engine computes its own way by design, not compared: the detector's fingerprint covers the SQL it
# rendered, which is the engine's own (macros/anomaly/anomaly_settings.sql)
PARITY_IGNORE: dict[str, tuple[str, ...]] = {PARITY_RELATION: ("detector_settings",)}
PARITY_TOLERANCE = 1e-9  # relative, per numeric value: the engines sum in different orders


class SparkUnavailable(RuntimeError):
    """PySpark or Java is missing: the message says what to install."""


def require_spark() -> None:
    """Fail with one clear message, not a stack trace from the JVM launcher, when Spark cannot start."""
    missing = []
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        missing.append("PySpark and dbt-spark: pip install -c constraints.txt -e '.[spark]' (make spark-test does it)")
    if shutil.which("java") is None:
        missing.append("a Java 17 runtime: Debian's openjdk-17-jre-headless (apt-get install openjdk-17-jre-headless)")
    if missing:
        raise SparkUnavailable("Spark cannot start; install " + " and ".join(missing))


def spark_dir(p: Paths) -> Path:
    return p.home / "spark"


def session(p: Paths) -> Any:
    """The local Spark session of profiles.yml's `spark` output. dbt-spark's `session` method reuses the session
    a process already has (and then applies only runtime settings), so the folders here must be profiles.yml's."""
    require_spark()
    from pyspark.sql import SparkSession

    home = spark_dir(p)
    home.mkdir(parents=True, exist_ok=True)
    # Python work on Spark (mapInPandas) runs in this interpreter's environment, not whatever `python3` is on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master("local[2]")
        .appName("sentinel")
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={home}/metastore;create=true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        # Hive's session folder (empty here), under the state rather than one more /tmp/<session id>_resources
        .config("spark.hadoop.hive.downloaded.resources.dir", str(home / "hive_resources"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # as profiles.yml: no progress bar in the output
        .config("spark.driver.memory", Settings.from_env().spark_memory)  # local mode: the driver does the work
        .enableHiveSupport()
        .getOrCreate()
    )


def spark_dbt(p: Paths, command: str, *extra: str, select: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Any:
    """dbt against the spark target, in its own target folder (a shared one would re-parse on every switch)."""
    return run_dbt(
        dbt_args(
            command,
            *extra,
            select=select,
            exclude=exclude,
            target="spark",
            target_path=spark_dir(p) / "dbt" / "target",
            log_path=spark_dir(p) / "dbt" / "logs",
        )
    )


def list_selection(p: Paths, selection: str) -> list[dict]:
    """`dbt ls` of the selection on the spark target: one dict per node (unique id, resource type, alias, config)."""
    return [json.loads(line) for line in spark_dbt(p, "ls", "--output", "json", select=(selection,))]


def selection_sources(p: Paths, nodes_listed: list[dict]) -> list[str]:
    """The raw tables (`schema.table`) a selection (its `list_selection`) reads: its dbt sources and the sources
    its tests read (a relationships test of one source reads another), located by the parsed manifest."""
    listed = [n["unique_id"] for n in nodes_listed]
    manifest = json.loads((spark_dir(p) / "dbt" / "target" / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    ids = {u for u in listed if u.startswith("source.")}
    for u in listed:
        ids.update(d for d in nodes.get(u, {}).get("depends_on", {}).get("nodes", []) if d.startswith("source."))
    return sorted(f"{manifest['sources'][u]['schema']}.{manifest['sources'][u]['identifier']}" for u in ids)


def copy_tables(p: Paths, spark: Any, tables: list[str]) -> dict[str, int]:
    """Copy DuckDB tables into Spark tables of the same name through Parquet files; their row counts."""
    out = spark_dir(p) / "export"
    counts = {}
    with duckdb.connect(str(p.warehouse), read_only=True) as con:
        for table in tables:
            schema, name = table.split(".")
            with timed("spark.copy_table", table=table) as facts:
                path = out / schema / f"{name}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                con.execute(f"copy {table} to '{path}' (format parquet)")
                spark.sql(f"create database if not exists {schema}")
                frame = _instants(spark.read.parquet(str(path)))
                writer = frame.write.mode("overwrite")
                if table in PARTITIONED:
                    writer = writer.partitionBy(PARTITIONED[table])
                writer.saveAsTable(table)
                counts[table] = facts["rows"] = spark.table(table).count()
    return counts


# The spam scores: the champion's, written by Spark into its own ml.spam_scores (partitioned by week, so scoring
# a week rewrites that week only); the models that read them (through SCORES_READER) are built after it.
SCORES_RELATION = "ml.spam_scores"
SCORES_READER = "model.sentinel.int_spam_champion_scores"
SCORES_KEY = ("number_id", "week_start", "model_version")
SCORES_SCHEMA = (
    "number_id string, week_start date, model_version int, feature_version int, score double, is_flagged boolean, "
    "scored_at timestamp"
)
SCORES_PARTITION = "week_start"
TRAINING_TABLES_LIKE = "fct_spam_features_v*"  # every version of the feature mart
# Spark tables laid out in partitions (`copy_tables` and the scorer create them so)
PARTITIONED = {SCORES_RELATION: SCORES_PARTITION}


def duckdb_scored_week(p: Paths) -> Any:
    """The latest week the champion scored on DuckDB (what spark-test scores again on Spark), or None."""
    from ml.spam.registry import Registry

    version = Registry(p).alias("champion")
    with duckdb.connect(str(p.warehouse), read_only=True) as con:
        has_scores = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'ml' and table_name = 'spam_scores'"
        ).fetchone()[0]
        if version is None or not has_scores:
            return None
        latest = "select max(week_start) from ml.spam_scores where model_version = ?"
        return con.execute(latest, [version]).fetchone()[0]


def spark_feature_sets(spark: Any) -> dict:
    """The versions of the feature mart Spark built, as the trainer's own `feature_sets` reads them: from their
    schemas only (empty tables of the same columns and types in an in-memory DuckDB), no rows."""
    from ml.spam.features import feature_sets

    mem = duckdb.connect()
    mem.execute("create schema marts")
    for t in spark.catalog.listTables("marts", TRAINING_TABLES_LIKE):
        arrow = spark.table(f"marts.{t.name}").limit(0).toArrow()  # noqa: F841 (DuckDB reads it by name)
        mem.execute(f"create table marts.{t.name} as select * from arrow")
    return feature_sets(mem)


def _scores_table(spark: Any) -> list[str]:
    """Spark's ml.spam_scores, created partitioned by week when missing; its columns in table order."""
    spark.sql("create database if not exists ml")
    columns = ", ".join(c for c in SCORES_SCHEMA.split(", ") if not c.startswith(f"{SCORES_PARTITION} "))
    spark.sql(
        f"create table if not exists {SCORES_RELATION} ({columns}, {SCORES_PARTITION} date) using parquet "
        f"partitioned by ({SCORES_PARTITION})"
    )
    listed = spark.catalog.listColumns(SCORES_RELATION)
    if not any(c.name == SCORES_PARTITION and c.isPartition for c in listed):
        raise RuntimeError(
            f"Spark's {SCORES_RELATION} is not partitioned by {SCORES_PARTITION} (an older layout): drop it, or "
            "copy it again with copy_tables, before scoring"
        )
    return [c.name for c in listed]


def score_on_spark(p: Paths, spark: Any, week: Any = None) -> tuple[int, Any, int] | None:
    """Score one week with the champion on Spark, from Spark's own feature mart, into Spark's ml.spam_scores:
    `week`, or the latest week of the champion's feature mart; (model version, week, rows), or None when there
    is no champion (or no week to score). `python -m ml spam score --engine spark` runs it.

    The champion is the MLflow registry's (`champion` alias), its feature version one Spark built. The model is
    broadcast once and every partition is scored where it lies (`mapInPandas`: Arrow batches of rows, the same
    `score_batch` as DuckDB's scoring): nothing but row counts comes back to the driver, so the week may hold
    60 M numbers. The week's partition of ml.spam_scores is replaced (its rows of other model versions kept),
    no other week is read or written. A week with a row that lacks a feature the champion uses is refused, as on
    DuckDB.
    """
    from pyspark.sql import functions as F

    from ml.errors import TrainingError
    from ml.spam.evaluate import load_champion
    from ml.spam.registry import Registry
    from ml.spam.scoring import score_batch

    reg = Registry(p)
    champ = load_champion(reg, spark_feature_sets(spark))
    if champ is None:
        return None
    if week is None:
        week = spark.table(champ.fs.relation).agg(F.max("week_start")).first()[0]
        if week is None:
            return None
    expected = json.loads(reg.tags(champ.version)["features"])
    version, feature_version, threshold = champ.version, champ.fs.version, champ.threshold
    with timed("spark.score", model_version=version, feature_version=feature_version, week=str(week)) as facts:
        frame = spark.table(champ.fs.relation).where(F.col("week_start") == F.lit(week))
        if champ.fs.flags and (unobserved := frame.where(~F.expr(" and ".join(champ.fs.flags))).count()):
            raise TrainingError(
                f"week {week}: {unobserved} rows lack a feature the champion uses "
                f"({', '.join(champ.fs.flags)} false); they are not scored with zeros"
            )
        model = spark.sparkContext.broadcast(champ.model)

        def batches(frames: Any) -> Any:
            for batch in frames:
                yield score_batch(batch, model.value, expected, threshold, version, feature_version)

        columns = _scores_table(spark)
        scored = frame.select("number_id", "week_start", *expected).mapInPandas(batches, SCORES_SCHEMA)
        # as on DuckDB: the week's rows of this version replaced, other versions' rows of the week kept
        others = spark.table(SCORES_RELATION).where(
            (F.col("week_start") == F.lit(week)) & (F.col("model_version") != version)
        )
        # written in full to a staging table first: Spark cannot overwrite a partition the same query reads
        staged = f"{SCORES_RELATION}_staged"
        others.unionByName(scored).select(*columns).write.mode("overwrite").saveAsTable(staged)
        mode = spark.conf.get("spark.sql.sources.partitionOverwriteMode")
        spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")  # only the partitions written
        try:
            spark.table(staged).write.insertInto(SCORES_RELATION, overwrite=True)
        finally:
            spark.conf.set("spark.sql.sources.partitionOverwriteMode", mode)
        spark.sql(f"drop table {staged}")
        this_week = (F.col("model_version") == version) & (F.col("week_start") == F.lit(week))
        facts["rows"] = spark.table(SCORES_RELATION).where(this_week).count()
    return version, week, facts["rows"]


# The spam trainer on Spark's marts: the labelled examples and every version of the feature mart.


def training_warehouse(spark: Any, into: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """Spark's training mart and its feature marts, cut to the labelled rows, in an in-memory DuckDB under the same
    names: the trainer's own interface (`feature_sets`, `training_rows`) then reads Spark's rows unchanged.

    The semi-join on the labelled keys runs in Spark, so the driver receives the training set only (small: the
    labelled numbers of the training weeks), not the feature marts (every number of every week). Rows come as
    Arrow, so each column keeps its type (an int stays an int, a date a date) and so does the fingerprint."""
    mem = into or duckdb.connect()  # `into`: a DuckDB file instead (its tables replaced)
    mem.execute("create schema if not exists marts")
    examples = spark.table(TRAINING_MART)
    labelled = examples.select(*KEYS).distinct()
    features = [f"marts.{t.name}" for t in spark.catalog.listTables("marts", TRAINING_TABLES_LIKE)]
    for relation in [TRAINING_MART, *sorted(features)]:
        with timed("spark.read_training_table", relation=relation) as facts:
            frame = examples if relation == TRAINING_MART else spark.table(relation).join(labelled, list(KEYS), "semi")
            arrow = frame.toArrow()  # DuckDB reads the local Arrow table by its name
            mem.execute(f"create or replace table {relation} as select * from arrow")
            facts["rows"] = arrow.num_rows
    return mem


# The lifecycle's warehouse mirror of the registry (ml/spam/store.py): what the monitoring marts read
MIRROR_TABLES = ("ml.spam_model_versions", "ml.spam_model_aliases", "ml.spam_gate_decisions")
GROUND_TRUTH = "raw.calls_ground_truth"
LIFECYCLE_CHECK_DB = "lifecycle_check"  # where spark-test's lifecycle on Spark writes its mirror


def _instants(frame: Any) -> Any:
    """DuckDB's TIMESTAMP has no time zone (UTC, the project's convention): Spark reads it back as TIMESTAMP_NTZ;
    the models' contracts say TIMESTAMP, the same instant in the UTC session."""
    return frame.select(
        *[
            frame[f.name].cast("timestamp").alias(f.name) if f.dataType.typeName() == "timestamp_ntz" else frame[f.name]
            for f in frame.schema.fields
        ]
    )


def lifecycle_on_spark(
    p: Paths, spark: Any, cfg: Any, retrain: bool = False, scratch: bool = False, mirror_db: str = "ml"
) -> tuple:
    """The spam lifecycle's training step (challenger, gate, registration, promotion: `run_lifecycle`) on Spark's
    marts; (the `Challenge`, the in-memory warehouse it ran on). `python -m ml spam train --engine spark`.

    The trainer reads Spark's training set (`training_warehouse`: cut in Spark, the labelled rows only) and the
    registry mirror Spark holds (`on_registry_mirror`); MLflow stays the registry. With `scratch` (a new registry
    in `p`, for a comparison), the mirror starts empty."""
    from ml.spam.lifecycle import run_lifecycle

    def step(mem: duckdb.DuckDBPyConnection) -> Any:
        with timed("spark.lifecycle", retrain=retrain) as facts:
            outcome = run_lifecycle(mem, p, cfg, retrain=retrain)
            facts.update(challenger=outcome.challenger, promoted=outcome.promoted)
        return outcome

    return on_registry_mirror(p, spark, step, scratch=scratch, mirror_db=mirror_db)


def on_registry_mirror(
    p: Paths, spark: Any, step: Any, scratch: bool = False, mirror_db: str = "ml", training: bool = True
) -> tuple:
    """Run a lifecycle step (`step(con)`: `run_lifecycle`, `challenge` or `promote` on a DuckDB connection) on
    Spark's data; (what the step returned, the in-memory warehouse it ran on).

    The step gets an in-memory DuckDB holding Spark's training set (with `training`; `training_warehouse`), the
    registry mirror Spark holds in `mirror_db` (empty with `scratch`) and the generator's true classes of the
    labelled numbers when Spark has them (the gate's evidence compares labels with them; informational). The
    mirror the step updated then replaces Spark's tables of it (small: one row per version, alias and decision),
    for the monitoring marts. As on DuckDB, MLflow and the mirror are two stores: a version registered whose
    mirror was never written (a failure in between) is removed and registered again by the next run."""
    from ml.spam import store

    mem = training_warehouse(spark) if training else duckdb.connect()
    store.ensure_tables(mem)
    for table in MIRROR_TABLES:
        held = f"{mirror_db}.{table.split('.')[1]}"
        if not scratch and spark.catalog.tableExists(held):
            arrow = spark.table(held).toArrow()  # noqa: F841 (DuckDB reads it by name)
            mem.execute(f"insert into {table} by name select * from arrow")
    if training and spark.catalog.tableExists(GROUND_TRUTH):
        numbers = spark.table(TRAINING_MART).selectExpr("number_id as id").distinct()
        truth = spark.table(GROUND_TRUTH).join(numbers, "id", "semi").toArrow()  # noqa: F841
        mem.execute(f"create schema if not exists raw; create table {GROUND_TRUTH} as select * from truth")
    result = step(mem)
    spark.sql(f"create database if not exists {mirror_db}")
    for table in MIRROR_TABLES:
        held = f"{mirror_db}.{table.split('.')[1]}"
        frame = _instants(spark.createDataFrame(mem.sql(f"select * from {table}").to_arrow_table()))
        # staged first: the table was read above, and Spark cannot overwrite a table a query reads
        frame.write.mode("overwrite").saveAsTable(f"{held}_staged")
        spark.table(f"{held}_staged").write.mode("overwrite").saveAsTable(held)
        spark.sql(f"drop table {held}_staged")
    return result, mem


def ensure_ml_tables(spark: Any) -> None:
    """Spark's `ml` tables (the registry mirror, the scores), created empty when missing, with the columns of
    DuckDB's (`ml/spam/store.py`): the dbt models that read them build before the first model is trained."""
    from ml.spam import store

    mem = duckdb.connect()
    store.ensure_tables(mem)
    spark.sql("create database if not exists ml")
    for table in MIRROR_TABLES:
        if not spark.catalog.tableExists(table):
            empty = mem.sql(f"select * from {table}").to_arrow_table()
            _instants(spark.createDataFrame(empty)).write.saveAsTable(table)
    _scores_table(spark)


def weeks_due_on_spark(p: Paths, spark: Any) -> list:
    """The weeks the champion must score, by DuckDB's rule (`scoring.score`): every week of its feature mart it has
    not scored, and always the latest; a week other than the latest whose rows all lack a feature the champion
    uses (not delivered that week) is skipped. Empty without a champion."""
    from pyspark.sql import functions as F

    from ml.spam.evaluate import load_champion
    from ml.spam.registry import Registry

    champ = load_champion(Registry(p), spark_feature_sets(spark))
    if champ is None:
        return []
    observed = F.expr(" and ".join(champ.fs.flags)) if champ.fs.flags else F.lit(True)
    weeks = (
        spark.table(champ.fs.relation)
        .groupBy("week_start")
        .agg(F.max(F.when(observed, 1).otherwise(0)).alias("any_observed"))
        .orderBy("week_start")
        .collect()
    )
    if not weeks:
        return []
    _scores_table(spark)
    done = {
        r[0]
        for r in spark.table(SCORES_RELATION)
        .where(F.col("model_version") == champ.version)
        .select("week_start")
        .distinct()
        .collect()
    }
    latest = weeks[-1][0]
    due = [w for w, observed_any in weeks if w == latest or (w not in done and observed_any)]
    skipped = [str(w) for w, observed_any in weeks if w != latest and w not in done and not observed_any]
    if skipped:
        log_event("spark.score_skipped_weeks", weeks=skipped, reason="feature not delivered that week")
    return due


def export_to_duckdb(p: Paths, spark: Any, relations: list[str], database: Path) -> dict[str, int]:
    """Copy Spark tables into a DuckDB file under the same names, through Parquet (Spark writes its partitions in
    parallel, DuckDB streams them in: the driver holds no rows); their row counts. A relation Spark does not have
    is left out (and logged). Timestamps come back as DuckDB's TIMESTAMP in UTC, as the DuckDB engine has them."""
    out = spark_dir(p) / "to_duckdb"  # the published relations and those the alerts read
    counts: dict[str, int] = {}
    with duckdb.connect(str(database)) as con:
        con.execute("set TimeZone = 'UTC'")
        for relation in relations:
            if not spark.catalog.tableExists(relation):
                log_event("spark.export_missing", relation=relation)
                continue
            schema, name = relation.split(".")
            with timed("spark.export_table", relation=relation) as facts:
                folder = out / schema / name
                spark.table(relation).write.mode("overwrite").parquet(str(folder))
                con.execute(f"create schema if not exists {schema}")
                cols = con.execute(f"describe select * from read_parquet('{folder}/*.parquet')").fetchall()
                select = ", ".join(
                    f'cast("{c}" as timestamp) as "{c}"' if t.startswith("TIMESTAMP") else f'"{c}"' for c, t, *_ in cols
                )
                con.execute(
                    f"create or replace table {relation} as select {select} from read_parquet('{folder}/*.parquet')"
                )
                counts[relation] = facts["rows"] = con.execute(f"select count(*) from {relation}").fetchone()[0]
    return counts


@dataclass
class LifecycleParity:
    """The lifecycle run on Spark's marts from an empty registry against what it registered and decided on
    DuckDB's: the same versions (feature version, family, threshold, data windows, rows, test metrics within
    PARITY_TOLERANCE), the same gate decisions (promoted, reason) and the same aliases. Fingerprints, run ids and
    times differ by nature (the fingerprint hashes the exact bits of `ln`, which differ in the last one)."""

    versions: tuple[int, int]
    decisions: tuple[int, int]
    differ: dict[str, int] = field(default_factory=dict)
    max_rel_diff: dict[str, float] = field(default_factory=dict)

    @property
    def spark_rows(self) -> int:
        return self.versions[1]

    @property
    def ok(self) -> bool:
        return (
            self.versions[0] == self.versions[1] > 0
            and self.decisions[0] == self.decisions[1]
            and not any(self.differ.values())
            and all(d <= PARITY_TOLERANCE for d in self.max_rel_diff.values())
        )

    def format(self) -> str:
        worst = max(self.max_rel_diff.items(), key=lambda kv: kv[1], default=("-", 0.0))
        lines = [
            f"parity of the spam lifecycle (trained, judged and promoted on each engine's marts): "
            f"{'OK' if self.ok else 'DIFFERENT'}",
            f"  model versions: DuckDB {self.versions[0]}, Spark {self.versions[1]}; gate decisions: DuckDB "
            f"{self.decisions[0]}, Spark {self.decisions[1]}",
            f"  values that differ: {sum(self.differ.values())}; largest relative difference of the test metrics "
            f"and thresholds {worst[1]:.1e} ({worst[0]})",
        ]
        lines += [f"  {c}: {n} differ" for c, n in self.differ.items() if n]
        return "\n".join(lines)


# compared exactly; the floats within PARITY_TOLERANCE; the rest (fingerprint, run id, times, code) not
LIFECYCLE_EXACT = {
    "ml.spam_model_versions": (
        "feature_version",
        "model_family",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "train_rows",
        "test_rows",
        "fpr_target",
    ),
    "ml.spam_gate_decisions": ("champion_version", "promoted", "reason"),
    "ml.spam_model_aliases": ("model_version",),
}
LIFECYCLE_KEYS = {
    "ml.spam_model_versions": "model_version",
    "ml.spam_gate_decisions": "challenger_version",
    "ml.spam_model_aliases": "alias",
}
LIFECYCLE_FLOATS = ("threshold", "test_pr_auc", "test_roc_auc", "test_precision", "test_recall")


def compare_lifecycle(warehouse: Path, spark_mirror: duckdb.DuckDBPyConnection) -> LifecycleParity:
    """DuckDB's registry mirror (the warehouse's ml tables, attached read-only as `duck`) against the one the
    lifecycle wrote on Spark's marts (`spark_mirror`, an in-memory DuckDB), table by table on each one's key."""
    con = spark_mirror
    con.execute(f"attach '{warehouse}' as duck (read_only)")
    try:
        differ = {}
        for table, columns in LIFECYCLE_EXACT.items():
            key = LIFECYCLE_KEYS[table]
            joined = f"from duck.{table} as d full join memory.{table} as s on d.{key} = s.{key}"
            differ[f"{table}: rows on one side"] = con.execute(
                f"select count(*) {joined} where d.{key} is null or s.{key} is null"
            ).fetchone()[0]
            for c in columns:
                differ[f"{table}.{c}"] = con.execute(
                    f"select count(*) {joined} where d.{c} is distinct from s.{c}"
                ).fetchone()[0]
        versions = "from duck.ml.spam_model_versions as d join memory.ml.spam_model_versions as s using (model_version)"
        rel = {c: _max_rel_diff(con, versions, c) for c in LIFECYCLE_FLOATS}

        def count(db: str, table: str) -> int:
            return con.execute(f"select count(*) from {db}.{table}").fetchone()[0]

        return LifecycleParity(
            versions=(count("duck", "ml.spam_model_versions"), count("memory", "ml.spam_model_versions")),
            decisions=(count("duck", "ml.spam_gate_decisions"), count("memory", "ml.spam_gate_decisions")),
            differ=differ,
            max_rel_diff=rel,
        )
    finally:
        con.execute("detach duck")


def lifecycle_parity(p: Paths, spark: Any, n_boot: int) -> LifecycleParity:
    """The lifecycle as the DuckDB side ran it (`spam train` once, from no registry: the first model bootstrapped
    champion, then the latest feature version challenged), run again on Spark's marts into a scratch MLflow
    registry under $SENTINEL_HOME/spark/lifecycle, its mirror written to Spark's database `lifecycle_check`, read
    back and compared. The state's own registry and Spark's ml tables are not touched."""
    from ml.spam.train import LifecycleConfig

    scratch = spark_dir(p) / "lifecycle"
    shutil.rmtree(scratch, ignore_errors=True)
    spark.sql(f"drop database if exists {LIFECYCLE_CHECK_DB} cascade")
    cfg = LifecycleConfig(n_boot=n_boot)
    lifecycle_on_spark(Paths(scratch), spark, cfg, scratch=True, mirror_db=LIFECYCLE_CHECK_DB)
    mirror = duckdb.connect()  # the mirror as Spark holds it, read back: what its monitoring marts would read
    mirror.execute("create schema ml")
    for table in MIRROR_TABLES:
        arrow = spark.table(f"{LIFECYCLE_CHECK_DB}.{table.split('.')[1]}").toArrow()  # noqa: F841
        mirror.execute(f"create table {table} as select * from arrow")
    parity = compare_lifecycle(p.warehouse, mirror)
    log_event("spark.lifecycle_parity", ok=parity.ok, versions=parity.versions, decisions=parity.decisions)
    return parity


@dataclass
class TrainingParity:
    """One feature version's training set as the trainer reads it from DuckDB and from Spark, and a candidate
    fitted on each. The rows must be the same, in the same order: keys, labels and text exactly, numbers within
    PARITY_TOLERANCE (a logarithm can differ in its last bit between the engines' math libraries, which also
    makes the two fingerprints differ); the candidates must agree on their family, threshold and held-out
    PR-AUC within the same tolerance."""

    feature_version: int
    duckdb_rows: int
    spark_rows: int
    duckdb_fingerprint: str
    spark_fingerprint: str
    values_differ: dict[str, int] = field(default_factory=dict)  # keys, labels, text, types: exact
    max_rel_diff: dict[str, float] = field(default_factory=dict)  # numeric features
    duckdb_fit: dict | None = None  # family, threshold, held-out PR-AUC per family (None: not fitted)
    spark_fit: dict | None = None

    @property
    def relation(self) -> str:
        return f"training rows of feature version {self.feature_version}"

    @property
    def fits_agree(self) -> bool:
        a, b = self.duckdb_fit, self.spark_fit
        if a is None or b is None:
            return a is b
        return (
            a["family"] == b["family"]
            and a["pr_auc"].keys() == b["pr_auc"].keys()
            and all(
                _close(x, y)
                for x, y in [(a["threshold"], b["threshold"])] + [(a["pr_auc"][f], b["pr_auc"][f]) for f in a["pr_auc"]]
            )
        )

    @property
    def ok(self) -> bool:
        return (
            self.duckdb_rows == self.spark_rows
            and not any(self.values_differ.values())
            and all(d <= PARITY_TOLERANCE for d in self.max_rel_diff.values())
            and self.fits_agree
        )

    def format(self) -> str:
        worst = max(self.max_rel_diff.items(), key=lambda kv: kv[1], default=("-", 0.0))
        same_print = self.duckdb_fingerprint == self.spark_fingerprint
        lines = [
            f"parity of the {self.relation} (the trainer reading each engine's marts): "
            f"{'OK' if self.ok else 'DIFFERENT'}",
            f"  rows: DuckDB {self.duckdb_rows:,}, Spark {self.spark_rows:,}; keys, labels and text that differ "
            f"{sum(self.values_differ.values())}; numeric features {len(self.max_rel_diff)}, largest relative "
            f"difference {worst[1]:.1e} ({worst[0]})",
            f"  fingerprint: {'the same' if same_print else 'differs'} (DuckDB {self.duckdb_fingerprint}, "
            f"Spark {self.spark_fingerprint})",
        ]
        lines += [f"  {c}: {n} values differ" for c, n in self.values_differ.items() if n]
        for side, fit in (("DuckDB", self.duckdb_fit), ("Spark", self.spark_fit)):
            if fit is not None:
                aucs = ", ".join(f"{f} {a:.6f}" for f, a in fit["pr_auc"].items())
                lines.append(
                    f"  fitted on {side}'s rows: {fit['family']}, threshold {fit['threshold']:.6f}, "
                    f"held-out PR-AUC {aucs}"
                )
        return "\n".join(lines)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= PARITY_TOLERANCE * max(abs(a), abs(b), 1e-300)


def _frame_differences(a: Any, b: Any) -> tuple[dict[str, int], dict[str, float]]:
    """Two training sets row by row (the trainer's order): per column, values that differ (exact: keys, labels,
    text, and any column whose type differs) or, for a float column, the largest relative difference by the
    relation parity's own rule (`_max_rel_diff`)."""
    if len(a) != len(b) or list(a.columns) != list(b.columns):
        return {"(shape)": 1}, {}
    exact: dict[str, int] = {}
    rel: dict[str, float] = {}
    with duckdb.connect() as con:
        for side, frame in (("d", a), ("s", b)):
            rows = frame.assign(_row=range(len(frame)))  # noqa: F841 (DuckDB reads the local frame by its name)
            con.execute(f"create table {side} as select * from rows")
        types = {
            side: dict(con.execute(f"select column_name, column_type from (describe {side})").fetchall())
            for side in "ds"
        }
        joined = "from d inner join s on d._row = s._row"

        def count(where: str) -> int:
            return con.execute(f"select count(*) {joined} where {where}").fetchone()[0]

        for c in a.columns:
            if types["d"][c] != types["s"][c]:
                exact[c] = len(a)
            elif types["d"][c] in ("DOUBLE", "FLOAT"):
                exact[c] = count(f"(d.{c} is null) != (s.{c} is null)")
                rel[c] = _max_rel_diff(con, joined, c)
            else:
                exact[c] = count(f"d.{c} is distinct from s.{c}")
    return exact, rel


def _fit_summary(rows: Any, cfg: Any) -> dict:
    from ml.spam.train import train_candidate

    cand = train_candidate(rows, cfg)
    return {
        "family": cand.family,
        "threshold": cand.threshold,
        "pr_auc": {f: v["pr_auc"] for f, v in cand.validation.items()},
    }


def compare_training(
    duck: duckdb.DuckDBPyConnection, spark_rows: duckdb.DuckDBPyConnection, fit: bool = True
) -> list[TrainingParity]:
    """For every feature version: the trainer's training rows (`training_rows`, the missing-feature rule applied)
    from DuckDB's warehouse and from Spark's (`training_warehouse`), and, with `fit`, a candidate fitted on each
    (every family, the project's seed). A version only one engine has is a difference (no rows on the other)."""
    from ml.spam.features import feature_sets
    from ml.spam.train import LifecycleConfig, training_rows

    cfg = LifecycleConfig()
    ours, theirs = feature_sets(duck), feature_sets(spark_rows)
    out: list[TrainingParity] = []
    for version in sorted(ours.keys() ^ theirs.keys()):  # a version one engine lacks: no rows there
        rows = training_rows(duck, ours[version], cfg) if version in ours else None
        other = training_rows(spark_rows, theirs[version], cfg) if version in theirs else None
        out.append(
            TrainingParity(
                version,
                len(rows.df) if rows else 0,
                len(other.df) if other else 0,
                rows.fingerprint if rows else "(no such version)",
                other.fingerprint if other else "(no such version)",
            )
        )
        log_event("spark.training_parity", **out[-1].__dict__)
    for version in sorted(ours.keys() & theirs.keys()):
        with timed("spark.training_parity", feature_version=version) as facts:
            d, s = training_rows(duck, ours[version], cfg), training_rows(spark_rows, theirs[version], cfg)
            parity = TrainingParity(
                version, len(d.df), len(s.df), d.fingerprint, s.fingerprint, *_frame_differences(d.df, s.df)
            )
            if fit:
                parity.duckdb_fit, parity.spark_fit = _fit_summary(d, cfg), _fit_summary(s, cfg)
            facts.update(rows=parity.spark_rows, ok=parity.ok)
        log_event("spark.training_parity", **parity.__dict__)
        out.append(parity)
    return sorted(out, key=lambda parity: parity.feature_version)


@dataclass
class Parity:
    relation: str
    duckdb_rows: int
    spark_rows: int
    only_duckdb: int
    only_spark: int
    verdicts_differ: int = 0
    anomalies: tuple[int, int] | None = None  # DuckDB, Spark: the rows `flag` marks (a relation with a verdict)
    flag: str = "is_anomaly"
    text_differ: dict[str, int] = field(default_factory=dict)
    max_rel_diff: dict[str, float] = field(default_factory=dict)
    null_differ: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.only_duckdb == self.only_spark == self.verdicts_differ == 0
            and not any(self.text_differ.values())
            and not any(self.null_differ.values())
            and all(d <= PARITY_TOLERANCE for d in self.max_rel_diff.values())
        )

    def format(self) -> str:
        worst = max(self.max_rel_diff.items(), key=lambda kv: kv[1], default=("-", 0.0))
        lines = [
            f"parity of {self.relation}: {'OK' if self.ok else 'DIFFERENT'}",
            f"  rows: DuckDB {self.duckdb_rows:,}, Spark {self.spark_rows:,}; only in DuckDB {self.only_duckdb}, "
            f"only in Spark {self.only_spark}",
        ]
        if self.anomalies is not None:
            lines.append(
                f"  {self.flag}: DuckDB {self.anomalies[0]:,}, Spark {self.anomalies[1]:,}; verdicts that differ "
                f"{self.verdicts_differ}"
            )
        lines += [
            f"  numeric columns: {len(self.max_rel_diff)}, largest relative difference {worst[1]:.1e} ({worst[0]}), "
            f"tolerance {PARITY_TOLERANCE:.0e}",
            f"  text columns: {len(self.text_differ)}, values that differ {sum(self.text_differ.values())}",
        ]
        lines += [f"  {c}: null on one side only in {n} rows" for c, n in self.null_differ.items() if n]
        lines += [f"  {c}: {n} text values differ" for c, n in self.text_differ.items() if n]
        lines += [f"  {c}: relative difference {d:.1e}" for c, d in self.max_rel_diff.items() if d > PARITY_TOLERANCE]
        return "\n".join(lines)


def compare(
    p: Paths,
    spark_parquet: Path,
    relation: str = PARITY_RELATION,
    key: tuple[str, ...] = PARITY_KEY,
    verdict: str | None = "direction",
    flag: str = "is_anomaly",
    where: str = "true",
    ignore: tuple[str, ...] = (),
) -> Parity:
    """Spark's copy of `relation` (Parquet, as Spark wrote it) against DuckDB's rows of it that match `where`,
    joined on `key`; with a `verdict` column, the verdicts that differ and the rows `flag` marks on each side.
    The `ignore` columns are not compared (a clock)."""
    on = " and ".join(f"d.{k} = s.{k}" for k in key)
    with duckdb.connect(str(p.warehouse), read_only=True) as con:
        # Spark writes its timestamps as instants (read here WITH TIME ZONE): text of both sides in UTC
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"create temp view s as select * from read_parquet('{spark_parquet}/**/*.parquet')")
        con.execute(f"create temp view duck as select * from {relation} where {where}")
        schema, name = relation.split(".")
        cols = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where database_name = current_database() and schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchall()
        cols = [(c, t) for c, t in cols if c not in ignore]

        def one(sql: str) -> Any:
            return con.execute(sql).fetchone()[0]

        numeric = [c for c, t in cols if c not in key and t.split("(")[0] in ("DOUBLE", "FLOAT", "DECIMAL")]
        text = [c for c, t in cols if c not in key and c not in numeric]
        joined = "from duck as d inner join s on " + on
        return Parity(
            relation=relation,
            duckdb_rows=one("select count(*) from duck"),
            spark_rows=one("select count(*) from s"),
            only_duckdb=one(f"select count(*) from duck as d where not exists (select 1 from s where {on})"),
            only_spark=one(f"select count(*) from s where not exists (select 1 from duck as d where {on})"),
            verdicts_differ=one(f"select count(*) {joined} where d.{verdict} is distinct from s.{verdict}")
            if verdict
            else 0,
            anomalies=(one(f"select count(*) from duck where {flag}"), one(f"select count(*) from s where {flag}"))
            if verdict
            else None,
            flag=flag,
            text_differ={
                c: one(f"select count(*) {joined} where {_as_text('d', c, t)} is distinct from {_as_text('s', c, t)}")
                for c, t in cols
                if c in text
            },
            null_differ={c: one(f"select count(*) {joined} where (d.{c} is null) != (s.{c} is null)") for c in numeric},
            max_rel_diff={c: _max_rel_diff(con, joined, c) for c in numeric},
        )


def _as_text(side: str, column: str, duckdb_type: str) -> str:
    """A column as text for the comparison; a timestamp as DuckDB's TIMESTAMP first (Spark's side is an instant)."""
    if duckdb_type.startswith("TIMESTAMP"):
        return f"cast(cast({side}.{column} as timestamp) as varchar)"
    return f"cast({side}.{column} as varchar)"


def _max_rel_diff(con: duckdb.DuckDBPyConnection, joined: str, c: str) -> float:
    """The largest |DuckDB - Spark| relative to the larger of the two values, floored at 1e-6 of the column's
    largest magnitude: a deviation of 6e-14 against 1e-13 (both zero to the float precision of their operands) is
    not a 57 % difference."""
    scale = float(con.execute(f"select max(greatest(abs(d.{c}), abs(s.{c}))) {joined}").fetchone()[0] or 0.0)
    rel = con.execute(
        f"select max(abs(d.{c} - s.{c}) / greatest(abs(d.{c}), abs(s.{c}), ?)) {joined}", [max(scale * 1e-6, 1e-300)]
    ).fetchone()[0]
    return float(rel or 0.0)


def downstream_models(listed: list[dict], unique_id: str) -> list[str]:
    """The names of the listed models that read `unique_id`, directly or through other listed models (from
    `list_selection`'s depends_on), in listing order."""
    found = {unique_id}
    grew = True
    while grew:
        grew = False
        for n in listed:
            reads = set(n.get("depends_on", {}).get("nodes", []))
            if n["resource_type"] == "model" and n["unique_id"] not in found and found & reads:
                found.add(n["unique_id"])
                grew = True
    return [n["name"] for n in listed if n["resource_type"] == "model" and n["unique_id"] in found]


def spark_test(
    p: Paths, selection: str = SPARK_SELECTION, n_boot: int = DEFAULT_N_BOOT
) -> list[Parity | TrainingParity | LifecycleParity]:
    """Ingest the landing files into Spark, copy the other sources, build the selection on Spark (seeds, models,
    tests) in the lifecycle's order: every model but those that read the scores; the champion's scoring on Spark;
    then the models that read the scores, from Spark's own. Compare each raw table Spark ingested and each PARITY
    relation the selection built, and the scores, with DuckDB's, and the trainer's training sets and candidates
    read from each engine."""
    if not p.warehouse.is_file():
        raise FileNotFoundError(f"no DuckDB warehouse in {p.home}: build it first (python -m ml build)")
    with timed("spark.test", selection=selection) as facts:
        spark = session(p)
        listed = list_selection(p, selection)
        sources = selection_sources(p, listed)
        for table in RAW_TABLES:  # every run from scratch: a test
            spark.sql(f"drop table if exists {table}")
        log_event("spark.ingested", summary=ingest_landing_spark(p, spark, replayed_load_ids(p.warehouse)).summary())
        native = set(RAW_TABLES)  # what Spark loaded itself, compared with DuckDB's like a mart
        if set(BENCHMARK_TABLES) & set(sources):  # the evaluation reads the real benchmarks: Spark reads them too
            load_benchmarks_spark(spark)
            native |= set(BENCHMARK_TABLES)
        tables = [t for t in sources if not t.startswith(f"{OWN_HISTORY_SCHEMA}.") and t not in native]
        facts["source_rows"] = sum(copy_tables(p, spark, tables).values())
        built = {f"{n['config']['schema']}.{n['alias']}" for n in listed if n["resource_type"] == "model"}
        readers = downstream_models(listed, SCORES_READER)
        # every run from scratch: a test
        spark_dbt(p, "build", "--full-refresh", select=(selection,), exclude=tuple(readers))
        week = duckdb_scored_week(p) if any(r.startswith("marts.fct_spam_features_v") for r in built) else None
        scored = score_on_spark(p, spark, week) if week else None
        if readers:
            spark_dbt(p, "build", "--full-refresh", select=tuple(readers))
        results = []
        for relation, (key, verdict) in PARITY.items():
            if relation not in built and relation not in native:
                continue
            out = spark_dir(p) / "out" / relation
            spark.table(relation).write.mode("overwrite").parquet(str(out))
            flag = PARITY_FLAG.get(relation, "is_anomaly")
            results.append(compare(p, out, relation, key, verdict, flag, ignore=PARITY_IGNORE.get(relation, ())))
            log_event("spark.parity", **results[-1].__dict__)
        if TRAINING_MART in built:  # the trainer on Spark's examples: the same rows, the same candidate
            with duckdb.connect(str(p.warehouse), read_only=True) as duck:
                results.extend(compare_training(duck, training_warehouse(spark)))
            # the whole training step on Spark's marts, into a scratch registry: what DuckDB's decided
            results.append(lifecycle_parity(p, spark, n_boot))
        if scored:  # every week: the one Spark scored, and the others its partition overwrite must leave alone
            out = spark_dir(p) / "out" / SCORES_RELATION
            spark.table(SCORES_RELATION).write.mode("overwrite").parquet(str(out))
            results.append(
                compare(p, out, SCORES_RELATION, SCORES_KEY, "is_flagged", "is_flagged", ignore=("scored_at",))
            )
            log_event("spark.parity", **results[-1].__dict__)
        facts.update(relations=len(results), rows=sum(r.spark_rows for r in results), ok=all(r.ok for r in results))
    return results


# A Dagster run on the Spark engine (SENTINEL_ENGINE=spark) in a state of its own, on the same landing files: its
# ingestion draws its own load ids and times, so the relations keyed by a load are compared on the file instead.
ACROSS_RUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # relation: (key, load columns aside)
    "marts.fct_api_request_load_reconciliation": (
        ("file_name", "load_status"),
        ("load_id", "duplicate_of_load_id", "loaded_at"),
    ),
    "marts.fct_calls_load_reconciliation": (
        ("source_name", "file_name", "load_status"),
        ("load_id", "duplicate_of_load_id", "loaded_at"),
    ),
    "marts.fct_api_requests_quarantined": (("file_name", "line_number"), ("load_id", "loaded_at")),
    "marts.fct_calls_quarantined": (("source_name", "file_name", "line_number"), ("load_id", "loaded_at")),
}


def compare_published(p: Paths, snapshot: Path) -> list[Parity]:
    """The published snapshot of a Dagster run on the Spark engine (`snapshot`) against this state's DuckDB
    warehouse: each PARITY relation it holds, on its key, as spark-test compares Spark's own tables (`compare`);
    a relation keyed by loads on its file instead (ACROSS_RUNS). What readers (API, BI, report) get from a Spark
    run must be what they get from DuckDB. `python -m ml spark-test --published-from HOME`."""
    out = spark_dir(p) / "published_parity"
    results = []
    with duckdb.connect(str(snapshot), read_only=True) as snap:
        held = {f"{s}.{t}" for s, t in snap.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
        for relation, (key, verdict) in PARITY.items():
            if relation not in held:
                continue
            key, ignore = ACROSS_RUNS.get(relation, (key, ()))
            ignore = (*ignore, *PARITY_IGNORE.get(relation, ()))
            folder = out / relation
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            snap.execute(f"copy {relation} to '{folder}/part.parquet' (format parquet)")
            flag = PARITY_FLAG.get(relation, "is_anomaly")
            results.append(compare(p, folder, relation, key, verdict, flag, ignore=ignore))
            log_event("spark.published_parity", **results[-1].__dict__)
    return results
