"""Landing files into Spark's raw tables (issue 16): the same feeds, rows, load ids, files and lines as
`ml/ingest.py` writes into DuckDB, read by Spark itself.

The rules are `ml/ingest.py`'s, and most of its code is shared: the file names that say the week, the header
contract and schema evolution (a new calls column is added to `raw.calls_weekly` as text, older rows keep null),
re-deliveries recorded and skipped (`plan_batch`), every value kept as the text delivered (an empty field is the
empty text), and every row's file, physical line number and load id. What differs is who reads the rows:

* Spark reads each file as lines (`spark.read.text`): the partitions of one file are its byte ranges, so a
  weekly file of gigabytes is read in parallel. A row's physical line number is its rank in the file, counted
  from the rows of each byte range (their number and first row id) without a shuffle; blank lines are counted
  and skipped, as DuckDB's reader does.
* Each line is split by Spark's CSV parser (`from_csv`, the header's columns as text, `"` quotes and escapes).
  A line with more or fewer fields than the header is an `IngestError` naming the file and the line.
* The Python side reads what is per file, not per row: the header, the name, the SHA-256 of the bytes (the
  re-delivery check), and whether the bytes are UTF-8 (Spark's reader would silently replace a bad byte).

All or nothing: every file of a batch is read and checked into a staging table before the raw tables are touched;
then the rows, the headers (`raw.load_columns`) and the loads (`raw.loads`) are appended, in that order. Spark's
Parquet tables have no transactions: a crash between those appends leaves rows whose load is not in `raw.loads`
(the load reconciliation mart shows them). A cluster that needs atomic appends uses a table format that has them
(Delta Lake, Iceberg); the functions here do not change.

`replayed_load_ids(warehouse)` gives each file the load id and time DuckDB's ingestion gave it, so `make
spark-test` compares the two engines' raw tables and marts row by row, load ids included.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb

from ml.ingest import (
    API_LOGS,
    CALLS,
    LABELS,
    LOADS_FOR_RETRACTION,
    RETRACTION_ACTIONS,
    Ingested,
    IngestError,
    LoadIds,
    LoadResult,
    Retraction,
    Source,
    check_header,
    check_landing,
    feeds,
    format_loads,
    landing_files,
    new_load_id,
    plan_batch,
    plan_retraction,
    read_header,
    utf8_error,
    week_of,
)
from ml.logs import log_event, timed
from ml.settings import Paths

LOADS_SCHEMA = (
    "load_id string, source string, file_name string, file_sha256 string, file_rows bigint, rows_appended bigint, "
    "status string, duplicate_of_load_id string, loaded_at timestamp"
)
LOAD_COLUMNS_SCHEMA = "load_id string, column_name string, ordinal int"
RETRACTIONS_SCHEMA = "load_id string, action string, reason string, recorded_at timestamp"
GROUND_TRUTH_SCHEMA = (
    "incident_id string, incident_type string, country string, os string, start_date date, end_date date, "
    "factor double, period string, description string, level string, series_key string"
)
CALLS_GROUND_TRUTH_SCHEMA = "id string, country string, true_class string, archetype string"
# What this module writes: every feed's table, the loads and their headers, the generator's ground truth (and
# raw.load_retractions, written by `retract_load_spark`: spark-test copies DuckDB's, as it does the other sources)
RAW_TABLES = (
    API_LOGS.table,
    CALLS.table,
    LABELS.table,
    "raw.loads",
    "raw.load_columns",
    "raw.api_ground_truth_incidents",
    "raw.calls_ground_truth",
)
CORRUPT = "_corrupt_record"  # from_csv's column for a line whose field count is not the header's


def _feed_schema(source: Source) -> str:
    """The raw table's columns before any schema evolution, in DuckDB's order (`Source.ddl`)."""
    week = ", _week_start date" if source.weekly else ""
    columns = ", ".join(f"{c} string" for c in source.required)
    return f"{columns}{week}, _load_id string, _file_name string, _line_number bigint, _loaded_at timestamp"


def _ensure_bookkeeping(spark: Any) -> None:
    spark.sql("create database if not exists raw")
    for table, schema in (
        ("raw.loads", LOADS_SCHEMA),
        ("raw.load_columns", LOAD_COLUMNS_SCHEMA),
        ("raw.load_retractions", RETRACTIONS_SCHEMA),
    ):
        spark.sql(f"create table if not exists {table} ({schema}) using parquet")


def _ensure_tables(spark: Any, source: Source) -> None:
    _ensure_bookkeeping(spark)
    spark.sql(f"create table if not exists {source.table} ({_feed_schema(source)}) using parquet")


def _ts(value: datetime) -> str:
    """A naive UTC time as text Spark casts in its UTC session (a Python datetime would be read as local time)."""
    return value.isoformat(sep=" ")


def _stage(spark: Any, source: Source, deliveries: list, headers: dict[str, list[str]], staged: str) -> None:
    """Read the files to load as lines, number them, split them by their header and write the rows (with their
    file, line and whether they split cleanly) to the staging table `staged`."""
    from pyspark.sql import functions as F

    by_header: dict[tuple[str, ...], list[Path]] = defaultdict(list)
    for d in deliveries:
        by_header[tuple(headers[d.path.name])].append(d.path)
    frames = []
    for header, paths in by_header.items():
        lines = spark.read.text([str(path) for path in paths]).select(
            F.col("value").alias("_text"),
            F.col("_metadata.file_path").alias("_path"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_row_id"),
        )
        schema = ", ".join(f"`{c}` string" for c in (*header, CORRUPT))
        options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "quote": '"', "escape": '"'}
        parsed = F.from_csv(F.col("_text"), schema, options).alias("_row")
        # an empty field is the empty text it was (from_csv reads it as null); a column the file lacks stays null
        frames.append(
            lines.select("*", parsed).select(
                "_text",
                "_path",
                "_block",
                "_row_id",
                F.col(f"_row.{CORRUPT}").isNotNull().alias("_ragged"),
                *[F.coalesce(F.col(f"_row.`{c}`"), F.lit("")).alias(c) for c in header],
            )
        )
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame, allowMissingColumns=True)
    union.write.mode("overwrite").saveAsTable(staged)  # read once: the row ids are fixed from here on


def _file_names(spark: Any, staged: str, expected: set[str]) -> Any:
    """Each staged file's name (`_path`, `_file_name`). Spark names a file by its URI, percent-encoded
    (`file:/landing/a%20b.csv` for `a b.csv`); the rows are joined to their load by the file's own name, so a name
    that did not map back would lose its rows: every file Spark read must be one of the batch's, and each of
    them must have been read."""
    paths = [r[0] for r in spark.sql(f"select distinct _path from {staged}").collect()]
    names = [(uri, Path(unquote(urlparse(uri).path)).name) for uri in paths]
    if {name for _, name in names} != expected or len(names) != len(expected):
        read = sorted(name for _, name in names)
        raise IngestError(f"Spark read the files {read[:10]}, not the batch's {sorted(expected)[:10]}")
    return spark.createDataFrame(names, "_path string, _file_name string")


def _line_bases(spark: Any, staged: Any) -> Any:
    """Per file and byte range: what to add to a row id to get its physical line (the header is line 1).

    Within one byte range the row ids are consecutive (one partition reads it in order), so a row's line is the
    lines of the file's earlier ranges, plus its rank in its range: row id - first row id of the range + 1."""
    from pyspark.sql import functions as F

    ranges = staged.groupBy("_file_name", "_block").agg(F.count("*").alias("n"), F.min("_row_id").alias("first"))
    bases, before = [], defaultdict(int)
    for r in sorted(ranges.collect(), key=lambda r: (r["_file_name"], r["_block"])):
        bases.append((r["_file_name"], r["_block"], before[r["_file_name"]] - r["first"] + 1))
        before[r["_file_name"]] += r["n"]
    return spark.createDataFrame(bases, "_file_name string, _block bigint, _base bigint")


