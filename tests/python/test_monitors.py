"""Monitors, alerts and the data-health report: inject broken deliveries (half a file, duplicated rows, a late
feed, a renamed column), see the right monitor fire, its alert sent once, the history keep both the failing
and the recovering run, and the report render in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ml.observability.alerts import AlertRun, JsonLinesSink, send_alerts
from tests.python.conftest import chromium_page, ml_env, ml_main, run_ml, screenshot_stats

pytestmark = pytest.mark.slow  # every test here reads a state built by generate, ingest and dbt build


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("monitors") / "home"
    run_ml(home, "generate", "--calls-numbers", "2000")
    run_ml(home, "ingest")
    run_ml(home, "build")
    return home


# after an API-log delivery: what the daily job rebuilds (`orchestration.jobs`: tag:anomaly and MONITORS)
DAILY = ("build", "--select", "tag:anomaly tag:data_quality tag:observability")


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


def _alert(home: Path) -> AlertRun:
    """What the pipeline's `data_alerts` step does, into the default JSON-lines sink."""
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        return send_alerts(con, JsonLinesSink(home / "alerts" / "alerts.jsonl"))


def _sent_all(home: Path) -> list[dict]:
    """Every alert line the sink received."""
    path = home / "alerts" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _sent(home: Path, key: str) -> list[dict]:
    """Every alert line the sink received for one finding."""
    return [a for a in _sent_all(home) if a["key"] == key]


def _alert_twice_sent_once(home: Path, key: str) -> dict:
    """Alert, alert again: the finding went out exactly once, and the second call sent nothing."""
    first = _alert(home)
    assert key in first.sent, f"{key} not sent; sent: {first.sent}"
    second = _alert(home)
    assert second.sent == [] and second.already_sent == first.already_sent + len(first.sent)
    (alert,) = _sent(home, key)
    return alert


def test_the_reference_extract_shows_its_missing_day(home: Path) -> None:
    """The generator drops every series' file on 2024-03-19 (an injected incident): the monitor sees the gap."""
    gaps = _q(home, "select feed, period_date, direction from marts.fct_volume_monitor where files = 0")
    assert [(f, str(d), x) for f, d, x in gaps] == [("api_logs", "2024-03-19", "missing")]
    assert _q(home, "select count(*) from marts.fct_volume_monitor where is_anomaly and files > 0") == [(0,)]
    assert _last_status(home, "no_missing_delivery") == "warn"
    assert _last_status(home, "volume_of_latest_delivery_is_normal") == "pass"
    alert = _alert_twice_sent_once(home, "volume:api_logs:2024-03-19:missing")
    assert (alert["severity"], alert["check"]) == ("warn", "no_missing_delivery")
    assert alert["title"].startswith("api_logs 2024-03-19: no file")
    # the monitor's test sampled the failing row itself (not a count of bad values)
    sample = _q(
        home,
        "select r.result_row from observability.test_result_rows r join observability.elementary_test_results t "
        "using (test_execution_id) where t.test_name = 'no_missing_delivery'",
    )
    assert sample and json.loads(sample[-1][0])["period_date"] == "2024-03-19"


