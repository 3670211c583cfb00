"""`make bench` builds the contracted detection mart with every method and times the model, not a hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from ml.anomaly.bench import ChildRssSampler, model_seconds, worker


def test_model_seconds_skips_the_hooks() -> None:
    hook = SimpleNamespace(node=SimpleNamespace(resource_type="operation", name="on-run-start"), execution_time=0.16)
    model = SimpleNamespace(
        node=SimpleNamespace(resource_type="model", name="fct_api_request_anomalies"), execution_time=76.0
    )
    assert model_seconds([hook, model], "fct_api_request_anomalies") == 76.0
    with pytest.raises(ValueError):
        model_seconds([hook], "fct_api_request_anomalies")


def test_the_scale_bench_counts_the_memory_of_a_child_process() -> None:
    """Spark's JVM is a child of the bench process: its resident memory must count in the peak."""
    child = "import time; x = bytearray(300 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); time.sleep(1.5)"
    with ChildRssSampler() as peak:
        subprocess.run([sys.executable, "-c", child], check=True)
    assert 300 <= peak.mib < 600


def test_the_scale_bench_counts_the_memory_of_a_grandchild_process() -> None:
    """The Python workers that score on Spark (`mapInPandas`) are children of the JVM, not of the bench process:
    their memory counts too."""
    grandchild = "import time; x = bytearray(300 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); time.sleep(1.5)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}], check=True)"
    with ChildRssSampler() as peak:
        subprocess.run([sys.executable, "-c", child], check=True)
    assert 300 <= peak.mib < 700


@pytest.mark.slow
@pytest.mark.parametrize("method", ["iqr", "zscore", "robust_seasonal"])
def test_every_method_builds_the_contracted_mart_on_the_bench_table(
    tmp_path: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the bench's own steps, in this process (`make bench` runs each in a process of its own, for its peak memory):
    # they point SENTINEL_HOME and dbt's folders at their state, which the test puts back afterwards
    for name in ("SENTINEL_HOME", "DBT_TARGET_PATH", "DBT_LOG_PATH"):
        monkeypatch.delenv(name, raising=False)
    worker("prepare", tmp_path, 30, 60, method)
    assert worker("duckdb", tmp_path, 30, 60, method)["seconds"] > 0
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        rows, detector = con.execute("select count(*), min(detector) from marts.fct_api_request_anomalies").fetchone()
    assert rows == 30 * 60 and detector == method


def test_pandas_twin_reproduces_the_default_detector_of_the_mart(warehouse) -> None:
    """The bench's pandas twin is the same algorithm: on the reference extract it gives the mart's numbers to 1e-9
    and the same verdicts (so the bench compares like with like)."""
    import numpy as np

    from ml.anomaly.bench import detector_options
    from ml.anomaly.twin import robust_seasonal

    options = detector_options()
    series = warehouse.execute(
        "select series_key, series_date as period_ts, cast(request_count as double) as value, is_holiday "
        "from intermediate.int_api_request_series_daily"
    ).df()
    mart = warehouse.execute(
        "select series_key, series_date as period_ts, expected_value, lower_bound, upper_bound, score, "
        "coalesce(direction, '') as direction, is_judged from marts.fct_api_request_anomalies"
    ).df()
    twin = robust_seasonal(series, options)
    twin["direction"] = twin["direction"].fillna("")
    both = mart.merge(twin, on=["series_key", "period_ts"], suffixes=("_sql", "_pd"), validate="one_to_one")
    assert len(both) == len(mart) == len(series) > 10_000
    for col in ("expected_value", "lower_bound", "upper_bound", "score"):
        a, b = both[f"{col}_sql"].astype(float).to_numpy(), both[f"{col}_pd"].astype(float).to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        ok = ~np.isnan(a)
        assert np.allclose(a[ok], b[ok], rtol=1e-9, atol=1e-9), col
    assert (both["direction_sql"] == both["direction_pd"]).all()
    assert (both["is_judged_sql"] == both["is_judged_pd"].astype(bool)).all()
    assert (both["direction_sql"] != "").sum() > 20  # the verdicts compared include real flags


def test_speedups_compare_each_detector_with_its_own_pandas_form() -> None:
    import pandas as pd

    from ml.anomaly.bench import format_speedups

    table = pd.DataFrame(
        [
            {"rows": 1000, "engine": "duckdb", "detector": "iqr", "seconds": 1.0},
            {"rows": 1000, "engine": "pandas", "detector": "iqr", "seconds": 2.0},
            {"rows": 1000, "engine": "duckdb", "detector": "robust_seasonal", "seconds": 4.0},
            {"rows": 1000, "engine": "pandas", "detector": "robust_seasonal", "seconds": 2.0},
        ]
    )
    text = format_speedups(table)
    assert "iqr              2.00x" in text
    assert "robust_seasonal  0.50x" in text

    table["end_to_end_seconds"] = table["seconds"] + [0.0, 1.0, 0.0, 6.0]  # pandas' reading and writing on top
    text = format_speedups(table)
    assert "iqr              2.00x   (pandas read, computed and written: 3.00x)" in text
    assert "robust_seasonal  0.50x   (pandas read, computed and written: 2.00x)" in text


@pytest.mark.parametrize("method", ["iqr", "robust_seasonal"])
def test_the_pandas_figures_time_the_computation_and_the_whole_job(tmp_path: Path, method: str) -> None:
    """The pandas side's computation alone (the targets' yardstick), and its whole job like the model's figure:
    the input read from the warehouse file and every row of its result written back there."""
    worker("prepare", tmp_path, 12, 60, method)
    r = worker("pandas", tmp_path, 12, 60, method)
    assert 0 < r["seconds"] < r["end_to_end_seconds"]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        rows, flagged = con.execute(
            "select count(*), count(*) filter (where is_anomaly) from bench_pandas_output"
        ).fetchone()
    assert rows == 12 * 60 and flagged < rows


def test_every_spam_bench_stage_is_a_valid_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make bench-spam` runs each stage as `python -c` of a formatted template: a stray brace or a syntax error
    would only show at the end of a long bench. Spark's stages are listed too when Spark is reported present."""
    from ml import spark
    from ml.spam import bench

    monkeypatch.setattr(spark, "require_spark", lambda: None)
    stages = bench._stages()
    assert [name for name, _ in stages][-2:] == ["spark-feat", "spark-score"]
    for name, code in stages:
        compile(bench._PRELUDE + code.format(n=1000, weeks=bench.WEEKS) + bench._EPILOGUE, name, "exec")


def test_the_building_blocks_table_checks_duckdb_against_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make bench` times each building block of the detectors in DuckDB and in pandas, after checking that the two
    forms give the same numbers: a frame one row off must stop it, or the table would compare unlike things."""
    from ml.anomaly import bench

    table = bench.run_primitives(n_series=12, days=70, repeats=1)
    assert list(table["primitive"]) == [p[0] for p in bench.PRIMITIVES]
    assert (table["duckdb_s"] > 0).all() and (table["pandas_s"] > 0).all()
    assert table["duckdb_beyond_sort_s"].iloc[1:].notna().all()

    name, _, reads, pandas_fn = bench.PRIMITIVES[2]  # the median of the last 7, with the SQL's frame one row longer
    monkeypatch.setattr(bench, "PRIMITIVES", [(name, f"list_median(list(v) {bench._frame(8)})", reads, pandas_fn)])
    with pytest.raises(AssertionError, match="disagree"):
        bench.run_primitives(n_series=12, days=70, repeats=1)