def _append_rows(
    spark: Any, source: Source, new: list, headers: dict[str, list[str]], weeks: dict, added: list[str], staged: str
) -> dict[str, int]:
    """Stage the new files, check every line, then append their rows and headers to raw; the rows per file."""
    from pyspark.sql import functions as F

    _stage(spark, source, new, headers, staged)
    named = spark.table(staged).join(F.broadcast(_file_names(spark, staged, set(headers))), "_path")
    numbered = named.join(F.broadcast(_line_bases(spark, named)), ["_file_name", "_block"])
    numbered = numbered.select("*", (F.col("_row_id") + F.col("_base")).alias("_line_number"))
    rows = numbered.where("_line_number > 1 and _text != ''")  # the header, and blank lines DuckDB skips
    ragged = rows.where("_ragged").groupBy("_file_name").agg(F.min("_line_number").alias("line")).collect()
    if ragged:
        first = min(ragged, key=lambda r: r["_file_name"])
        text = numbered.where(
            (F.col("_file_name") == first["_file_name"]) & (F.col("_line_number") == first["line"])
        ).first()["_text"]
        expected = len(headers[first["_file_name"]])
        raise IngestError(
            f"{first['_file_name']}: line {first['line']}: has {len(next(csv.reader([text])))} fields, "
            f"expected {expected}; unreadable"
        )
    counts = {r["_file_name"]: r["count"] for r in rows.groupBy("_file_name").count().collect()}
    for column in added:  # as DuckDB: at the end of the table, as text
        spark.sql(f"alter table {source.table} add columns (`{column}` string)")
        log_event("ingest.new_source_column", table=source.table, column=column, engine="spark")
    meta = spark.createDataFrame(
        [(d.path.name, d.load_id, _ts(d.loaded_at), str(weeks[d.path.name]) if source.weekly else None) for d in new],
        "_file_name string, _load_id string, _loaded_at string, _week string",
    )
    rows = rows.join(F.broadcast(meta), "_file_name")
    values = {
        "_week_start": F.col("_week").cast("date"),
        "_loaded_at": F.col("_loaded_at").cast("timestamp"),
        "_line_number": F.col("_line_number").cast("bigint"),
    }
    known = set(rows.columns)
    rows.select(
        *[
            values.get(c, F.col(f"`{c}`") if c in known else F.lit(None).cast("string")).alias(c)
            for c in spark.table(source.table).columns
        ]
    ).write.insertInto(source.table)
    spark.createDataFrame(
        [(d.load_id, c, i + 1) for d in new for i, c in enumerate(headers[d.path.name])], LOAD_COLUMNS_SCHEMA
    ).write.insertInto("raw.load_columns")
    return counts


