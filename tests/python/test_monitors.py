"""Volume and freshness monitors: inject broken deliveries, see the right monitor fire and then recover."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ml.settings import PROJECT_DIR
from tests.python.conftest import run_ml


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("monitors") / "home"
    run_ml(home, "generate", "--calls-numbers", "2000")
    run_ml(home, "ingest")
    run_ml(home, "build")
    return home


def _q(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _deliver_api_day(home: Path, day: str, keep_every: int = 1, copies: int = 1) -> None:
    """A new daily API-log file made from the last one, re-dated; optionally thinned or with duplicated rows."""
    landing = home / "landing" / "api_logs"
    header, *rows = (landing / "api_requests_2024-04-14.csv").read_text().splitlines()
    rows = [r.replace("2024-04-14", day) for r in rows][::keep_every] * copies
    (landing / f"api_requests_{day}.csv").write_text("\n".join([header, *rows]) + "\n")


def _latest_api_volume(home: Path) -> tuple:
    return _q(
        home,
        "select period_date, rows_appended, is_anomaly, direction from marts.fct_volume_monitor "
        "where feed = 'api_logs' and is_latest_period",
    )[0]


def _last_status(home: Path, test_name: str) -> str:
    return _q(
        home,
        "select status from observability.elementary_test_results where test_name = ? "
        "order by detected_at desc limit 1".replace("?", f"'{test_name}'"),
    )[0][0]


def test_the_reference_extract_shows_its_missing_day(home: Path) -> None:
    """The generator drops every series' file on 2024-03-19 (an injected incident): the monitor sees the gap."""
    gaps = _q(home, "select feed, period_date, direction from marts.fct_volume_monitor where files = 0")
    assert [(f, str(d), x) for f, d, x in gaps] == [("api_logs", "2024-03-19", "missing")]
    assert _q(home, "select count(*) from marts.fct_volume_monitor where is_anomaly and files > 0") == [(0,)]
    assert _last_status(home, "no_missing_delivery") == "warn"
    assert _last_status(home, "volume_of_latest_delivery_is_normal") == "pass"


def test_half_a_file_then_duplicated_rows_then_recovery(home: Path) -> None:
    _deliver_api_day(home, "2024-04-15", keep_every=2)  # half the rows missing
    run_ml(home, "ingest")
    run_ml(home, "build")
    day, rows, anomaly, direction = _latest_api_volume(home)
    assert (str(day), anomaly, direction) == ("2024-04-15", True, "down")
    assert _last_status(home, "volume_of_latest_delivery_is_normal") == "warn"

    _deliver_api_day(home, "2024-04-16", copies=2)  # every row twice
    run_ml(home, "ingest")
    run_ml(home, "build")
    assert _latest_api_volume(home)[2:] == (True, "up")

    _deliver_api_day(home, "2024-04-17")  # a normal file
    run_ml(home, "ingest")
    run_ml(home, "build")
    assert _latest_api_volume(home)[2] is False
    assert _last_status(home, "volume_of_latest_delivery_is_normal") == "pass"
    history = _q(
        home,
        "select status from observability.elementary_test_results "
        "where test_name = 'volume_of_latest_delivery_is_normal' order by detected_at",
    )
    assert [s for (s,) in history][-4:] == ["pass", "warn", "warn", "pass"]  # the history keeps all of it


def _build_at(home: Path, when: datetime) -> subprocess.CompletedProcess:
    env = {**os.environ, "SENTINEL_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "ml", "build", "--vars", f"{{observability_now: '{when:%Y-%m-%d %H:%M:%S}'}}"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_late_feed_warns_and_a_stale_feed_fails_the_build(home: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    late = _build_at(home, now + timedelta(hours=40))  # no API-log file for 40 h (cadence 24 h + 6 h grace)
    assert late.returncode == 0
    statuses = dict(_q(home, "select feed, freshness_status from marts.fct_freshness_monitor"))
    assert statuses == {"api_logs": "late", "calls": "fresh", "call_labels": "fresh"}
    assert _last_status(home, "feeds_are_fresh") == "warn"
    stale = _build_at(home, now + timedelta(days=4))  # more than three cadences: the build fails
    assert stale.returncode != 0 and "no_stale_feed" in stale.stdout + stale.stderr
    assert _last_status(home, "no_stale_feed") == "fail"
    assert _build_at(home, now).returncode == 0  # files are recent again: fresh
    assert _last_status(home, "feeds_are_fresh") == "pass"


def test_a_renamed_and_a_retyped_column_are_reported_then_age_out(home: Path) -> None:
    calls = home / "landing" / "calls"
    header, *rows = (calls / "calls_2024-04-08.csv").read_text().splitlines()
    renamed = header.replace("manual_spam_count", "manual_spam_cnt")  # the source renamed a column
    (calls / "calls_2024-04-15.csv").write_text("\n".join([renamed, *rows]) + "\n")
    run_ml(home, "ingest")  # schema evolution: the new name becomes a new raw column
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:  # and a type changes under a relation
        con.execute("alter table raw.api_ground_truth_incidents alter column factor type float")
    run_ml(home, "build")
    changes = _q(
        home,
        "select table_schema || '.' || table_name, column_name, change_type, previous_type, current_type "
        "from marts.fct_schema_changes where is_recent order by 1, 2",
    )
    assert ("raw.calls_weekly", "manual_spam_cnt", "column_added", None, "varchar") in changes
    assert ("raw.api_ground_truth_incidents", "factor", "type_changed", "double", "float") in changes
    assert _last_status(home, "no_recent_schema_change") == "warn"
    by_file = _q(
        home,
        "select column_name, change_type from marts.fct_source_schema_changes "
        "where file_name = 'calls_2024-04-15.csv' order by 1",
    )
    assert by_file == [("manual_spam_cnt", "column_added"), ("manual_spam_count", "column_removed")]
    assert _build_at(home, datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=25)).returncode == 0
    aged = _q(home, "select count(*) from marts.fct_schema_changes where is_recent")
    assert aged == [(0,)] and _last_status(home, "no_recent_schema_change") == "pass"  # reported, then aged out
