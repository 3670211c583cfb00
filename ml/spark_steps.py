"""Dagster's steps on the Spark engine (SENTINEL_ENGINE=spark, docs/scaling.md), each in a child process of its own.

Every function here takes the state directory `home` first, opens the local Spark session of profiles.yml's
`spark` output (`ml.spark.session`), does one step and returns plain values. `in_child` runs it in a fresh
Python process: the session, its JVM and the Hive metastore it opens (Derby, one process at a time) end with the
step, so the `dbt build --target spark` of the next step can open them. Dagster's step process never starts a
JVM, whether it runs steps in processes of their own (the daemon, `make ui`) or all in one (`make run`).
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ml.logs import timed
from ml.settings import Paths


class SparkStepError(RuntimeError):
    """A Spark step failed with an error that could not travel back from its process as itself (a JVM error)."""


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    """In the child: run the step; an exception that does not pickle comes back as a SparkStepError with its text."""
    try:
        return fn(*args)
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            raise SparkStepError(f"{type(exc).__name__}: {exc}") from None
        raise


def in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a fresh Python process (spawned: no state of this one is inherited); its result, or its
    exception raised here. The environment (SENTINEL_*, JAVA_HOME, PATH) is the parent's."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_call, fn, args).result()


def _session(home: str) -> tuple[Paths, Any]:
    from ml.spark import session

    p = Paths(Path(home)).ensure()
    return p, session(p)


def ingest(home: str) -> tuple[Any, int, int]:
    """The landing files into Spark's raw tables (`ingest_landing_spark`), then Spark's ml tables created when
    missing; (the `Ingested`, rows of raw.loads, rows of raw.load_columns)."""
    from ml.spark import ensure_ml_tables
    from ml.spark_ingest import ingest_landing_spark

    p, spark = _session(home)
    got = ingest_landing_spark(p, spark)
    ensure_ml_tables(spark)  # the ml tables the dbt models read exist before the first model is trained
    return got, spark.table("raw.loads").count(), spark.table("raw.load_columns").count()


def benchmarks(home: str) -> tuple[dict[str, int], int, int]:
    """The real labelled benchmarks into Spark (`load_benchmarks_spark`); (counts, points, windows)."""
    from ml.spark_ingest import load_benchmarks_spark

    _, spark = _session(home)
    counts = load_benchmarks_spark(spark)
    return counts, spark.table("raw.benchmark_points").count(), spark.table("raw.benchmark_windows").count()


def row_counts(home: str, relations: list[str]) -> dict[str, int]:
    """Rows of each Spark table (`schema.table`)."""
    _, spark = _session(home)
    with timed("spark.row_counts", relations=len(relations)):
        return {r: spark.table(r).count() for r in relations}


def query(home: str, sql: str) -> list[tuple]:
    """The rows of a Spark SQL query (a small result: it is collected)."""
    _, spark = _session(home)
    return [tuple(r) for r in spark.sql(sql).collect()]


def challenge(home: str, cfg: Any, retrain: bool) -> Any:
    """The lifecycle's `challenge` (train, evaluate, register) on Spark's marts and registry mirror."""
    from ml.spam.lifecycle import challenge as run
    from ml.spark import on_registry_mirror

    p, spark = _session(home)
    outcome, _ = on_registry_mirror(p, spark, lambda con: run(con, p, cfg, retrain=retrain))
    return outcome


def promote(home: str, outcome: Any) -> int | None:
    """The lifecycle's `promote` with Spark's registry mirror; the champion after it."""
    from ml.spam.lifecycle import promote as run
    from ml.spark import on_registry_mirror

    p, spark = _session(home)
    champion, _ = on_registry_mirror(p, spark, lambda con: run(con, p, outcome), training=False)
    return champion


def score(home: str) -> dict | None:
    """The champion scores every week due (`weeks_due_on_spark`) on Spark; None without a champion, else rows
    scored, the latest week, its flagged numbers and the model version."""
    from pyspark.sql import functions as F

    from ml.spark import SCORES_RELATION, score_on_spark, weeks_due_on_spark

    p, spark = _session(home)
    rows, scored = 0, None
    for week in weeks_due_on_spark(p, spark):
        scored = score_on_spark(p, spark, week)
        rows += scored[2] if scored else 0
    if scored is None:
        return None
    version, week, _ = scored
    flagged = (
        spark.table(SCORES_RELATION)
        .where((F.col("week_start") == F.lit(week)) & (F.col("model_version") == version) & F.col("is_flagged"))
        .count()
    )
    return {"rows_scored": rows, "latest_week": str(week), "flagged_latest_week": flagged, "model": version}


def export(home: str, relations: list[str]) -> dict[str, int]:
    """Spark's `relations` into the state's DuckDB file (`export_to_duckdb`), which the publish step, the alerts
    and the data-health report read on either engine; their row counts."""
    from ml.spark import export_to_duckdb

    p, spark = _session(home)
    return export_to_duckdb(p, spark, relations, p.warehouse)


def training_set(home: str) -> str:
    """Spark's training set (the training mart and each feature mart cut to its labelled rows:
    `training_warehouse`) into a DuckDB file of the state, for the report's comparison of the spam models; its path."""
    import duckdb

    from ml.spark import spark_dir, training_warehouse

    p, spark = _session(home)
    path = spark_dir(p) / "training_set.duckdb"
    with duckdb.connect(str(path)) as con:
        training_warehouse(spark, into=con)
    return str(path)