def test_half_a_file_then_duplicated_rows_then_recovery(home: Path) -> None:
    _deliver_api_day(home, "2024-04-15", keep_every=2)  # half the rows missing
    run_ml(home, "ingest")
    run_ml(home, *DAILY)
    day, rows, anomaly, direction = _latest_api_volume(home)
    assert (str(day), anomaly, direction) == ("2024-04-15", True, "down")
    assert _last_status(home, "volume_of_latest_delivery_is_normal") == "warn"
    down = _alert_twice_sent_once(home, "volume:api_logs:2024-04-15:down")
    assert down["check"] == "volume_of_latest_delivery_is_normal" and "volume down" in down["title"]
    # per day on the model too: the validated rows of 2024-04-15 (Elementary-style volume_anomalies test)
    assert _last_status(home, "staged_api_requests_per_day_are_normal") == "warn"
    (per_day,) = [a for a in _sent_all(home) if a["check"] == "staged_api_requests_per_day_are_normal"]
    assert per_day["detail"]["sample_rows"][0]["period_date"] == "2024-04-15"
    assert per_day["detail"]["sample_rows"][0]["direction"] == "down"

    _deliver_api_day(home, "2024-04-16", copies=2)  # every row twice
    run_ml(home, "ingest")
    run_ml(home, *DAILY)
    assert _latest_api_volume(home)[2:] == (True, "up")
    run = _alert(home)
    assert "volume:api_logs:2024-04-16:up" in run.sent
    assert "volume:api_logs:2024-04-15:down" in run.resolved  # no longer the latest period: closed

    _deliver_api_day(home, "2024-04-17")  # a normal file
    run_ml(home, "ingest")
    run_ml(home, *DAILY)
    assert _latest_api_volume(home)[2] is False
    assert _last_status(home, "volume_of_latest_delivery_is_normal") == "pass"
    assert _last_status(home, "staged_api_requests_per_day_are_normal") == "pass"
    history = _q(
        home,
        "select status from observability.elementary_test_results "
        "where test_name = 'volume_of_latest_delivery_is_normal' order by detected_at",
    )
    assert [s for (s,) in history][-4:] == ["pass", "warn", "warn", "pass"]  # the history keeps all of it
    recovered = _alert(home)
    assert not [k for k in recovered.sent if k.startswith("volume:")]
    assert "volume:api_logs:2024-04-16:up" in recovered.resolved
    assert len(_sent(home, "volume:api_logs:2024-04-16:up")) == 1  # sent once over all these runs


def _build_at(home: Path, when: datetime) -> subprocess.CompletedProcess:
    """The monitors (models/marts/observability and their tests) rebuilt as if it were `when`."""
    now = f"{{observability_now: '{when:%Y-%m-%d %H:%M:%S}'}}"
    return ml_main(home, "build", "--vars", now, "--select", "models/marts/observability")


