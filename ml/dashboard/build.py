"""Build the dashboard: three static pages (KPI health, data quality, spam) over the current published snapshot.

The build pins one snapshot: it reads `published/current.json` once and opens that file read-only. A publish
during the build writes another file and moves the pointer, so the build never reads a half-written snapshot
(and an open file survives the pruning of old snapshots). The pages are written into a fresh folder that then
replaces `$SENTINEL_HOME/dashboard/`, so a reader sees the old dashboard or the new one, never a mix.

Every chart and table reads a query in `queries/` (plain DuckDB SQL over the snapshot's marts; the numbers
come from the metric marts `fct_kpi_metrics_daily` and `fct_spam_metrics_weekly` where they exist).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ml.dashboard import charts
from ml.logs import timed
from ml.pages import present, write_page
from ml.publish import Snapshot, current

HERE = Path(__file__).parent
QUERIES = HERE / "queries"
ASSETS = HERE / "assets"
PAGES = {"index.html": "KPI health", "quality.html": "Data quality", "spam.html": "Spam"}


class DashboardError(RuntimeError):
    """The dashboard cannot be built from what is published (one clear message, no traceback at the CLI)."""


@dataclass(frozen=True)
class DashboardSummary:
    out: Path
    snapshot_id: str
    pages: list[str]
    incidents: int
    top_incident: str
    seconds: float


def _queries() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(QUERIES.glob("*.sql"))}


def _relations(sql: str) -> set[str]:
    return set(re.findall(r"\b((?:marts|ml|intermediate)\.\w+)", sql))


def _open(published: Path) -> tuple[Snapshot, duckdb.DuckDBPyConnection]:
    snap = current(published)
    if snap is None or not snap.path.exists():
        raise DashboardError(f"no published snapshot in {published}: run `make run` first, then `make dashboard`")
    con = duckdb.connect(str(snap.path), read_only=True)
    have = {f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
    missing = sorted(set().union(*map(_relations, _queries().values())) - have)
    if missing:
        con.close()
        raise DashboardError(
            f"snapshot {snap.snapshot_id} (published {snap.published_at[:19]}) is older than the dashboard: it has no "
            f"{', '.join(missing)}; run `make run` to publish a new snapshot, then `make dashboard`"
        )
    return snap, con


def _read(con: duckdb.DuckDBPyConnection, snap: Snapshot, params: dict[str, Any]) -> dict[str, pd.DataFrame]:
    frames = {}
    for name, sql in _queries().items():
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        try:
            frames[name] = con.execute(sql, used).df()
        except duckdb.Error as exc:
            raise DashboardError(
                f"query {QUERIES / name}.sql failed on snapshot {snap.snapshot_id}: {str(exc).splitlines()[0]}"
            ) from None
    return frames


def _cards(rows: list[tuple[str, Any, str]]) -> list[dict[str, Any]]:
    return [{"label": label, "value": value, "note": note} for label, value, note in rows]


def _table(df: pd.DataFrame, columns: dict[str, str], formats: dict[str, str] | None = None) -> dict[str, Any]:
    formats = formats or {}

    def cell(col: str, v: Any) -> str:
        if not present(v):
            return ""
        if col in formats:
            return format(v, formats[col])
        if isinstance(v, (datetime, pd.Timestamp)):
            return f"{v:%Y-%m-%d}" if (v.hour, v.minute, v.second) == (0, 0, 0) else f"{v:%Y-%m-%d %H:%M}"
        return str(v)

    return {
        "header": list(columns.values()),
        "rows": [[cell(c, r[c]) for c in columns] for r in df.to_dict("records")],
        "attrs": [{} for _ in range(len(df))],
    }


def top_incident(inc: pd.DataFrame) -> tuple[str, str]:
    """The 'Top incident' card (the incidents come largest first): its series, direction and day, and its size.
    A missing day and a move from nothing expected (a new series, or one back after a gap) have no relative
    deviation."""
    if not len(inc):
        return "none", "no incident in the detection period"
    t = inc.iloc[0]
    if t.direction == "missing":
        peak = "no data"
    elif pd.isna(t.peak_deviation_pct):
        peak = "none expected"
    else:
        peak = f"{t.peak_deviation_pct:+.0%} at its peak"
    return (
        f"{t.series_key} {t.direction} {t.start_date:%Y-%m-%d}",
        f"{peak}, {t.total_deviation_value:+,.0f} requests in all",
    )


def _kpi_page(f: dict[str, pd.DataFrame], start: date, end: date) -> tuple[dict[str, Any], str]:
    inc = f["kpi_incidents"]
    cards = f["kpi_cards"]

    def metric(name: str, **where: str) -> float:
        sel = cards[cards["metric_name"] == name]
        for col, val in where.items():
            sel = sel[sel[col] == val]
        return float(sel["value"].sum())

    top, top_note = top_incident(inc)
    flags = {d: metric("api_anomalies", breakdown=d) for d in ("up", "down", "missing")}
    judged, days = metric("api_series_days", breakdown="judged"), metric("api_series_days")
    judged_note = (
        "every level; every series-day judged"
        if judged == days
        else f"every level; {days - judged:,.0f} not judged yet: cold start, too little history"
    )
    by_level = inc.groupby("level").size().to_dict()
    table = _table(
        inc,
        {
            "level": "level",
            "series_key": "series",
            "direction": "direction",
            "start_date": "from",
            "end_date": "to",
            "peak_deviation_pct": "peak vs expected",
            "total_deviation_value": "requests vs expected",
            "n_contributors": "series behind it",
            "peak_explanation": "why",
        },
        {"peak_deviation_pct": "+.1%", "total_deviation_value": "+,.0f"},
    )
    table["attrs"] = [{"data-country": r.country, "data-os": r.os} for r in inc.itertuples()]
    page = {
        "cards": _cards(
            [
                ("Incidents", len(inc), f"{start:%d %b} to {end:%d %b %Y}, each at the level that explains it"),
                ("Top incident", top, top_note),
                ("Requests", f"{metric('api_requests'):,.0f}", "all countries and OS, detection period"),
                (
                    "Flagged series-days",
                    f"{sum(flags.values()):,.0f}",
                    ", ".join(f"{k} {v:,.0f}" for k, v in flags.items()),
                ),
                ("By level", ", ".join(f"{k} {v}" for k, v in sorted(by_level.items())) or "none", "incidents"),
                ("Judged series-days", f"{judged:,.0f} of {days:,.0f}", judged_note),
            ]
        ),
        "sections": [
            {
                "title": "Detection period at a glance",
                "chart": "kpi",
                "note": "Choose a country and an OS to drill down from the total to an OS, a country or a country x "
                "OS series; drag on the timeline to change the date range (it starts on the detection "
                "period). The incidents below follow the country and OS controls.",
            },
            {"title": "Incidents", "table": table, "table_id": "incidents", "caption_id": "incidents-shown"},
        ],
        "specs": {"kpi": charts.kpi_health(f["kpi_series"], start, end)},
    }
    return page, top


def _quality_page(f: dict[str, pd.DataFrame]) -> dict[str, Any]:
    loads = f["dq_loads"]
    q = f["dq_quarantine"]
    fresh = f["dq_freshness"]
    tests = f["dq_tests"]
    failing = tests[tests["status"].isin(["fail", "error"])]["test_executions"].sum()
    return {
        "cards": _cards(
            [
                (
                    "Files loaded",
                    f"{len(loads):,}",
                    ", ".join(f"{k} {v}" for k, v in loads.groupby("feed").size().items()),
                ),
                (
                    "Loads that reconcile",
                    f"{int(loads['reconciles'].sum()):,} of {len(loads):,}",
                    "raw rows = staged + quarantined + duplicates",
                ),
                ("Rows quarantined", f"{q['quarantined_rows'].sum():,.0f}", "kept with their reason"),
                (
                    "Feeds fresh",
                    f"{int((fresh['freshness_status'] == 'fresh').sum())} of {len(fresh)}",
                    ", ".join(f"{r.feed} {r.freshness_status}" for r in fresh.itertuples()),
                ),
                ("Failed test executions", f"{failing:,.0f}", "fail or error, in the run history"),
            ]
        ),
        "sections": [
            {"title": "Loads", "chart": "loads", "note": "One feed at a time (Feed control)."},
            {"title": "Quarantine by reason", "chart": "quarantine"},
            {
                "title": "Freshness",
                "table": _table(
                    fresh,
                    {
                        "feed": "feed",
                        "freshness_status": "status",
                        "latest_period": "latest period",
                        "last_loaded_at": "last load",
                        "hours_since_last_load": "hours since",
                        "expected_every_hours": "expected every (h)",
                        "files_seen": "files",
                    },
                    {"hours_since_last_load": ",.1f"},
                ),
            },
            {"title": "Volume", "chart": "volume"},
            {"title": "Test status over time", "chart": "tests"},
        ],
        "specs": {
            "loads": charts.loads(loads),
            "quarantine": charts.quarantine(q),
            "volume": charts.volume(f["dq_volume"]),
            "tests": charts.tests(tests),
        },
    }


def _gate_intervals(evidence: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for key, est in evidence.get("overall", {}).get("delta", {}).items():
        rows.append({"measure": key.replace("_", " "), **est})
    zero = evidence.get("zero_report_slice", {}).get("delta", {}).get("pr_auc")
    if zero:
        rows.append({"measure": "pr auc, numbers with no report", **zero})
    return pd.DataFrame(rows, columns=["measure", "estimate", "low", "high"])


def _spam_page(f: dict[str, pd.DataFrame]) -> dict[str, Any]:
    models, gate, flagged = f["spam_models"], f["spam_gate"], f["spam_flagged"]
    champ = models[models["aliases"].str.contains("champion")]
    chall = models[models["aliases"].str.contains("challenger")]
    sections: list[dict[str, Any]] = [
        {
            "title": "Model versions",
            "table": _table(
                models,
                {
                    "model_version": "version",
                    "aliases": "aliases",
                    "feature_version": "features",
                    "model_family": "family",
                    "trained_at": "trained",
                    "threshold": "threshold",
                    "test_pr_auc": "test PR-AUC",
                    "test_precision": "test precision",
                    "test_recall": "test recall",
                },
                {"threshold": ".4f", "test_pr_auc": ".4f", "test_precision": ".3f", "test_recall": ".3f"},
            ),
        }
    ]
    specs: dict[str, Any] = {}
    decision, decision_note = "none yet", "no challenger has been gated"
    if len(gate):
        g = gate.iloc[0]
        decision = "promoted" if g.promoted else "refused"
        decision_note = f"v{g.challenger_version} against v{g.champion_version}, {g.decided_at:%Y-%m-%d %H:%M}"
        intervals = _gate_intervals(json.loads(g.evidence))
        if len(intervals):
            specs["gate"] = charts.gate(intervals)
            sections.append({"title": "The gate's decision", "chart": "gate", "note": g.reason})
    latest = flagged[flagged["week_start"] == flagged["week_start"].max()] if len(flagged) else flagged
    specs |= {
        "flagged": charts.flagged(flagged),
        "performance": charts.performance(f["spam_performance"]),
        "drift": charts.drift(f["spam_drift"]),
    }
    sections += [
        {"title": "Flagged numbers", "chart": "flagged", "note": "Country control: one country."},
        {"title": "Precision and recall", "chart": "performance"},
        {"title": "Drift", "chart": "drift"},
    ]
    return {
        "cards": _cards(
            [
                (
                    "Champion",
                    f"v{int(champ.iloc[0].model_version)}" if len(champ) else "none",
                    f"features v{int(champ.iloc[0].feature_version)}" if len(champ) else "",
                ),
                ("Challenger", f"v{int(chall.iloc[0].model_version)}" if len(chall) else "none", ""),
                ("Gate", decision, decision_note),
                (
                    "Flagged, latest week",
                    f"{latest['flagged'].sum():,.0f}",
                    f"of {latest['scored'].sum():,.0f} numbers scored" if len(latest) else "no scores",
                ),
            ]
        ),
        "sections": sections,
        "specs": specs,
    }


def vega_bundle_cache() -> Path:
    """Where the Vega bundle is kept between builds: the user's cache folder ($XDG_CACHE_HOME or ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sentinel"


