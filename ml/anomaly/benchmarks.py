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


def nab_files(root: Path) -> list[Path]:
    """NAB's series files (`data/<group>/<name>.csv`), or [] without the folder."""
    return sorted((root / "nab" / "data").glob("*/*.csv")) if (root / "nab" / "data").is_dir() else []


def nab_key(f: Path) -> str:
    return f"{f.parent.name}/{f.name}"  # as NAB's label file names the series


def nab_windows(root: Path) -> list[tuple[str, str, str, str]]:
    """NAB's labelled windows: (dataset, series, start, end), the times as NAB writes them."""
    windows = json.loads((root / "nab" / "labels" / "combined_windows.json").read_text())
    return [("nab", k, a, b) for k, wins in windows.items() for a, b in wins]


def aiops_files(root: Path) -> list[Path]:
    """AIOps 2018's KPI files (`<split>_split/<kpi>.csv`: epoch seconds, value, label; no header), or []."""
    aiops = root / "aiops2018-kpi"
    return sorted(aiops.glob("*_split/*.csv")) if aiops.is_dir() else []


def aiops_key(f: Path) -> str:
    return f"{f.parent.name}/{f.stem}"


def load_benchmarks(con: duckdb.DuckDBPyConnection, root: Path | None = None) -> dict[str, int]:
    """(Re)load both benchmarks; a missing benchmark folder is logged and leaves its tables empty."""
    root = root or benchmarks_dir()
    con.execute(DDL)
    nab, aiops = nab_files(root), aiops_files(root)
    counts = {"nab_series": len(nab), "aiops_series": len(aiops)}
    with timed("load_benchmarks", root=str(root)) as facts:
        for f in nab:
            con.execute(
                "insert into raw.benchmark_points select 'nab', ?, cast(timestamp as timestamp), "
                "cast(value as double), null from read_csv(?, header = true)",
                [nab_key(f), str(f)],
            )
        if nab and (rows := nab_windows(root)):
            con.executemany("insert into raw.benchmark_windows values (?, ?, ?, ?)", rows)
        if not nab:
            log_event("load_benchmarks.missing", dataset="nab", path=str(root / "nab"))
        for f in aiops:  # epoch seconds as a UTC timestamp (to_timestamp()::timestamp used the session's zone)
            con.execute(
                "insert into raw.benchmark_points select 'aiops', ?, make_timestamp(ts * 1000000), value, label "
                "from read_csv(?, header = false, columns = {'ts': 'bigint', 'value': 'double', 'label': 'integer'})",
                [aiops_key(f), str(f)],
            )
        if not aiops:
            log_event("load_benchmarks.missing", dataset="aiops", path=str(root / "aiops2018-kpi"))
        facts.update(rows=con.execute("select count(*) from raw.benchmark_points").fetchone()[0], **counts)
    return counts
