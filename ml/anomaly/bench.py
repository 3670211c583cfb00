"""`make bench`: throughput and peak memory of the detection mart vs pandas, and the daily incremental cost.

Every measurement runs in its own subprocess so its peak RSS is its own. The DuckDB figures are real `dbt run`s
of `fct_api_request_anomalies` (the production model and macros) over a synthetic
`intermediate.int_api_request_series_daily` of S series x D days in a scratch warehouse. The pandas figures are
the fastest pandas forms of the same algorithms (one wide frame, column-wise rolling statistics): the plain
rolling IQR, and the default detector's twin (`ml/anomaly/twin.py`, held to the mart's numbers by a test).
The pandas `seconds` time the computation only, after the table is in memory (the targets' yardstick); the dbt
figures include reading and writing it, and so does pandas' `end_to_end_seconds` (its result written back).
First, `run_primitives` times the detectors' building blocks (a sort, lags, medians, quantiles, means, counts)
one by one in both forms, after checking that they give the same numbers: the whole detector is a sum of them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ml.anomaly.twin import lag_median, past, robust_seasonal
from ml.dbt import DbtError, dbt_args, run_dbt
from ml.logs import log_event
from ml.settings import PROJECT_DIR, paths

DAYS = 365


def _series_sql(n_series: int, days: int) -> str:
    """Synthetic series with the production schema: lognormal volumes, weekly pattern, noise."""
    return f"""
        with s as (select range as sid, exp(3 + 9 * random()) as base from range({n_series})),
             d as (select range as di, date '2023-01-01' + cast(range as integer) as series_date from range({days}))
        select d.series_date, 'country_os' as level, 'C' || cast(s.sid % 1000 as varchar) as country,
               'OS' || cast(s.sid // 1000 as varchar) as os,
               'C' || cast(s.sid % 1000 as varchar) || '/OS' || cast(s.sid // 1000 as varchar) as series_key,
               date '2023-01-01' as series_start_date,
               cast(round(s.base * (case when isodow(d.series_date) >= 6 then 0.8 else 1.0 end)
                    * exp(0.05 * (random() + random() + random() - 1.5))) as bigint) as request_count,
               cast(1 as bigint) as n_children, cast(1 as bigint) as n_children_present,
               cast(0 as double) as holiday_share, false as is_holiday,
               cast(null as varchar) as calendar_label
        from s cross join d
        order by d.series_date, s.sid
        """


def _make_series(db: Path, n_series: int, days: int) -> int:
    con = duckdb.connect(str(db))
    con.execute("create schema if not exists intermediate")
    con.execute(f"create or replace table intermediate.int_api_request_series_daily as {_series_sql(n_series, days)}")
    n = con.execute("select count(*) from intermediate.int_api_request_series_daily").fetchone()[0]
    con.close()
    return n


def _dbt_run(home: Path, full_refresh: bool = False, dbt_vars: dict | None = None) -> float:
    """`dbt run -s fct_api_request_anomalies` in process on `home`; returns the model's execution seconds."""
    os.environ["SENTINEL_HOME"] = str(home)
    args = dbt_args(
        "run", select=["fct_api_request_anomalies"], full_refresh=full_refresh, dbt_vars=dbt_vars, quiet=True
    )
    try:
        result = run_dbt(args)
    except DbtError as e:
        raise SystemExit(str(e)) from None
    return model_seconds(result.results, "fct_api_request_anomalies")


def model_seconds(results: list, model: str) -> float:
    """Execution seconds of `model` among a dbt invocation's results (hooks are results too, and come first)."""
    for r in results:
        if getattr(r.node, "resource_type", None) == "model" and r.node.name == model:
            return float(r.execution_time)
    raise ValueError(f"{model} is not among the results")


def detector_options() -> dict:
    """The `anomaly_*` dbt vars of dbt_project.yml, without the prefix: the mart's settings for the twin."""
    import yaml

    dbt_vars = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    return {k.removeprefix("anomaly_"): v for k, v in dbt_vars.items() if k.startswith("anomaly_")}


def worker(kind: str, home: Path, n_series: int, days: int, method: str) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    db = home / "warehouse.duckdb"
    if kind == "prepare":
        return {"rows": _make_series(db, n_series, days)}
    if kind == "duckdb":
        secs = _dbt_run(home, full_refresh=True, dbt_vars={"anomaly_method": method})
        return {"seconds": secs}
    if kind == "pandas":
        return _pandas_run(db, method)
    if kind == "history":
        # `days` of history built once, then one more day arrives (not measured: its own process)
        _dbt_run(home, full_refresh=True)
        con = duckdb.connect(str(db))
        con.execute(
            "insert into intermediate.int_api_request_series_daily select series_date + 1, level, country, os, "
            "series_key, series_start_date, request_count, n_children, n_children_present, holiday_share, "
            "is_holiday, calendar_label from intermediate.int_api_request_series_daily "
            "where series_date = (select max(series_date) from intermediate.int_api_request_series_daily)"
        )
        con.close()
        return {}
    if kind == "incremental":
        # the daily run alone, so its time and peak memory are its own
        return {"seconds": _dbt_run(home)}
    if kind == "spark":
        return _spark_run(home)
    raise ValueError(kind)


def _pandas_run(db: Path, method: str) -> dict:
    """The pandas form of `method` on the bench table. `seconds` times the computation alone, on the frame in
    memory (the issue's yardstick). `end_to_end_seconds` also counts what the dbt model's figure counts: reading
    the input from the warehouse file and writing the result there (its own columns: fewer than the mart's)."""
    o = detector_options()  # the mart's settings (not timed)
    t_start = time.perf_counter()
    con = duckdb.connect(str(db))
    if method == "robust_seasonal":
        df = con.execute(
            "select series_key, series_date as period_ts, cast(request_count as double) as value, is_holiday "
            "from intermediate.int_api_request_series_daily"
        ).df()
        t0 = time.perf_counter()
        out = robust_seasonal(df, o)
        _ = int(out["is_anomaly"].sum())
        seconds = time.perf_counter() - t0
    else:
        df = con.execute(
            "select series_date, series_key, request_count from intermediate.int_api_request_series_daily"
        ).df()
        n, k = int(o["iqr_window"]), float(o["iqr_k"])
        t0 = time.perf_counter()
        wide = df.pivot(index="series_date", columns="series_key", values="request_count").astype("float64")
        window = wide.shift(1).rolling(n, min_periods=max(n // 2, 2))  # judged from half a window, as the mart
        q1, q3 = window.quantile(0.25), window.quantile(0.75)
        iqr = q3 - q1
        flags = (wide < q1 - k * iqr) | (wide > q3 + k * iqr)
        _ = int(flags.to_numpy().sum())
        seconds = time.perf_counter() - t0
        present = wide.notna().stack(future_stack=True)
        cols = {"value": wide, "q1": q1, "q3": q3, "is_anomaly": flags}
        out = pd.concat({k: f.stack(future_stack=True) for k, f in cols.items()}, axis=1)[present].reset_index()
    con.execute("create or replace table main.bench_pandas_output as select * from out")
    con.close()
    return {"seconds": seconds, "end_to_end_seconds": time.perf_counter() - t_start}


def _spark_run(home: Path) -> dict:
    """The same model on a local Spark session (docs/scaling.md): the synthetic table copied into Spark through
    Parquet (not timed, like the table's generation for DuckDB), then `dbt run --target spark` of the mart. The
    JVM is a child of this process: it is stopped before returning, so its peak memory is counted."""
    from ml.settings import Paths
    from ml.spark import copy_tables, session, spark_dbt

    os.environ["SENTINEL_HOME"] = str(home)
    p = Paths(home)
    spark = session(p)
    copy_tables(p, spark, ["intermediate.int_api_request_series_daily"])
    peak = ChildRssSampler()  # the JVM's resident memory, sampled while the model runs
    with peak:
        result = spark_dbt(p, "run", "--full-refresh", select=("fct_api_request_anomalies",))
    spark.stop()
    return {"seconds": model_seconds(result.results, "fct_api_request_anomalies"), "jvm_peak_mib": peak.mib}


class ChildRssSampler(threading.Thread):
    """Largest resident memory of this process's descendants together (Spark's JVM, and the Python workers the JVM
    starts for `mapInPandas`), read from /proc every 0.2 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.mib = 0.0
        self._done = threading.Event()

    def __enter__(self) -> ChildRssSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        me = str(os.getpid())
        while not self._done.wait(0.2):
            parents: dict[str, str] = {}
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    parents[stat.parent.name] = stat.read_text().rsplit(")", 1)[1].split()[1]
                except (OSError, IndexError):
                    continue  # a process that ended
            family, grew = {me}, True
            while grew:
                grew = False
                for pid, ppid in parents.items():
                    if ppid in family and pid not in family:
                        family.add(pid)
                        grew = True
            total = 0
            for pid in family - {me}:
                try:
                    total += int((Path("/proc") / pid / "status").read_text().split("VmRSS:")[1].split()[0])
                except (OSError, IndexError, ValueError):
                    continue  # a process that ended, or a kernel thread without VmRSS
            self.mib = max(self.mib, total / 1024)


def _measure(kind: str, home: Path, n_series: int, days: int, method: str = "robust_seasonal") -> dict:
    code = (
        "import json, resource, sys; from pathlib import Path; from ml.anomaly.bench import worker; "
        f"r = worker({kind!r}, Path({str(home)!r}), {n_series}, {days}, {method!r}); "
        "r['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench step {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def format_speedups(table: pd.DataFrame) -> str:
    """Per size and detector: how many times faster the dbt model is than its pandas form (seconds ratio), against
    pandas' computation alone (the targets' yardstick) and, where measured, against pandas reading its input from
    the warehouse and writing its result there, as the model does."""
    secs = table.pivot_table(index=["rows", "detector"], columns="engine", values="seconds")
    e2e = (
        table.pivot_table(index=["rows", "detector"], columns="engine", values="end_to_end_seconds")
        if "end_to_end_seconds" in table
        else None
    )
    lines = ["dbt model vs pandas (x = pandas seconds / dbt seconds; above 1 the model is faster):"]
    for (n, det), r in secs.iterrows():
        line = f"  {n:>12,} rows  {det:<16} {r['pandas'] / r['duckdb']:.2f}x"
        if e2e is not None:
            line += f"   (pandas read, computed and written: {e2e.loc[(n, det), 'pandas'] / r['duckdb']:.2f}x)"
        lines.append(line)
    return "\n".join(lines)


def _frame(n: int) -> str:
    return f"over (partition by series_key order by period_ts rows between {n} preceding and 1 preceding)"


# The building blocks of the detectors, each in the SQL form the macros use and the pandas form the twin uses
# (`ml/anomaly/twin.py`): name, SQL expression (its value `r`), SQL reads of `r` to check, pandas wide frames.
# The detector is made of these, so their ratios bound what any arrangement of them can reach.
PRIMITIVES: list[tuple[str, str, list[str], Callable[[pd.DataFrame], list[pd.DataFrame]] | None]] = [
    (
        "sort by series and day (DuckDB: each window step) / pivot to wide (pandas: once)",
        "row_number() over (partition by series_key order by period_ts)",
        ["r"],
        None,  # pandas' side is the pivot itself, checked as each row's position in its series
    ),
    ("lag 7", "lag(v, 7) over (partition by series_key order by period_ts)", ["r"], lambda w: [w.shift(7)]),
    (
        "median of the last 7 (level)",
        f"list_median(list(v) {_frame(7)})",
        ["r"],
        lambda w: [past(w, 7).median()],
    ),
    (
        "median of 6 seasonal lags (factor)",
        "list_median(["
        + ", ".join(f"lag(v, {7 * i}) over (partition by series_key order by period_ts)" for i in range(1, 7))
        + "])",
        ["r"],
        lambda w: [pd.DataFrame(lag_median(w, 7, 6)[0], index=w.index, columns=w.columns)],
    ),
    (
        "quartiles of the last 28",
        f"quantile_cont(v, [0.25, 0.75]) {_frame(28)}",
        ["r[1]", "r[2]"],
        lambda w: [past(w, 28).quantile(q) for q in (0.25, 0.75)],
    ),
    (
        "quartiles and median of the last 14 (the plain IQR)",
        f"quantile_cont(v, [0.25, 0.5, 0.75]) {_frame(14)}",
        ["r[1]", "r[3]"],  # pandas' rolling IQR (the bench's) computes the two quartiles only
        lambda w: [past(w, 14).quantile(q) for q in (0.25, 0.75)],
    ),
    (
        "99th percentile of the last 28",
        f"quantile_cont(v, 0.99) {_frame(28)}",
        ["r"],
        lambda w: [past(w, 28).quantile(0.99)],
    ),
    (
        "mean and sd of the last 14",
        f"[avg(v) {_frame(14)}, stddev_samp(v) {_frame(14)}]",
        ["r[1]", "r[2]"],
        lambda w: [past(w, 14).mean(), past(w, 14).std()],
    ),
    (
        "count of the last 28",
        f"count(v) {_frame(28)}",
        ["r"],
        lambda w: [past(w, 28).count()],
    ),
]


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_primitives(n_series: int, days: int, repeats: int = 3) -> pd.DataFrame:
    """Each building block of the detectors timed in DuckDB (a window over the long table, into a table in memory,
    2 threads) and in pandas (rolling over the wide frame, 1 thread), after checking that both give the same
    numbers (1e-9). Why the whole detector is as fast as it is against its twin: it is a sum of these."""
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = false")
    con.execute("set enable_progress_bar = false")  # its bar goes to stdout, into the printed table
    con.execute(
        f"create table t as select series_key, series_date as period_ts, ln(request_count + 1) as v "
        f"from ({_series_sql(n_series, days)})"
    )
    long = con.execute("select * from t").df()
    n = len(long)
    wide = long.pivot(index="period_ts", columns="series_key", values="v")
    rows = []
    for name, expr, reads, pandas_fn in PRIMITIVES:
        build = f"create or replace table x as select series_key, period_ts, {expr} as r from t"
        con.execute(build)
        got = con.execute(f"select {', '.join(reads)} from x order by series_key, period_ts").fetchnumpy()
        want = [wide.notna().cumsum()] if pandas_fn is None else pandas_fn(wide)
        for read, frame in zip(reads, want, strict=True):
            expected = frame.T.stack(future_stack=True).to_numpy(dtype="float64")  # series-major, like the SQL
            actual = np.ma.filled(np.ma.asarray(got[read]).astype("float64"), np.nan)  # NULL: NaN
            if not np.allclose(actual, expected, rtol=1e-9, atol=1e-12, equal_nan=True):
                raise AssertionError(f"primitive {name!r}: DuckDB and pandas disagree on {read}")
        sql_s = _median_seconds(lambda build=build: con.execute(build), repeats)
        if pandas_fn is None:
            pandas_s = _median_seconds(lambda: long.pivot(index="period_ts", columns="series_key", values="v"), repeats)
        else:
            pandas_s = _median_seconds(lambda fn=pandas_fn: [f.to_numpy() for f in fn(wide)], repeats)
        rows.append(
            {
                "primitive": name,
                "duckdb_s": sql_s,
                "pandas_s": pandas_s,
                "pandas_over_duckdb": pandas_s / sql_s,
            }
        )
        log_event(
            "bench.primitive", rows=n, **{k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}
        )
    con.close()
    table = pd.DataFrame(rows)
    # several statistics of one window step share its sort: what each costs beyond it
    table.insert(2, "duckdb_beyond_sort_s", table["duckdb_s"] - table["duckdb_s"].iloc[0])
    table.loc[0, "duckdb_beyond_sort_s"] = None
    return table


def _prepared(root: Path, target: int, bench: str) -> tuple[Path, int, int]:
    """A scratch state with about `target` series-days (DAYS per series): its home, series and rows."""
    n_series = max(target // DAYS, 1)
    home = root / f"n{target}"
    n = _measure("prepare", home, n_series, DAYS)["rows"]
    log_event(f"{bench}.prepared", rows=n, series=n_series, days=DAYS)
    return home, n_series, n


def run_bench(sizes: list[int], incremental_histories: list[int], primitive_rows: int = 0) -> pd.DataFrame:
    root = paths().ensure().home / "bench"
    if primitive_rows:
        prim = run_primitives(max(primitive_rows // DAYS, 1), DAYS)
        print(f"\n=== The detectors' building blocks, {primitive_rows:,} series-days (same numbers checked first) ===")
        print(prim.to_string(index=False, float_format="{:.3f}".format))
    rows = []
    for target in sizes:
        home, n_series, n = _prepared(root, target, "bench")
        for engine, method in (
            ("duckdb", "robust_seasonal"),
            ("pandas", "robust_seasonal"),
            ("duckdb", "iqr"),
            ("pandas", "iqr"),
        ):
            # one process per run; the median of 3 runs where a run is short
            runs = [_measure(engine, home, n_series, DAYS, method) for _ in range(3 if n <= 2_000_000 else 1)]
            secs = statistics.median(r["seconds"] for r in runs)
            # the model's figure already reads its input from the file and writes the mart there
            e2e = statistics.median(r.get("end_to_end_seconds", r["seconds"]) for r in runs)
            rows.append(
                {
                    "rows": n,
                    "engine": engine,
                    "detector": method,
                    "runs": len(runs),
                    "seconds": round(secs, 2),
                    "end_to_end_seconds": round(e2e, 2),
                    "rows_per_s": round(n / secs),
                    "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs)),
                }
            )
            log_event("bench.measured", **rows[-1])
    table = pd.DataFrame(rows)
    if rows:
        print("\n=== Detection mart throughput (dbt run of fct_api_request_anomalies vs pandas, same algorithm) ===")
        print(table.to_string(index=False))
        print(format_speedups(table))
    inc = []
    for hist in incremental_histories:
        home = root / f"inc{hist}"
        n_series = 10_000
        _measure("prepare", home, n_series, hist)
        _measure("history", home, n_series, hist)
        r = _measure("incremental", home, n_series, hist)
        inc.append(
            {
                "history_days": hist,
                "series": n_series,
                "daily_run_seconds": round(r["seconds"], 2),
                "peak_rss_mib": round(r["peak_rss_mib"]),
            }
        )
        log_event("bench.incremental", **inc[-1])
    if not incremental_histories:
        return table
    print("\n=== Daily incremental run of fct_api_request_anomalies (one new day) ===")
    print(pd.DataFrame(inc).to_string(index=False))
    return table


def run_scale_bench(sizes: list[int]) -> pd.DataFrame:
    """`make bench-scale`: the detection mart on DuckDB and on a local Spark session, same model, same data."""
    root = paths().ensure().home / "bench-scale"
    rows = []
    for target in sizes:
        home, n_series, n = _prepared(root, target, "bench_scale")
        for engine in ("duckdb", "spark"):
            r = _measure(engine, home, n_series, DAYS)
            rows.append(
                {
                    "rows": n,
                    "engine": engine,
                    "seconds": round(r["seconds"], 1),
                    "rows_per_s": round(n / r["seconds"]),
                    # Python's peak, plus Spark's JVM (a child process) sampled while the model ran
                    "peak_rss_mib": round(r["peak_rss_mib"] + r.get("jvm_peak_mib", 0)),
                }
            )
            log_event("bench_scale.measured", **rows[-1])
    table = pd.DataFrame(rows)
    print("\n=== fct_api_request_anomalies (default detector), DuckDB vs Spark local[2], one run each ===")
    print(table.to_string(index=False))
    return table
