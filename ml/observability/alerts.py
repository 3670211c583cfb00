"""Alerts: each new failure or anomaly sent once to a sink, with a link back to the failing check.

What is alerted (`collect_findings`: the failed runs, then the dbt model `marts.fct_data_findings`, which
finds the rest and keys it), each with a stable key:
* a dbt test whose latest result is fail, warn or error: `test:<unique_id>:<status>` (a warn that turns into
  a fail is new; the same failure run after run is not). The tests of the monitor marts are alerted row by
  row instead, below, so each says which feed, period or column.
* volume (`fct_volume_monitor`): a period with no file, or the latest period out of bounds;
* freshness (`fct_freshness_monitor`): a late or stale feed, once per last load;
* schema (`fct_schema_changes`): a recent column added, removed or retyped;
* KPI anomalies (`fct_api_anomaly_detection_summary`): each incident of the detection period.

De-duplication: `observability.alert_log` keeps every alert sent. A finding whose key is open there is not
sent again; a key that is no longer found is marked resolved, so the same problem coming back later is a new
alert. A KPI incident that vanishes while its days are still in the detection period was withdrawn, not
outlived: a late or corrected file changed those days and the detector no longer finds it. Its recipients were
told it happened, so they are told it is withdrawn (`withdrawn:<key>`, severity info); outlived incidents (older
than the period) and the other kinds are resolved without a message. An alert is recorded right after its sink
accepted it: a sink that fails leaves it unrecorded, to be sent by the next run (at least once, never silently
dropped).

Sinks: a Slack-compatible incoming webhook when SENTINEL_ALERT_WEBHOOK_URL is set, else a JSON-lines file
(SENTINEL_ALERT_FILE, default $SENTINEL_HOME/alerts/alerts.jsonl).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from ml.logs import log_event, timed
from ml.observability.queries import failing_rows
from ml.pages import num
from ml.settings import Settings
from ml.sql import records, relations

# the dbt test (Dagster asset check) each monitor finding links back to, by the finding's state
MONITOR_CHECKS = {
    "missing": "no_missing_delivery",
    "volume": "volume_of_latest_delivery_is_normal",
    "late": "feeds_are_fresh",
    "stale": "no_stale_feed",
    "schema": "no_recent_schema_change",
}


@dataclass(frozen=True)
class Finding:
    key: str  # identity of the problem: one alert per key while it lasts
    kind: str  # test | volume | freshness | schema | kpi_anomaly | kpi_anomaly_withdrawn (a notice)
    severity: str  # error | warn | info (a notice)
    title: str
    detail: dict[str, Any]
    check: str | None = None  # the dbt test, i.e. the Dagster asset check, to link back to
    asset: str | None = None  # the model, when there is no check (KPI anomalies)


@dataclass(frozen=True)
class Links:
    """Where an alert points: the Dagster asset check (when the check's asset is known) and the section of the
    data-health report."""

    report: Path | None = None
    dagster_url: str | None = None
    check_assets: Mapping[str, Sequence[str]] = field(default_factory=dict)  # check name -> asset key path
    model_assets: Mapping[str, Sequence[str]] = field(default_factory=dict)  # model name -> asset key path

    def _asset_url(self, path: Sequence[str], query: dict[str, str] | None = None) -> str:
        url = f"{self.dagster_url.rstrip('/')}/assets/" + "/".join(urllib.parse.quote(p, safe="") for p in path)
        return url + ("?" + urllib.parse.urlencode(query) if query else "")

    def for_check(self, check: str) -> str | None:
        """The check's page in the Dagster UI (its asset's "Checks" tab, the check opened)."""
        if not (self.dagster_url and check in self.check_assets):
            return None
        return self._asset_url(self.check_assets[check], {"view": "checks", "checkDetail": check})

    def for_finding(self, f: Finding) -> dict[str, str]:
        out = {}
        if check_url := (f.check and self.for_check(f.check)):
            out["check"] = check_url
        elif self.dagster_url and f.asset and f.asset in self.model_assets:
            out["asset"] = self._asset_url(self.model_assets[f.asset])
        if self.report:
            out["report"] = f"{self.report.resolve().as_uri()}#{anchor(f)}"
        return out


def anchor(f: Finding) -> str:
    """The report section of a finding: the test's own row, or the monitor's section."""
    return {"test": f"test-{f.check}", "kpi_anomaly": "alerts", "kpi_anomaly_withdrawn": "alerts"}.get(f.kind, f.kind)


class Sink(Protocol):
    name: str

    def send(self, alert: dict[str, Any]) -> None: ...


class JsonLinesSink:
    """One JSON object per line, appended (the default: nothing to configure, easy to tail or ship)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = f"jsonl:{self.path}"

    def send(self, alert: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(alert, default=str, sort_keys=True) + "\n")


