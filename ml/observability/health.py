"""The data-health report: one self-contained HTML page (plots inlined as PNG, no external files, no script)
with the latest status of every dbt test and monitor, its history, samples of failing rows, the monitors'
plots, the quarantine and the alerts sent. Read from the warehouse's `observability` schema (the run-history
hook) and the monitor marts; built by `python -m orchestration health` and the Dagster asset `data_health_report`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ml.logs import timed
from ml.observability.alerts import Links
from ml.observability.queries import failing_rows, quarantine_by_reason
from ml.pages import COLOURS, plt, png, write_page
from ml.settings import Settings
from ml.sql import records, relations

HISTORY = 20  # results per test shown as a strip
INVOCATIONS = 30  # invocations in the outcome plot
STATUS_ORDER = ("error", "fail", "warn", "pass")


@dataclass(frozen=True)
class HealthSummary:
    path: Path
    tests: int
    by_status: dict[str, int]  # latest status of every test
    failing: list[str]  # tests whose latest status is fail or error
    warning: list[str]
    open_alerts: int
    invocations: int


def _plot_outcomes(invocations: list[dict]) -> str | None:
    if not invocations:
        return None
    fig, ax = plt.subplots(figsize=(10, 2.8))
    x = range(len(invocations))
    bottom = [0] * len(invocations)
    for status in ("pass", "warn", "fail", "error"):
        h = [inv[status] for inv in invocations]
        ax.bar(x, h, bottom=bottom, color=COLOURS[status], label=status, width=0.8)
        bottom = [b + v for b, v in zip(bottom, h, strict=True)]
    ax.set_xticks(list(x), [inv["started"].strftime("%m-%d %H:%M") for inv in invocations], rotation=60, fontsize=7)
    ax.set_ylabel("tests")
    ax.set_title(f"Test outcomes of the last {len(invocations)} dbt invocations", fontsize=10)
    ax.legend(ncol=4, fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.45))
    return png(fig)


def _plot_volume(volume: list[dict]) -> str | None:
    feeds = sorted({r["feed"] for r in volume})
    if not feeds:
        return None
    fig, axes = plt.subplots(len(feeds), 1, figsize=(10, 2.3 * len(feeds)), squeeze=False)
    for ax, feed in zip(axes[:, 0], feeds, strict=True):
        rows = [r for r in volume if r["feed"] == feed]
        d = [r["period_date"] for r in rows]
        ax.fill_between(
            d,
            [r["lower_bound"] if r["lower_bound"] is not None else float("nan") for r in rows],
            [r["upper_bound"] if r["upper_bound"] is not None else float("nan") for r in rows],
            color="#90caf9",
            alpha=0.5,
            label="normal range",
        )
        ax.plot(d, [r["rows_appended"] if r["rows_appended"] is not None else float("nan") for r in rows],
                color="#1565c0", marker=".", label="rows appended")  # fmt: skip
        flagged = [r for r in rows if r["is_anomaly"] and r["direction"] != "missing"]
        ax.scatter([r["period_date"] for r in flagged], [r["rows_appended"] for r in flagged], color="#c62828",
                   zorder=3, label="anomaly")  # fmt: skip
        for r in rows:
            if r["direction"] == "missing":
                ax.axvline(r["period_date"], color="#c62828", linestyle="--", linewidth=1)
        ax.set_title(f"{feed}: rows per period (dashed line: no file)", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return png(fig)


def _plot_freshness(freshness: list[dict]) -> str | None:
    if not freshness:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.5 * len(freshness)))
    feeds = [r["feed"] for r in freshness]
    hours = [r["hours_since_last_load"] or 0 for r in freshness]
    colours = [{"fresh": COLOURS["pass"], "late": COLOURS["warn"]}.get(r["freshness_status"], COLOURS["fail"])
               for r in freshness]  # fmt: skip
    ax.barh(feeds, hours, color=colours)
    limits = [r["expected_every_hours"] + r["grace_hours"] for r in freshness]
    for i in range(len(freshness)):
        ax.plot([limits[i]] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
    # a feed loaded minutes ago is a bar too thin to see next to a 174 h limit (the chart looked empty): the
    # labels say it in words
    ax.set_yticks(
        range(len(feeds)),
        [f"{f}: {h:.1f} h, {r['freshness_status']}" for f, h, r in zip(feeds, hours, freshness, strict=True)],
    )
    ax.set_xlim(0, 1.1 * max(*hours, *limits))
    ax.set_xlabel("hours since the last file (black: cadence + grace)")
    ax.set_title("Freshness per feed", fontsize=10)
    return png(fig)


def plot_quarantine(quarantine: list[dict]) -> str | None:
    if not quarantine:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.32 * len(quarantine)))
    labels = [f"{r['feed']}: {r['rejection_reason']}" for r in quarantine]
    ax.barh(labels, [r["rows"] for r in quarantine], color="#6d4c41")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("rejected rows (log scale)")
    ax.tick_params(labelsize=7)
    ax.set_title("Quarantined rows by reason", fontsize=10)
    return png(fig)


def gather(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Everything the report shows, as plain records (a relation not built yet gives an empty section)."""
    have = relations(con)
    sections = ("tests", "models", "invocations", "volume", "freshness", "schema", "source_schema", "quarantine")
    data: dict[str, Any] = {k: [] for k in (*sections, "alerts", "samples")}
    if "marts.fct_dbt_test_status_latest" in have:  # the dbt models over the run history
        data["tests"] = records(
            con,
            """
            select test_unique_id, test_name, test_short_name, test_type, model_name as model, model_unique_id,
                column_name, severity, status, failures, message, test_execution_id, last_run_at as last_run,
                runs, failed_runs
            from marts.fct_dbt_test_status_latest
            order by
                case status when 'error' then 0 when 'fail' then 1 when 'warn' then 2 else 3 end, model, test_name
            """,
        )
        history: dict[str, list[dict[str, Any]]] = {}
        for r in records(
            con,
            f"""
            select test_unique_id, status, detected_at as at from marts.fct_dbt_test_history
            where result_rank <= {HISTORY} order by test_unique_id, detected_at
            """,
        ):
            history.setdefault(r.pop("test_unique_id"), []).append(r)
        for t in data["tests"]:
            t["history"] = history.get(t["test_unique_id"], [])
    if "observability.elementary_test_results" in have:
        data["invocations"] = list(reversed(records(
            con,
            f"""
            select invocation_id, min(detected_at) as started, any_value(code_version) as code_version,
                count(*) filter (where status = 'pass') as pass, count(*) filter (where status = 'warn') as warn,
                count(*) filter (where status = 'fail') as fail, count(*) filter (where status = 'error') as error
            from observability.elementary_test_results
            group by invocation_id
            order by started desc
            limit {INVOCATIONS}
            """,
        )))  # fmt: skip
    failing = [t for t in data["tests"] if t["status"] in ("fail", "warn")]
    rows = failing_rows(con, have, [t["test_execution_id"] for t in failing])
    for t in failing:
        if parsed := rows.get(t["test_execution_id"]):
            cols = list(dict.fromkeys(k for r in parsed for k in r))
            data["samples"].append({"test": t, "columns": cols, "rows": [[r.get(c) for c in cols] for r in parsed]})
    if "observability.dbt_run_results" in have:
        data["models"] = records(
            con,
            """
            select name, resource_type, materialization,
                arg_max(status, generated_at) as status, arg_max(message, generated_at) as message,
                arg_max(rows_affected, generated_at) as rows_affected,
                arg_max(execution_time, generated_at) as execution_time,
                max(generated_at) as last_run, count(*) as runs,
                count(*) filter (where status = 'error') as errors
            from observability.dbt_run_results
            where status <> 'skipped'
            group by all
            order by case arg_max(status, generated_at) when 'error' then 0 else 1 end, resource_type, name
            """,
        )
    if "marts.fct_volume_monitor" in have:
        data["volume"] = records(con, "select * from marts.fct_volume_monitor order by feed, period_date")
    if "marts.fct_freshness_monitor" in have:
        data["freshness"] = records(con, "select * from marts.fct_freshness_monitor order by feed")
    if "marts.fct_schema_changes" in have:
        data["schema"] = records(con, "select * from marts.fct_schema_changes order by detected_at desc limit 200")
    if "marts.fct_source_schema_changes" in have:  # what the delivered files' headers changed (the answer's line)
        data["source_schema"] = records(
            con, "select * from marts.fct_source_schema_changes order by loaded_at desc, column_name limit 200"
        )
    data["quarantine"] = quarantine_by_reason(con, have)
    if "observability.alert_log" in have:
        data["alerts"] = records(
            con,
            "select alert_key, kind, severity, title, check_name, sent_at, sink, resolved_at, alert "
            "from observability.alert_log order by sent_at desc, alert_key limit 200",
        )
        for a in data["alerts"]:
            a["links"] = json.loads(a.pop("alert")).get("links", {})
    return data


