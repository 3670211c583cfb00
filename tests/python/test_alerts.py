"""Alert delivery and de-duplication on a hand-made warehouse (no dbt run): the webhook sink, a sink that
fails, a finding that comes back after it was resolved, a failed run. What counts as a finding (the latest
result of the tests the project still defines, the monitors' states) is the dbt model fct_data_findings, whose
unit tests are in models/marts/observability/fct_data_findings.yml."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest

from ml.observability.alerts import AlertDeliveryError, JsonLinesSink, Links, WebhookSink, send_alerts

TEST = "test.sentinel.unique_fct_x_id.abc"


TEST_FINDING = {
    "test_unique_id": TEST,
    "test_execution_id": f"i1.{TEST}",
    "test_name": "unique_fct_x_id",
    "test": "unique",
    "model": "fct_x",
    "column_name": "id",
    "status": "fail",
    "failures": 3,
    "message": "Got 3 results",
    "detected_at": "2024-04-15 06:00:00",
}
FRESHNESS_FINDING = {
    "feed": "calls",
    "freshness_status": "late",
    "last_loaded_at": "2024-04-08 07:00:00",
    "latest_period": "2024-04-08",
    "hours_since_last_load": 200.0,
    "expected_every_hours": 168,
}


def _add_test_finding(c: duckdb.DuckDBPyConnection) -> None:
    c.execute(
        "insert into marts.fct_data_findings values (?, 'test', 'error', 'unique_fct_x_id', null, ?, 1, 1, ?)",
        [f"test:{TEST}:fail", f"i1.{TEST}", json.dumps(TEST_FINDING)],
    )


@pytest.fixture()
def con(tmp_path: Path):
    """What the alerts read, as dbt leaves it: the findings view (its SQL is unit-tested in dbt,
    models/marts/observability/fct_data_findings.yml) and the failing rows the run-history hook sampled."""
    c = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    c.execute("create schema observability; create schema marts")
    c.execute(
        "create table marts.fct_data_findings (finding_key varchar, kind varchar, severity varchar, "
        "check_name varchar, asset_name varchar, test_execution_id varchar, kind_rank integer, "
        "kind_position bigint, detail varchar)"
    )
    _add_test_finding(c)
    c.execute(
        "insert into marts.fct_data_findings values "
        "('freshness:calls:late:2024-04-08 07:00:00', 'freshness', 'warn', null, null, null, 3, 1, ?)",
        [json.dumps(FRESHNESS_FINDING)],
    )
    c.execute(
        "create table observability.test_result_rows as select * from (values "
        "('i1.' || $t, $t, timestamp '2024-04-15 06:00', '{\"id\": 7, \"n\": 2}')) "
        "t(test_execution_id, test_unique_id, detected_at, result_row)",
        {"t": TEST},
    )
    yield c
    c.close()


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_next = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_next:
            _Hook.fail_next -= 1
            self.send_response(500)
        else:
            _Hook.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture()
def webhook():
    _Hook.received, _Hook.fail_next = [], 0
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/secret"
    server.shutdown()


LINKS = Links(
    report=Path("/srv/reports/data_health.html"),
    dagster_url="http://dagster.internal:3000",
    check_assets={"unique_fct_x_id": ["marts", "fct_x"], "feeds_are_fresh": ["marts", "fct_freshness_monitor"]},
)


def test_a_failing_webhook_loses_nothing_and_each_alert_is_posted_once(con, webhook: str) -> None:
    _Hook.fail_next = 1  # the first POST gets a 500
    with pytest.raises(AlertDeliveryError, match="1 of 2 new alerts could not be sent") as err:
        send_alerts(con, WebhookSink(webhook), LINKS)
    assert len(err.value.run.sent) == 1 and len(_Hook.received) == 1
    retried = send_alerts(con, WebhookSink(webhook), LINKS)  # the refused one goes out on the next run
    assert retried.sent == err.value.run.failed and retried.already_sent == 1
    assert send_alerts(con, WebhookSink(webhook), LINKS).sent == []  # nothing twice
    assert len(_Hook.received) == 2

    by_text = {m["text"]: m for m in _Hook.received}
    (test_msg,) = [m for t, m in by_text.items() if "unique_fct_x_id" in t]
    assert test_msg["text"].startswith(":red_circle: [error] dbt test unique_fct_x_id on fct_x: fail (3 failing rows)")
    links = test_msg["blocks"][1]["elements"][0]["text"]  # Slack's <url|label> links back to the check
    assert "<http://dagster.internal:3000/assets/marts/fct_x?view=checks&checkDetail=unique_fct_x_id|check>" in links
    assert "file:///srv/reports/data_health.html#test-unique_fct_x_id|report>" in links
    (fresh_msg,) = [m for t, m in by_text.items() if "calls is late" in t]
    assert fresh_msg["text"].startswith(":warning: [warn] calls is late: no file for 200 h (expected every 168 h)")
    assert "checkDetail=feeds_are_fresh" in fresh_msg["blocks"][1]["elements"][0]["text"]


def test_a_resolved_finding_that_comes_back_is_alerted_again(con, tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "alerts.jsonl")
    first = send_alerts(con, sink)
    assert sorted(first.sent) == sorted([f"test:{TEST}:fail", "freshness:calls:late:2024-04-08 07:00:00"])
    alert = json.loads((tmp_path / "alerts.jsonl").read_text().splitlines()[0])
    assert alert["detail"]["sample_rows"] == [{"id": 7, "n": 2}]  # the failing rows the hook sampled

    con.execute("delete from marts.fct_data_findings where kind = 'test'")  # the test passes in the next build
    assert send_alerts(con, sink).resolved == [f"test:{TEST}:fail"]
    _add_test_finding(con)  # and fails again a day later: a new episode, a new alert
    assert send_alerts(con, sink).sent == [f"test:{TEST}:fail"]
    log = con.execute(
        "select count(*), count(resolved_at) from observability.alert_log where alert_key = ?", [f"test:{TEST}:fail"]
    ).fetchall()
    assert log == [(2, 1)]  # two episodes kept, the first one closed
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 3


def test_a_failed_run_is_alerted_once_and_resolved_when_its_job_recovers(con, tmp_path: Path) -> None:
    """A run that failed before its alert step sent nothing and left the health page green."""
    from ml.observability.alerts import record_run_failure, record_run_recovered

    sink = JsonLinesSink(tmp_path / "alerts.jsonl")
    failures = {"sentinel_dbt_models": "dbt build failed\n  caused by: test x failed", "later_step": "skipped"}
    for _ in range(2):  # `make run` and the failure sensor may both record it
        record_run_failure(con, "r1", "sentinel_pipeline", failures, at=datetime(2024, 4, 15, 6))
    first = send_alerts(con, sink, LINKS, now=datetime(2024, 4, 15, 7))
    assert "run:r1" in first.sent
    (alert,) = [json.loads(line) for line in sink.path.read_text().splitlines() if '"run:r1"' in line]
    assert alert["title"] == "run of sentinel_pipeline failed at sentinel_dbt_models, later_step: dbt build failed"
    assert send_alerts(con, sink, LINKS, now=datetime(2024, 4, 15, 8)).sent == []  # once per run
    record_run_recovered(con, "kpi_anomalies", at=datetime(2024, 4, 16))  # another job: still open
    assert "run:r1" not in send_alerts(con, sink, LINKS, now=datetime(2024, 4, 16, 1)).resolved
    record_run_recovered(con, "sentinel_pipeline", at=datetime(2024, 4, 16, 6))
    assert "run:r1" in send_alerts(con, sink, LINKS, now=datetime(2024, 4, 16, 7)).resolved


def _add_kpi_finding(c: duckdb.DuckDBPyConnection, series: str, start: str, end: str) -> None:
    detail = {
        "incident_key": f"{series}|down|{start}",
        "series_key": series,
        "level": "country_os",
        "direction": "down",
        "start_date": start,
        "end_date": end,
        "peak_value": 1152.0,
        "peak_expected_value": 2364.6,
        "explanation": "value 1152.0 is below the lower bound 1980.2",
    }
    c.execute(
        "insert into marts.fct_data_findings values (?, 'kpi_anomaly', 'warn', null, "
        "'fct_api_anomaly_detection_summary', null, 5, 1, ?)",
        [f"kpi:{detail['incident_key']}", json.dumps(detail)],
    )


class _RefusesOnce:
    """A sink that refuses the first withdrawal notice it is given."""

    name = "refuses-once"

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.refused = False

    def send(self, alert: dict) -> None:
        if alert["kind"] == "kpi_anomaly_withdrawn" and not self.refused:
            self.refused = True
            raise RuntimeError("503")
        self.sent.append(alert)


def test_a_kpi_incident_withdrawn_by_a_corrected_file_is_announced_once(con) -> None:
    """A restated file took a KPI incident away (the mart judges corrected days again): the alert that announced
    it was resolved without a word, so its recipients still believed it. An incident that vanishes while its days
    are in the detection period is now withdrawn with a notice; one that only grew older than the period is not."""
    con.execute("create schema intermediate")
    con.execute("create table intermediate.int_api_detection_period as select date '2024-04-16' as detection_start")
    _add_kpi_finding(con, "US/iOS", "2024-04-25", "2024-04-25")  # to be corrected away
    _add_kpi_finding(con, "DE/Android", "2024-04-10", "2024-04-15")  # announced last week, outlived now
    sink = _RefusesOnce()
    first = send_alerts(con, sink, LINKS)
    assert len(first.sent) == 4 and first.withdrawn == []

    con.execute("delete from marts.fct_data_findings where kind = 'kpi_anomaly'")
    with pytest.raises(AlertDeliveryError, match="withdrawn:kpi:US/iOS"):  # the sink refuses: nothing lost
        send_alerts(con, sink, LINKS)
    open_keys = {
        r[0] for r in con.execute("select alert_key from observability.alert_log where resolved_at is null").fetchall()
    }
    assert "kpi:US/iOS|down|2024-04-25" in open_keys  # kept open for the next run to withdraw
    assert "kpi:DE/Android|down|2024-04-10" not in open_keys  # outlived: resolved without a message

    again = send_alerts(con, sink, LINKS)
    assert again.withdrawn == again.resolved == ["kpi:US/iOS|down|2024-04-25"]  # withdrawn, and so resolved
    (notice,) = [a for a in sink.sent if a["kind"] == "kpi_anomaly_withdrawn"]
    assert notice["severity"] == "info" and notice["title"].startswith(
        "withdrawn: API requests US/iOS (country_os) down from 2024-04-25 to 2024-04-25: 1,152 vs 2,365 expected"
    )
    assert "late or corrected file" in notice["title"]
    assert send_alerts(con, sink, LINKS).withdrawn == []  # said once
    assert len([a for a in sink.sent if a["kind"] == "kpi_anomaly_withdrawn"]) == 1
