"""The same dbt models on Apache Spark (issue 16): a local PySpark session, the `spark` output of profiles.yml.

`python -m ml spark-test` (`make spark-test`) builds the KPI anomaly product, the spam feature marts and the
data-quality marts on Spark from the state's DuckDB warehouse and checks that Spark computes what DuckDB computed:

1. the raw tables the selection reads (its dbt sources) are copied from the DuckDB warehouse into Spark tables
   through Parquet: the same rows, load ids, files and lines;
2. `dbt build --target spark` of the selection: seeds, models, data tests and unit tests, from the same SQL (the
   engine differences are `spark__` macros under macros/cross_db/);
3. each PARITY relation the selection built is read back from Spark and compared with DuckDB's on its key: rows
   on each side only, verdicts (`direction`, for the detection mart) that differ, text columns that differ, and
   the largest relative difference of each numeric column. The check fails on any row or verdict or text
   difference, or a numeric one above 1e-9.

Spark's tables, its Hive metastore (Derby) and its logs live under $SENTINEL_HOME/spark/, as profiles.yml says.
The DuckDB side must be built first (`python -m ml build`, as `make spark-test` does); Spark never writes to it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ml.dbt import dbt_args, run_dbt
from ml.logs import log_event, timed
from ml.settings import Paths, Settings

# The KPI anomaly product (API-log staging and validation, the roll-ups, the detector, incidents, the
# detection-period summary and the KPI metric mart), the spam feature side (call staging and validation, the
# versioned feature mart, the training examples) and the data-quality marts (load reconciliation, quarantine),
# with their tests.
SPARK_SELECTION = (
    "+path:models/marts/anomaly +fct_kpi_metrics_daily +fct_spam_features_v1 +fct_spam_features_v2 "
    "+fct_spam_training_examples +path:models/marts/data_quality"
)
PARITY_RELATION = "marts.fct_api_request_anomalies"
PARITY_KEY = ("series_key", "series_date")
# What spark-test compares: each relation on its key, and its verdict column where it has one.
PARITY: dict[str, tuple[tuple[str, ...], str | None]] = {
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
}
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
    return (
        SparkSession.builder.master("local[2]")
        .appName("sentinel")
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={home}/metastore;create=true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", Settings.from_env().spark_memory)  # local mode: the driver does the work
        .enableHiveSupport()
        .getOrCreate()
    )


def spark_dbt(p: Paths, command: str, *extra: str, select: tuple[str, ...] = ()) -> Any:
    """dbt against the spark target, in its own target folder (a shared one would re-parse on every switch)."""
    return run_dbt(
        dbt_args(
            command,
            *extra,
            select=select,
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
                frame = spark.read.parquet(str(path))
                # DuckDB's TIMESTAMP has no time zone (UTC, the project's convention): Spark reads it back as
                # TIMESTAMP_NTZ; the models' contracts say TIMESTAMP, the same instant in the UTC session
                frame = frame.select(
                    *[
                        frame[f.name].cast("timestamp").alias(f.name)
                        if f.dataType.typeName() == "timestamp_ntz"
                        else frame[f.name]
                        for f in frame.schema.fields
                    ]
                )
                frame.write.mode("overwrite").saveAsTable(table)
                counts[table] = facts["rows"] = spark.table(table).count()
    return counts


@dataclass
class Parity:
    relation: str
    duckdb_rows: int
    spark_rows: int
    only_duckdb: int
    only_spark: int
    verdicts_differ: int = 0
    anomalies: tuple[int, int] | None = None  # DuckDB, Spark: a relation with a verdict column
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
                f"  anomalies: DuckDB {self.anomalies[0]:,}, Spark {self.anomalies[1]:,}; verdicts that differ "
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
) -> Parity:
    """Spark's copy of `relation` (Parquet, as Spark wrote it) against DuckDB's, joined on `key`; with a `verdict`
    column (and `is_anomaly`), the verdicts that differ and the anomalies on each side."""
    on = " and ".join(f"d.{k} = s.{k}" for k in key)
    with duckdb.connect(str(p.warehouse), read_only=True) as con:
        # Spark writes its timestamps as instants (read here WITH TIME ZONE): text of both sides in UTC
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"create temp view s as select * from read_parquet('{spark_parquet}/**/*.parquet')")
        schema, name = relation.split(".")
        cols = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where database_name = current_database() and schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchall()

        def one(sql: str) -> Any:
            return con.execute(sql).fetchone()[0]

        numeric = [c for c, t in cols if c not in key and t.split("(")[0] in ("DOUBLE", "FLOAT", "DECIMAL")]
        text = [c for c, t in cols if c not in key and c not in numeric]
        joined = f"from {relation} as d inner join s on {on}"
        return Parity(
            relation=relation,
            duckdb_rows=one(f"select count(*) from {relation}"),
            spark_rows=one("select count(*) from s"),
            only_duckdb=one(f"select count(*) from {relation} as d where not exists (select 1 from s where {on})"),
            only_spark=one(f"select count(*) from s where not exists (select 1 from {relation} as d where {on})"),
            verdicts_differ=one(f"select count(*) {joined} where d.{verdict} is distinct from s.{verdict}")
            if verdict
            else 0,
            anomalies=(
                one(f"select count(*) from {relation} where is_anomaly"),
                one("select count(*) from s where is_anomaly"),
            )
            if verdict
            else None,
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


def spark_test(p: Paths, selection: str = SPARK_SELECTION) -> list[Parity]:
    """Copy the sources, build the selection on Spark (seeds, models, tests), compare each PARITY relation the
    selection built with DuckDB's."""
    if not p.warehouse.is_file():
        raise FileNotFoundError(f"no DuckDB warehouse in {p.home}: build it first (python -m ml build)")
    with timed("spark.test", selection=selection) as facts:
        spark = session(p)
        listed = list_selection(p, selection)
        tables = selection_sources(p, listed)
        facts["source_rows"] = sum(copy_tables(p, spark, tables).values())
        spark_dbt(p, "build", "--full-refresh", select=(selection,))  # every run from scratch: a test
        built = {f"{n['config']['schema']}.{n['alias']}" for n in listed if n["resource_type"] == "model"}
        results = []
        for relation, (key, verdict) in PARITY.items():
            if relation not in built:
                continue
            out = spark_dir(p) / "out" / relation
            spark.table(relation).write.mode("overwrite").parquet(str(out))
            results.append(compare(p, out, relation, key, verdict))
            log_event("spark.parity", **results[-1].__dict__)
        facts.update(relations=len(results), rows=sum(r.spark_rows for r in results), ok=all(r.ok for r in results))
    return results
