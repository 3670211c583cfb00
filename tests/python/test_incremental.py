"""A daily incremental run of the detection mart must give the same rows as a full rebuild, also when a file restates
days the mart has already judged, when the detector's settings changed since, and when files are retracted."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.python.conftest import run_ml

pytestmark = pytest.mark.slow  # a pipeline of seven months

MART = ("build", "--select", "+fct_api_request_anomalies")  # the mart and what it reads (the call side is not needed)


def _mart(home: Path) -> pd.DataFrame:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    df = con.execute("select * from marts.fct_api_request_anomalies order by series_key, series_date").df()
    con.close()
    floats = df.select_dtypes("float").columns
    df[floats] = df[floats].round(6)
    return df


def _restate(original: Path, restated: Path, country: str) -> int:
    """A corrected delivery of `original`: the same rows, the plain counts of `country` doubled."""
    with original.open(newline="") as f:
        rows = list(csv.reader(f))
    changed = 0
    for row in rows[1:]:
        if row[1] == country and row[3].isdigit():
            row[3] = str(2 * int(row[3]))
            changed += 1
    with restated.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return changed


def test_daily_incremental_run_equals_full_rebuild(tmp_path: Path) -> None:
    # history longer than any window of the detector, so the incremental run really reads only its lookback
    home = tmp_path / "home"
    run_ml(home, "generate", "--start", "2023-09-01", "--end", "2024-04-14", "--calls-numbers", "2000")
    last = home / "landing" / "api_logs" / "api_requests_2024-04-14.csv"
    held_back = tmp_path / last.name
    shutil.move(last, held_back)
    run_ml(home, "ingest")
    run_ml(home, *MART)
    judged = _mart(home)
    shutil.move(held_back, last)  # the next day arrives
    # with a corrected file of a day already judged: the latest load wins in staging, and the mart must judge that
    # day again, and every day after it whose windows read it (before, it kept the stale verdicts)
    landing = home / "landing" / "api_logs"
    restated = landing / "api_requests_2024-04-08_restated.csv"
    assert _restate(landing / "api_requests_2024-04-08.csv", restated, "US") > 0
    # and a late file with a country no other file has (its series exist only through this file)
    late = landing / "api_requests_2024-04-10_late.csv"
    late.write_text("date,country,os,count\n2024-04-10,IS,Android,5000\n")
    run_ml(home, "ingest")
    run_ml(home, *MART)  # incremental: 2024-04-08 to 2024-04-14 are computed, from the stored state before them
    daily = _mart(home)
    us = daily[(daily["series_key"] == "US/*") & (daily["series_date"].astype(str).str[:10] == "2024-04-08")]
    before = judged[(judged["series_key"] == "US/*") & (judged["series_date"].astype(str).str[:10] == "2024-04-08")]
    assert us["value"].iloc[0] > 1.5 * before["value"].iloc[0]  # the restated day is judged on its new count
    # the full rebuild of the mart alone: its parents are tables rebuilt in full on every run, so it reads the
    # same inputs as a pipeline that saw every day at once
    run_ml(home, "build", "--full-refresh", "--select", "fct_api_request_anomalies")
    full = _mart(home)
    assert str(daily["series_date"].max())[:10] == str(full["series_date"].max())[:10] == "2024-04-14"
    pd.testing.assert_frame_equal(full, daily, check_like=True)
    # another setting and no new day: the daily run judges every day again under it (before, it wrote nothing and
    # the mart kept the old verdicts until a --full-refresh), as a full rebuild with that setting does
    k = ("--vars", "{anomaly_k: 2.5}")
    run_ml(home, *MART, *k)
    rejudged = _mart(home)
    assert rejudged["detector_settings"].nunique() == 1
    assert (rejudged["detector_settings"] != full["detector_settings"].iloc[0]).all()
    assert rejudged["is_anomaly"].sum() > full["is_anomaly"].sum()  # a narrower band flags more days
    run_ml(home, "build", "--full-refresh", "--select", "fct_api_request_anomalies", *k)
    pd.testing.assert_frame_equal(_mart(home), rejudged, check_like=True)
    # a warehouse built before the settings column (an upgrade): the daily run adds the column first (its query
    # reads it; before, it failed on the missing column) and judges again the rows no known settings judged
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("alter table marts.fct_api_request_anomalies drop column detector_settings")
    con.close()
    run_ml(home, *MART)
    pd.testing.assert_frame_equal(full, _mart(home), check_like=True)
    # files delivered by mistake, taken back (python -m ml retract): the restatement, the late file (its series
    # exist nowhere else) and the last day's file (the only one with 2024-04-14). The daily run judges the days
    # again from the first one they touched and equals a full rebuild: the restated day has its first count back,
    # and no row of the vanished series or of the vanished day is left. Before, a run rewrote only the keys it
    # wrote, so those rows stayed for good, and a judged day with no input at all went unseen.
    assert (daily["series_key"] == "IS/*").any()
    for name in (restated.name, late.name, last.name):
        run_ml(home, "retract", name, "--reason", "delivered by mistake")
    run_ml(home, *MART)
    retracted = _mart(home)
    assert str(retracted["series_date"].max())[:10] == "2024-04-13"
    assert not retracted["series_key"].str.startswith("IS/").any()
    us = retracted[
        (retracted["series_key"] == "US/*") & (retracted["series_date"].astype(str).str[:10] == "2024-04-08")
    ]
    assert us["value"].iloc[0] == before["value"].iloc[0]
    run_ml(home, "build", "--full-refresh", "--select", "fct_api_request_anomalies")
    pd.testing.assert_frame_equal(_mart(home), retracted, check_like=True)
    # the monitors of the deliveries count the files in use (int_loads_in_use): before, a retracted file still
    # added its rows to its day's volume and kept the feed's newest business day
    run_ml(home, "build", "--select", "+fct_volume_monitor +fct_freshness_monitor")
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        volume = dict(
            con.execute(
                "select cast(period_date as varchar), files from marts.fct_volume_monitor where feed = 'api_logs' "
                "and period_date >= '2024-04-08'"
            ).fetchall()
        )
        (latest_period,) = con.execute(
            "select cast(latest_period as varchar) from marts.fct_freshness_monitor where feed = 'api_logs'"
        ).fetchone()
    assert volume == {f"2024-04-{d:02d}": 1 for d in range(8, 14)}  # one file a day; 2024-04-14 had only its own
    assert latest_period == "2024-04-13"