def build_health_report(con: duckdb.DuckDBPyConnection, path: Path, links: Links | None = None) -> HealthSummary:
    """Write the report to `path` (atomically: readers never see half a page) and summarise it."""
    links = links or Links()
    with timed("health_report", path=str(path)) as facts:
        data = gather(con)
        by_status = {s: sum(1 for t in data["tests"] if t["status"] == s) for s in STATUS_ORDER}
        open_alerts = [a for a in data["alerts"] if a["resolved_at"] is None]
        for t in data["tests"]:
            t["link"] = links.for_check(t["test_name"])
        size = write_page(
            Path(__file__).parent / "templates",
            "health.html.j2",
            path,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            code_version=Settings.from_env().code_version
            or (data["invocations"][-1]["code_version"] if data["invocations"] else "unknown"),
            by_status=by_status,
            colours=COLOURS,
            open_alerts=open_alerts,
            plots={
                "outcomes": _plot_outcomes(data["invocations"]),
                "volume": _plot_volume(data["volume"]),
                "freshness": _plot_freshness(data["freshness"]),
                "quarantine": plot_quarantine(data["quarantine"]),
            },
            **data,
        )
        facts.update(tests=len(data["tests"]), invocations=len(data["invocations"]), bytes=size)
    return HealthSummary(
        path=path,
        tests=len(data["tests"]),
        by_status=by_status,
        failing=[t["test_name"] for t in data["tests"] if t["status"] in ("fail", "error")],
        warning=[t["test_name"] for t in data["tests"] if t["status"] == "warn"],
        open_alerts=len(open_alerts),
        invocations=len(data["invocations"]),
    )