def test_a_late_feed_warns_and_a_stale_feed_fails_the_build(home: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    late = _build_at(home, now + timedelta(hours=40))  # no API-log file for 40 h (cadence 24 h + 6 h grace)
    assert late.returncode == 0
    statuses = dict(_q(home, "select feed, freshness_status from marts.fct_freshness_monitor"))
    assert statuses == {"api_logs": "late", "calls": "fresh", "call_labels": "fresh"}
    assert _last_status(home, "feeds_are_fresh") == "warn"
    late_alerts = [k for k in _alert(home).sent if k.startswith("freshness:")]
    assert len(late_alerts) == 1 and late_alerts[0].startswith("freshness:api_logs:late:")
    assert _alert(home).sent == []  # the same late feed is not alerted twice
    stale = _build_at(home, now + timedelta(days=4))  # more than three cadences: the build fails
    assert stale.returncode != 0 and "no_stale_feed" in stale.stdout + stale.stderr
    assert _last_status(home, "no_stale_feed") == "fail"
    escalated = _alert(home)  # the failed build still recorded its results: the escalation is alerted
    (stale_key,) = [k for k in escalated.sent if k.startswith("freshness:")]
    assert stale_key.startswith("freshness:api_logs:stale:") and _sent(home, stale_key)[0]["severity"] == "error"
    assert late_alerts[0] in escalated.resolved
    assert _build_at(home, now).returncode == 0  # files are recent again: fresh
    assert _last_status(home, "feeds_are_fresh") == "pass"
    assert stale_key in _alert(home).resolved


def test_the_monitors_clock_is_utc_whatever_the_machine_s_time_zone(home: Path) -> None:
    """Loads are stamped in UTC; the monitors' "now" was DuckDB's current_timestamp in the machine's zone, so on a
    machine in New York every feed looked five hours fresher than it was."""
    from ml.settings import PROJECT_DIR

    # a process of its own: DuckDB reads the machine's zone (TZ) when the process starts using it
    proc = subprocess.run(
        [sys.executable, "-m", "ml", "build", "--select", "fct_freshness_monitor"],
        cwd=PROJECT_DIR,
        env=ml_env(home, {"TZ": "America/New_York"}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ((checked_at,),) = _q(home, "select max(checked_at) from marts.fct_freshness_monitor")
    assert abs(checked_at - now) < timedelta(minutes=10)


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
    added = _alert_twice_sent_once(home, "schema:raw.calls_weekly.manual_spam_cnt:column_added:None->varchar")
    assert added["check"] == "no_recent_schema_change"
    assert _build_at(home, datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=25)).returncode == 0
    aged = _q(home, "select count(*) from marts.fct_schema_changes where is_recent")
    assert aged == [(0,)] and _last_status(home, "no_recent_schema_change") == "pass"  # reported, then aged out


def test_the_health_report_shows_it_all_and_renders_in_headless_chromium(home: Path, tmp_path: Path) -> None:
    """After the injections above: one self-contained page with every test's latest status and history, the
    failing rows, the monitors' plots and the alerts, opened in Chromium with no error and no network request."""
    from ml.observability.health import build_health_report

    report = tmp_path / "data_health.html"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        summary = build_health_report(con, report)
        n_defined = con.execute(
            "select (select count(*) from observability.dbt_tests) + count(distinct test_unique_id) "
            "from observability.elementary_test_results where test_type = 'unit'"
        ).fetchall()[0][0]
        n_ran = con.execute(  # in any build (the last ones rebuilt only the monitors)
            "select count(distinct test_unique_id) from observability.elementary_test_results"
        ).fetchall()[0][0]
    assert 100 < n_ran <= summary.tests <= n_defined  # every test that ran, none the project dropped
    assert summary.warning == ["no_missing_delivery"] and summary.failing == []  # 2024-03-19 is still missing
    html = report.read_text()
    assert "https://" not in html.replace("https://www.w3.org", "") and "<script src" not in html  # self-contained
    assert html.count("data:image/png;base64,") == 4  # outcomes, volume, freshness, quarantine plots

    with chromium_page(report.as_uri()) as (page, errors, requests):
        row = page.locator("#test-volume_of_latest_delivery_is_normal")
        strip = [s.get_attribute("title").split()[0] for s in row.locator(".strip span").all()]
        sample = page.locator("#samples").locator("xpath=following-sibling::div[1]").inner_text()
        alerts = page.locator("#alerts").locator("xpath=following-sibling::table[1]").inner_text()
        headers = page.locator("#source-schema").inner_text()  # said "none" while the answer named the column
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")  # scrolled sideways
        rows = page.locator("#tests-table tr.test-row")
        rows_total = rows.count()
        page.click("label[for=show-warn]")  # the status filter (CSS only: the page runs no script)
        shown = [rows.nth(i).get_attribute("id") for i in range(rows.count()) if rows.nth(i).is_visible()]
        page.click("label[for=show-all]")
        page.fill("#test-search", "volume_of_latest")  # the test search (the one inline script)
        found = [rows.nth(i).get_attribute("id") for i in range(rows.count()) if rows.nth(i).is_visible()]
        counted = page.locator("#test-search-count").inner_text()
        page.fill("#test-search", "")
        everything = sum(rows.nth(i).is_visible() for i in range(rows.count()))
        images = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        shot = tmp_path / "health.png"
        page.screenshot(path=str(shot))  # the first screen
    assert errors == []
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert len(images) == 4 and min(images) > 300  # every plot decoded and drawn
    assert "pass warn warn pass" in " ".join(strip)  # the failing and the recovering runs, in order
    assert "no_missing_delivery" in sample and "2024-03-19" in sample
    assert widths[0] <= widths[1]
    assert shown == ["test-no_missing_delivery"]
    assert found == ["test-volume_of_latest_delivery_is_normal"] and counted == f"1 of {rows_total} tests match"
    assert everything == rows_total
    assert "calls_2024-03-04.csv\tmanual_spam_count\tcolumn_added" in headers
    assert "calls_2024-04-15.csv\tmanual_spam_cnt\tcolumn_added" in headers  # the renamed column, above
    (down_row,) = [line for line in alerts.splitlines() if "api_logs 2024-04-15: volume down" in line]
    # sent, then resolved when a normal file came (the cell, not the row: the sink's path may say "popen-gw0")
    assert down_row.split("\t")[5].strip() not in ("", "open")
    drawn, colours = screenshot_stats(shot)
    assert drawn > 0.1 and colours > 1000  # the first screen is drawn: tiles and the outcomes plot