def _vega_bundle(assets: Path) -> None:
    """Vega, Vega-Lite and vega-embed in one local script (vl-convert ships them; no CDN, works offline).

    vl-convert builds the script in about 2 s of CPU, and the script depends only on vl-convert's version and
    Vega-Lite's: it is built once per pair into the user's cache folder and copied from there (a cache that
    cannot be written is skipped)."""
    import altair as alt

    assets.mkdir(parents=True, exist_ok=True)
    version = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]
    cached = vega_bundle_cache() / f"vega-{importlib.metadata.version('vl-convert-python')}-vl{version}.js"
    if cached.exists():
        shutil.copyfile(cached, assets / "vega.js")
    else:
        import vl_convert

        bundle = vl_convert.javascript_bundle(vl_version=version)
        (assets / "vega.js").write_text(bundle, encoding="utf-8")
        with contextlib.suppress(OSError):  # whole or not at all: another build may read it at the same time
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f"{cached.name}.{uuid.uuid4().hex}.tmp")
            partial.write_text(bundle, encoding="utf-8")
            os.replace(partial, cached)
    shutil.copy(ASSETS / "dashboard.js", assets / "dashboard.js")


def build_dashboard(published: Path, out: Path) -> DashboardSummary:
    """Build the pages from the current snapshot into `out` (replaced as a whole at the end)."""
    with timed("dashboard", out=str(out)) as facts:
        summary = _build(published, out)
        facts |= {"snapshot": summary.snapshot_id, "pages": len(summary.pages), "incidents": summary.incidents}
    return summary