class WebhookSink:
    """A Slack-compatible incoming webhook: POST {"text", "blocks"} as JSON; any non-2xx answer is a failure."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url
        self.timeout = timeout
        self.name = f"webhook:{urllib.parse.urlsplit(url).netloc}"  # never log the secret path

    def send(self, alert: dict[str, Any]) -> None:
        body = json.dumps(slack_message(alert), default=str).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # raises HTTPError on 4xx/5xx
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"webhook answered {resp.status}")


def slack_message(alert: dict[str, Any]) -> dict[str, Any]:
    icon = {"error": ":red_circle:", "warn": ":warning:"}.get(alert["severity"], ":information_source:")
    links = " | ".join(f"<{url}|{name}>" for name, url in alert["links"].items())
    facts = ", ".join(f"{k}: {v}" for k, v in alert["detail"].items() if v is not None and k != "sample_rows")
    text = f"{icon} [{alert['severity']}] {alert['title']}"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*\n{facts}"}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return {"text": text, "blocks": blocks}


def sink_for(settings: Settings) -> Sink:
    """The webhook when one is set (SENTINEL_ALERT_WEBHOOK_URL), else the JSON-lines file."""
    if settings.alert_webhook_url:
        return WebhookSink(settings.alert_webhook_url)
    return JsonLinesSink(settings.alerts_file)


class AlertDeliveryError(RuntimeError):
    """Some alerts could not be sent; they stay unrecorded and the next run sends them."""

    def __init__(self, message: str, run: AlertRun):
        super().__init__(message)
        self.run = run


@dataclass
class AlertRun:
    sink: str
    findings: int = 0
    sent: list[str] = field(default_factory=list)
    already_sent: int = 0
    resolved: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


ALERT_LOG_DDL = """
create schema if not exists observability;
create table if not exists observability.alert_log (
    alert_key varchar,      -- Finding.key
    kind varchar,
    severity varchar,
    title varchar,
    check_name varchar,
    sent_at timestamp,
    sink varchar,
    alert varchar,          -- the alert as sent, JSON
    resolved_at timestamp   -- null while the finding is still there
)
"""


RUN_FAILURES_DDL = """
create schema if not exists observability;
create table if not exists observability.run_failures (
    run_id varchar primary key,   -- the failed Dagster run
    job varchar,
    failed_steps varchar,         -- comma-separated step keys
    error varchar,                -- the first failed step's error with its causes
    failed_at timestamp,
    recovered_at timestamp        -- when a later run of the same job got to its alerts (null: open)
)
"""


def _ensure_run_failures(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in RUN_FAILURES_DDL.split(";"):
        if stmt.strip():
            con.execute(stmt)


def record_run_failure(
    con: duckdb.DuckDBPyConnection, run_id: str, job: str, failures: dict[str, str], at: datetime | None = None
) -> None:
    """A failed run becomes a finding (once per run: re-recording it changes nothing) until the job recovers."""
    _ensure_run_failures(con)
    at = at or datetime.now(UTC).replace(tzinfo=None)
    first = next(iter(failures.values()), "no step failed: the run itself failed")
    con.execute(
        "insert into observability.run_failures values (?, ?, ?, ?, ?, null) on conflict do nothing",
        [run_id, job, ", ".join(failures) or "-", _clip_lines(first), at],
    )


def _clip_lines(text: str, line: int = 1_000, total: int = 20_000) -> str:
    """An error for the alert: each line clipped (dagster-dbt's first line holds the whole dbt command, the
    failing test comes after it), the whole bounded."""
    return "\n".join(x if len(x) <= line else f"{x[:line]}..." for x in text.splitlines())[:total]


def record_run_recovered(con: duckdb.DuckDBPyConnection, job: str, at: datetime | None = None) -> None:
    """A run of `job` reached its alerts: its earlier failures are resolved."""
    _ensure_run_failures(con)
    at = at or datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        "update observability.run_failures set recovered_at = ? where job = ? and recovered_at is null and "
        "failed_at < ?",
        [at, job, at],
    )


def _run_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """The runs that failed and have not recovered (the orchestrator's log, not a mart: a run can fail before
    dbt ever built the findings view)."""
    if "observability.run_failures" not in relations(con):
        return []
    return [
        Finding(
            key=f"run:{r['run_id']}",
            kind="run",
            severity="error",
            title=f"run of {r['job']} failed at {r['failed_steps']}: {r['error'].splitlines()[0][:200]}",
            detail={k: r[k] for k in ("run_id", "job", "failed_steps", "error", "failed_at")},
        )
        for r in records(
            con,
            "select run_id, job, failed_steps, error, failed_at from observability.run_failures "
            "where recovered_at is null order by failed_at",
        )
    ]


def _title(kind: str, d: dict[str, Any]) -> str:
    """One line that says what is wrong, from a finding's detail (`marts.fct_data_findings.detail`)."""
    if kind == "test":
        return f"dbt test {d['test_name']} on {d['model']}: {d['status']} ({d['failures']} failing rows)"
    if kind == "volume":
        got = "no file" if d["direction"] == "missing" else f"volume {d['direction']}, {_num(d['rows_appended'])} rows"
        return (
            f"{d['feed']} {d['period_date']}: {got} (expected {_num(d['expected_value'])} rows, "
            f"normal range [{_num(d['lower_bound'])}, {_num(d['upper_bound'])}])"
        )
    if kind == "freshness":
        return (
            f"{d['feed']} is {d['freshness_status']}: no file for {_num(d['hours_since_last_load'])} h "
            f"(expected every {d['expected_every_hours']} h)"
        )
    if kind == "schema":
        return (
            f"{d['relation']}.{d['column_name']}: {d['change_type'].replace('_', ' ')} "
            f"({d['previous_type'] or '-'} -> {d['current_type'] or '-'})"
        )
    return (  # kpi_anomaly
        f"API requests {d['series_key']} ({d['level']}) {d['direction']} from {d['start_date']} "
        f"to {d['end_date']}: {_num(d['peak_value'])} vs {_num(d['peak_expected_value'])} expected"
    )