def ingest_source_spark(spark: Any, source: Source, landing: Path, load_ids: LoadIds = new_load_id) -> LoadResult:
    """`ml.ingest.ingest_source` on Spark: every file of `source` from `landing` not yet recorded in Spark's
    raw.loads, checked in full before anything is appended (see the module's note on atomicity)."""
    from pyspark.sql import functions as F

    _ensure_tables(spark, source)
    check_landing(landing)
    files = landing_files(landing)
    weeks = {path.name: week_of(source, path) for path in files}  # every name must say its week first
    result = LoadResult()
    staged = f"raw._staged_{source.name}"
    with timed(f"spark.ingest_{source.name}", files=len(files)) as facts:
        recorded = spark.sql("select file_name, file_sha256, status, load_id, file_rows from raw.loads").collect()
        loads = [tuple(r)[:4] for r in recorded]
        rows_of = {r["load_id"]: r["file_rows"] for r in recorded if r["status"] == "loaded"}
        plan = plan_batch(source, files, loads, load_ids)
        new = [d for d in plan if not d.duplicate_of]
        headers = {d.path.name: read_header(d.path) for d in new}
        columns = spark.table(source.table).columns
        added: list[str] = []
        for d in new:
            added += check_header(source, d.path, headers[d.path.name], columns + added)
            if not_utf8 := utf8_error(d.path):
                raise IngestError(f"{d.path.name}: {not_utf8}")
        counts: dict[str, int] = {}
        try:
            if new:
                counts = _append_rows(spark, source, new, headers, weeks, added, staged)
        finally:
            spark.sql(f"drop table if exists {staged}")
        records = []
        for d in plan:
            if d.duplicate_of:
                n, appended, status = rows_of[d.duplicate_of], 0, "skipped_redelivery"
                result.files_skipped += 1
            else:
                n = appended = rows_of[d.load_id] = counts.get(d.path.name, 0)
                status = "loaded"
                result.files_loaded += 1
                result.rows_appended += n
            records.append((d.load_id, source.name, d.path.name, d.sha256, n, appended, status, d.duplicate_of))
            log_event(f"spark.ingest_{source.name}.file", file=d.path.name, rows=appended, status=status)
        loads_as_text = LOADS_SCHEMA.replace("loaded_at timestamp", "loaded_at string")
        loaded_at = {d.load_id: _ts(d.loaded_at) for d in plan}
        if records:
            spark.createDataFrame([(*r, loaded_at[r[0]]) for r in records], loads_as_text).withColumn(
                "loaded_at", F.col("loaded_at").cast("timestamp")
            ).write.insertInto("raw.loads")
        facts.update(files_loaded=result.files_loaded, files_skipped=result.files_skipped, rows=result.rows_appended)
    return result