def _build(published: Path, out: Path) -> DashboardSummary:
    t0 = time.monotonic()
    snap, con = _open(published)
    with con:
        start, end = con.execute(
            "select detection_start, detection_end from intermediate.int_api_detection_period"
        ).fetchone()
        frames = _read(con, snap, {"detection_start": start, "detection_end": end})
    kpi, top = _kpi_page(frames, start, end)
    pages = {"index.html": kpi, "quality.html": _quality_page(frames), "spam.html": _spam_page(frames)}

    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}"
    try:
        _vega_bundle(staging / "assets")
        for file, page in pages.items():
            write_page(
                HERE / "templates",
                "page.html.j2",
                staging / file,
                title=PAGES[file],
                file=file,
                nav=PAGES,
                snapshot=snap,
                built_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                **page,
            )
        seconds = round(time.monotonic() - t0, 1)
        meta = {
            "snapshot_id": snap.snapshot_id,
            "published_at": snap.published_at,
            "pages": list(pages),
            "incidents": len(frames["kpi_incidents"]),
            "top_incident": top,
            "seconds": seconds,
        }
        (staging / "build.json").write_text(json.dumps(meta, indent=2))
        old = out.parent / f".{out.name}.old.{uuid.uuid4().hex[:8]}"
        if out.exists():
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return DashboardSummary(out, snap.snapshot_id, list(pages), len(frames["kpi_incidents"]), top, seconds)