def _monitor_check(kind: str, d: dict[str, Any]) -> str | None:
    """The dbt test (Dagster asset check) a monitor finding links back to, by its state."""
    if kind == "volume":
        return MONITOR_CHECKS["missing" if d["direction"] == "missing" else "volume"]
    if kind == "freshness":
        return MONITOR_CHECKS["stale" if d["freshness_status"] == "stale" else "late"]
    if kind == "schema":
        return MONITOR_CHECKS["schema"]
    return None


def collect_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Everything wrong now: the runs that failed, then `marts.fct_data_findings` (the tests, the monitors and
    the KPI incidents, as dbt found them; absent before the first build), each with a title and its link."""
    out = _run_findings(con)
    have = relations(con)
    if "marts.fct_data_findings" not in have:
        return out
    rows = records(con, "select * from marts.fct_data_findings order by kind_rank, kind_position")
    samples = failing_rows(con, have, [r["test_execution_id"] for r in rows if r["test_execution_id"]])
    for r in rows:
        d = json.loads(r["detail"])
        if r["kind"] == "test":
            detail = {k: d[k] for k in ("test", "model", "failures", "message", "detected_at")}
            detail["column"] = d["column_name"]
            detail["sample_rows"] = samples.get(r["test_execution_id"], [])
        else:
            detail = d
        out.append(
            Finding(
                key=r["finding_key"],
                kind=r["kind"],
                severity=r["severity"],
                title=_title(r["kind"], d),
                detail=detail,
                check=r["check_name"] or _monitor_check(r["kind"], d),
                asset=r["asset_name"],
            )
        )
    return out


def _num(v: Any) -> str:
    return num(v) or "-"


def _withdrawal_notices(con: duckdb.DuckDBPyConnection, vanished: list[str]) -> list[Finding]:
    """A notice for each vanished KPI incident whose last day is still in the detection period (withdrawn, not
    outlived), from the alert that announced it."""
    kpi = [k for k in vanished if k.startswith("kpi:")]
    if not kpi or "intermediate.int_api_detection_period" not in relations(con):
        return []
    (start,) = con.execute("select detection_start from intermediate.int_api_detection_period").fetchone()
    notices = []
    for key, sent in con.execute(
        "select alert_key, alert from observability.alert_log where resolved_at is null and alert_key in "
        f"({', '.join('?' for _ in kpi)}) order by sent_at, alert_key",
        kpi,
    ).fetchall():
        announced = json.loads(sent)
        if str(announced["detail"]["end_date"])[:10] < str(start)[:10]:
            continue  # outlived: older than the period, nothing to withdraw
        notices.append(
            Finding(
                key=f"withdrawn:{key}",
                kind="kpi_anomaly_withdrawn",
                severity="info",
                title=f"withdrawn: {announced['title']} (no longer found: a late or corrected file changed those days)",
                detail={"withdrawn_key": key, **announced["detail"]},
                asset="fct_api_anomaly_detection_summary",
            )
        )
    return notices


def _deliver(
    con: duckdb.DuckDBPyConnection,
    sink: Sink,
    f: Finding,
    links: Links,
    now: datetime,
    errors: list[str],
    resolved_at: datetime | None = None,
) -> bool:
    """Send one alert and record it in the log (a notice is recorded resolved: nothing stays open); a sink that
    refuses it leaves it unrecorded, its error in `errors`."""
    alert = {
        "key": f.key,
        "kind": f.kind,
        "severity": f.severity,
        "title": f.title,
        "detail": f.detail,
        "check": f.check,
        "links": links.for_finding(f),
        "sent_at": now.isoformat(),
    }
    try:
        sink.send(alert)
    except Exception as exc:  # noqa: BLE001 - any sink failure: keep the alert for the next run
        errors.append(f"{f.key}: {exc}")
        log_event("alerts.send_failed", key=f.key, sink=sink.name, error=str(exc))
        return False
    con.execute(
        "insert into observability.alert_log values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [f.key, f.kind, f.severity, f.title, f.check, now, sink.name, json.dumps(alert, default=str), resolved_at],
    )
    return True


def send_alerts(
    con: duckdb.DuckDBPyConnection, sink: Sink, links: Links | None = None, now: datetime | None = None
) -> AlertRun:
    """Send every finding not already alerted, mark the vanished ones resolved. Raises AlertDeliveryError
    (after trying every alert) when the sink refused some: those are sent again by the next call."""
    links = links or Links()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    for stmt in ALERT_LOG_DDL.split(";"):
        if stmt.strip():
            con.execute(stmt)
    run = AlertRun(sink=sink.name)
    with timed("alerts", sink=sink.name) as facts:
        findings = collect_findings(con)
        run.findings = len(findings)
        open_sql = "select alert_key from observability.alert_log where resolved_at is null"
        open_keys = {r[0] for r in con.execute(open_sql).fetchall()}
        errors = []
        for f in findings:
            if f.key in open_keys:
                run.already_sent += 1
                continue
            if _deliver(con, sink, f, links, now, errors):
                run.sent.append(f.key)
            else:
                run.failed.append(f.key)
        found = {f.key for f in findings}
        vanished = sorted(open_keys - found)
        for notice in _withdrawal_notices(con, vanished):
            withdrawn = notice.detail["withdrawn_key"]
            if _deliver(con, sink, notice, links, now, errors, resolved_at=now):
                run.withdrawn.append(withdrawn)
            else:  # the incident stays open: the next run tries the notice again
                run.failed.append(notice.key)
                vanished.remove(withdrawn)
        run.resolved = vanished
        if run.resolved:
            con.execute(
                "update observability.alert_log set resolved_at = ? where resolved_at is null and alert_key in "
                f"({', '.join('?' for _ in run.resolved)})",
                [now, *run.resolved],
            )
        facts.update(findings=run.findings, sent=len(run.sent), already_sent=run.already_sent,
                     resolved=len(run.resolved), withdrawn=len(run.withdrawn), failed=len(run.failed))  # fmt: skip
    if errors:
        raise AlertDeliveryError(
            f"{len(errors)} of {len(errors) + len(run.sent)} new alerts could not be sent to {sink.name} "
            f"(they will be sent by the next run); first: {errors[0]}",
            run,
        )
    return run
