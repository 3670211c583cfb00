"""Load the real labelled benchmarks (NAB, AIOps 2018 KPIs) into raw tables, reading them in place.

Nothing is copied into the repository: DuckDB reads the CSVs where they are ($SENTINEL_BENCHMARKS, default
../shared/benchmarks). Aggregation to an hourly grain, labels and detection happen in dbt
(models/intermediate/benchmarks, models/marts/evaluation), through the same SQL as the KPI detector.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from ml.logs import log_event, timed
from ml.settings import benchmarks_dir

DDL = """
create schema if not exists raw;
create or replace table raw.benchmark_points (
    dataset varchar, series_id varchar, ts timestamp, value double, label integer
);
create or replace table raw.benchmark_windows (
    dataset varchar, series_id varchar, window_start timestamp, window_end timestamp
);
"""


def load_benchmarks(con: duckdb.DuckDBPyConnection, root: Path | None = None) -> dict[str, int]:
    """(Re)load both benchmarks; a missing benchmark folder is logged and leaves its tables empty."""
    root = root or benchmarks_dir()
    con.execute(DDL)
    counts = {"nab_series": 0, "aiops_series": 0}
    with timed("load_benchmarks", root=str(root)) as facts:
        nab = root / "nab"
        if (nab / "data").is_dir():
            for f in sorted((nab / "data").glob("*/*.csv")):
                key = f"{f.parent.name}/{f.name}"
                con.execute(
                    "insert into raw.benchmark_points select 'nab', ?, cast(timestamp as timestamp), "
                    "cast(value as double), null from read_csv(?, header = true)",
                    [key, str(f)],
                )
                counts["nab_series"] += 1
            windows = json.loads((nab / "labels" / "combined_windows.json").read_text())
            rows = [("nab", k, a, b) for k, wins in windows.items() for a, b in wins]
            if rows:
                con.executemany("insert into raw.benchmark_windows values (?, ?, ?, ?)", rows)
        else:
            log_event("load_benchmarks.missing", dataset="nab", path=str(nab))
        aiops = root / "aiops2018-kpi"
        files = sorted(aiops.glob("*_split/*.csv")) if aiops.is_dir() else []
        for f in files:
            con.execute(
                "insert into raw.benchmark_points select 'aiops', ?, to_timestamp(ts)::timestamp, value, label "
                "from read_csv(?, header = false, columns = {'ts': 'bigint', 'value': 'double', 'label': 'integer'})",
                [f"{f.parent.name}/{f.stem}", str(f)],
            )
            counts["aiops_series"] += 1
        if not files:
            log_event("load_benchmarks.missing", dataset="aiops", path=str(aiops))
        facts.update(rows=con.execute("select count(*) from raw.benchmark_points").fetchone()[0], **counts)
    return counts