def retract_load_spark(spark: Any, ref: str, reason: str | None, restore: bool = False) -> Retraction:
    """`ml.ingest.retract_load` on Spark: the same plan, one row appended to Spark's `raw.load_retractions`."""
    from pyspark.sql import functions as F

    _ensure_bookkeeping(spark)
    with timed("spark.retract_load", ref=ref, restore=restore) as facts:
        loads = [tuple(r) for r in spark.sql(LOADS_FOR_RETRACTION).collect()]
        actions = [tuple(r) for r in spark.sql(RETRACTION_ACTIONS).collect()]
        done = plan_retraction(ref, loads, actions, reason, restore)
        as_text = RETRACTIONS_SCHEMA.replace("recorded_at timestamp", "recorded_at string")
        spark.createDataFrame([(done.load_id, done.action, done.reason, _ts(done.recorded_at))], as_text).withColumn(
            "recorded_at", F.col("recorded_at").cast("timestamp")
        ).write.insertInto("raw.load_retractions")
        facts.update(load_id=done.load_id, action=done.action, file=done.file_name, rows=done.rows)
    return done


def list_loads_spark(spark: Any, limit: int = 30) -> str:
    """`ml.ingest.format_loads` of Spark's warehouse."""
    _ensure_bookkeeping(spark)
    loads = [tuple(r) for r in spark.sql(LOADS_FOR_RETRACTION).collect()]
    return format_loads(loads, [tuple(r) for r in spark.sql(RETRACTION_ACTIONS).collect()], limit)


def load_ground_truth_spark(spark: Any, ground_truth: Path) -> int:
    """raw.api_ground_truth_incidents and raw.calls_ground_truth replaced from the generator's files (empty for a
    real extract), as `ml.ingest.load_ground_truth` and `load_calls_ground_truth` do on DuckDB; the incident rows."""
    from pyspark.sql import functions as F

    spark.sql("create database if not exists raw")
    counts = {}
    for table, name, schema in (
        ("raw.api_ground_truth_incidents", "api_incidents.csv", GROUND_TRUTH_SCHEMA),
        ("raw.calls_ground_truth", "calls_numbers.csv", CALLS_GROUND_TRUTH_SCHEMA),
    ):
        empty = spark.createDataFrame([], schema)
        src = ground_truth / name
        frame = empty
        if src.exists():
            read = spark.read.options(header=True, quote='"', escape='"').csv(str(src))
            frame = read.select(*[F.col(f.name).cast(f.dataType) for f in empty.schema.fields])
        frame.write.mode("overwrite").saveAsTable(table)
        counts[table] = spark.table(table).count()
    return counts["raw.api_ground_truth_incidents"]


