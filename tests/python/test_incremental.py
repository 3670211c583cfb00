"""A daily incremental run of the detection mart must give the same rows as a full rebuild."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.python.conftest import run_ml

pytestmark = pytest.mark.slow  # two pipelines of seven months each

MART = ("build", "--select", "+fct_api_request_anomalies")  # the mart and what it reads (the call side is not needed)


def _mart(home: Path) -> pd.DataFrame:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    df = con.execute("select * from marts.fct_api_request_anomalies order by series_key, series_date").df()
    con.close()
    floats = df.select_dtypes("float").columns
    df[floats] = df[floats].round(6)
    return df


def test_daily_incremental_run_equals_full_rebuild(tmp_path: Path) -> None:
    # history longer than any window of the detector, so the incremental run really reads only its lookback
    full, daily = tmp_path / "full", tmp_path / "daily"
    run_ml(full, "generate", "--start", "2023-09-01", "--end", "2024-04-14", "--calls-numbers", "2000")
    shutil.copytree(full, daily)
    last = daily / "landing" / "api_logs" / "api_requests_2024-04-14.csv"
    held_back = tmp_path / last.name
    shutil.move(last, held_back)

    for home in (full, daily):
        run_ml(home, "ingest")
        run_ml(home, *MART)
    shutil.move(held_back, last)  # the next day arrives
    run_ml(daily, "ingest")
    run_ml(daily, *MART)  # incremental: only 2024-04-14 is computed

    a, b = _mart(full), _mart(daily)
    assert str(b["series_date"].max())[:10] == str(a["series_date"].max())[:10] == "2024-04-14"
    pd.testing.assert_frame_equal(a, b, check_like=True)