BENCHMARK_POINTS_SCHEMA = "dataset string, series_id string, ts timestamp, value double, label int"
BENCHMARK_WINDOWS_SCHEMA = "dataset string, series_id string, window_start timestamp, window_end timestamp"
BENCHMARK_TABLES = ("raw.benchmark_points", "raw.benchmark_windows")


def load_benchmarks_spark(spark: Any, root: Path | None = None) -> dict[str, int]:
    """`ml.anomaly.benchmarks.load_benchmarks` on Spark: NAB's and AIOps 2018's files, read in place by Spark's
    CSV reader, into raw.benchmark_points and raw.benchmark_windows (replaced); a missing benchmark leaves its
    rows out. The series counts."""
    from functools import reduce

    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from ml.anomaly.benchmarks import aiops_files, aiops_key, nab_files, nab_key, nab_windows
    from ml.settings import benchmarks_dir

    root = root or benchmarks_dir()
    spark.sql("create database if not exists raw")
    nab, aiops = nab_files(root), aiops_files(root)
    with timed("spark.load_benchmarks", root=str(root)) as facts:
        frames = [spark.createDataFrame([], BENCHMARK_POINTS_SCHEMA)]
        frames += [  # one read per file: the series is named by its file, as on DuckDB
            spark.read.options(header=True)
            .csv(str(f))
            .select(
                F.lit("nab").alias("dataset"),
                F.lit(nab_key(f)).alias("series_id"),
                F.col("timestamp").cast("timestamp").alias("ts"),
                F.col("value").cast("double").alias("value"),
                F.lit(None).cast("int").alias("label"),
            )
            for f in nab
        ]
        frames += [
            spark.read.schema("ts bigint, value double, label int")
            .csv(str(f))
            .select(
                F.lit("aiops").alias("dataset"),
                F.lit(aiops_key(f)).alias("series_id"),
                F.timestamp_seconds("ts").alias("ts"),
                "value",
                "label",
            )
            for f in aiops
        ]
        reduce(DataFrame.unionByName, frames).write.mode("overwrite").saveAsTable("raw.benchmark_points")
        windows = nab_windows(root) if nab else []
        spark.createDataFrame(windows, BENCHMARK_WINDOWS_SCHEMA.replace("timestamp", "string")).select(
            "dataset", "series_id", *[F.col(c).cast("timestamp").alias(c) for c in ("window_start", "window_end")]
        ).write.mode("overwrite").saveAsTable("raw.benchmark_windows")
        facts.update(rows=spark.table("raw.benchmark_points").count(), nab_series=len(nab), aiops_series=len(aiops))
    return {"nab_series": len(nab), "aiops_series": len(aiops)}


def ingest_landing_spark(p: Paths, spark: Any, load_ids: LoadIds = new_load_id) -> Ingested:
    """Every feed's new landing files and the generator's ground truth into Spark's raw tables."""
    out = Ingested()
    for source, folder in feeds(p):
        out.feeds[source.name] = ingest_source_spark(spark, source, folder, load_ids)
    out.incidents = load_ground_truth_spark(spark, p.ground_truth)
    out.numbers = spark.table("raw.calls_ground_truth").count()
    return out


def replayed_load_ids(warehouse: Path) -> LoadIds:
    """The load id and time DuckDB's ingestion gave each file (by feed, name and bytes): Spark's load of the same
    landing then has the same ids, so the two engines' rows compare one to one. A file DuckDB never loaded is an
    error: the two warehouses would not hold the same deliveries."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ids = {
            (source, name, sha): (load_id, loaded_at)
            for source, name, sha, load_id, loaded_at in con.execute(
                "select source, file_name, file_sha256, load_id, loaded_at from raw.loads"
            ).fetchall()
        }

    def replay(source: Source, path: Path, sha256: str) -> tuple[str, datetime]:
        try:
            return ids[(source.name, path.name, sha256)]
        except KeyError:
            raise IngestError(
                f"{path.name}: not loaded by DuckDB's ingestion of {warehouse}; nothing to replay"
            ) from None

    return replay
