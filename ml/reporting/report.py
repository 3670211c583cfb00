"""The Sentinel report (`make report`; Dagster asset `sentinel_report`): `reports/sentinel_report.html`.

One self-contained page (plots inlined as PNG, no script, nothing fetched), every figure computed here from the
pipeline's outputs:
1. data exploration and data-quality findings (published snapshot);
2. the anomalies of the detection period: heat map of country x day, each flagged series with its bounds, the
   hierarchy of incidents (published snapshot);
3. the detector evaluation table, detectors x datasets (published snapshot);
4. spam model v1 versus v2: precision-recall curves and confusion at each model's operating threshold on the
   same forward-in-time test rows, permutation feature importance, drift and weekly performance (the
   warehouse's feature marts and the MLflow registry, for the test rows and the models);
5. where the lineage is: links to the Dagster asset graph and dbt's docs (a drawing here was unreadable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import matplotlib.dates as mdates
import numpy as np
import pandas as pd

from ml.anomaly.report import coverage
from ml.anomaly.uncertainty import RESAMPLES, series_margins
from ml.logs import timed
from ml.observability.health import plot_quarantine
from ml.observability.queries import quarantine_by_reason
from ml.pages import plt, png, write_page
from ml.publish import Snapshot
from ml.settings import Paths
from ml.sql import relations

MAX_SERIES_PLOTS = 12
CONTEXT_DAYS = 42  # days of history drawn before the detection period


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    snapshot_id: str
    plots: int
    incidents: int
    spam_versions: list[int]


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


# ------------------------------------------------------------------ 1. exploration and data quality


def plot_traffic(anoms: pd.DataFrame) -> str | None:
    total = anoms[anoms["level"] == "total"].sort_values("series_date")
    by_os = anoms[anoms["level"] == "os"]
    if total.empty:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.2), gridspec_kw={"width_ratios": [2, 1]})
    ax1.fill_between(total["series_date"], total["lower_bound"], total["upper_bound"], color="#90caf9", alpha=0.5,
                     label="normal range")  # fmt: skip
    ax1.plot(total["series_date"], total["value"], color="#1565c0", label="requests")
    ax1.set_title("All API requests per day", fontsize=10)
    ax1.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
    ax1.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))  # dates that do not overlap
    ax1.legend(fontsize=7)
    ax1.tick_params(labelsize=7)
    share = by_os.groupby("os")["value"].sum().sort_values()
    ax2.barh(share.index, share.values / share.values.sum() * 100, color="#5c6bc0")
    ax2.set_title("Share of requests by OS (%)", fontsize=10)
    ax2.tick_params(labelsize=8)
    fig.tight_layout()
    return png(fig)


def plot_countries(anoms: pd.DataFrame) -> str | None:
    c = anoms[anoms["level"] == "country"].groupby("country")["value"].sum().sort_values(ascending=False)
    if c.empty:
        return None
    fig, ax = plt.subplots(figsize=(12, 2.6))
    ax.bar(c.index, c.values, color="#26a69a")
    ax.set_yscale("log")  # a linear scale hid 50 of 60 countries under the largest
    ax.set_ylabel("requests (log scale)")
    ax.set_title(f"Requests per country over the extract ({len(c)} countries)", fontsize=10)
    ax.tick_params(axis="x", labelsize=7, rotation=90)
    return png(fig)


# ------------------------------------------------------------------ 2. the detection period


def plot_heatmap(anoms: pd.DataFrame, start, end) -> str | None:
    """Country x day: deviation from the expected value (%), flagged days outlined."""
    d = anoms[(anoms["level"] == "country") & (anoms["series_date"] >= start) & (anoms["series_date"] <= end)]
    if d.empty:
        return None
    dev = d.assign(dev=(d["value"] / d["expected_value"] - 1) * 100)
    if dev["dev"].isna().all():  # nothing judged yet (a short extract: the cold start): no deviation to draw
        return None
    # every country and day of the period, judged or not (pivot_table drops all-empty rows by default)
    grid = dev.pivot_table(index="country", columns="series_date", values="dev", aggfunc="first", dropna=False)
    flags = d.pivot_table(index="country", columns="series_date", values="is_anomaly", aggfunc="max")
    order = flags.fillna(False).sum(axis=1).sort_values(ascending=False).index
    grid, flags = grid.loc[order], flags.reindex(index=order, columns=grid.columns)
    fig, ax = plt.subplots(figsize=(12, 0.22 * len(grid) + 1.2))
    im = ax.imshow(grid.clip(-100, 100).to_numpy(dtype=float), aspect="auto", cmap="RdBu_r", vmin=-100, vmax=100)
    for (i, j), f in np.ndenumerate(flags.fillna(False).to_numpy(dtype=bool)):
        if f:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.4))
    missing = grid.isna().to_numpy()
    for i, j in zip(*np.nonzero(missing), strict=True):
        ax.text(j, i, "x", ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(grid)), grid.index, fontsize=7)
    ax.set_xticks(range(len(grid.columns)), [pd.Timestamp(c).strftime("%m-%d") for c in grid.columns], fontsize=7)
    ax.set_title("Country x day in the detection period: % vs expected (outlined: flagged; x: no data)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    return png(fig)


def plot_flagged_series(anoms: pd.DataFrame, incidents: pd.DataFrame, start) -> str | None:
    if incidents.empty:
        return None
    top = incidents.reindex(incidents["total_deviation_value"].abs().sort_values(ascending=False).index)
    top = top.head(MAX_SERIES_PLOTS)
    cols = 3
    rows = -(-len(top) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.3 * rows), squeeze=False)
    since = pd.Timestamp(start) - pd.Timedelta(days=CONTEXT_DAYS)
    for ax, (_, inc) in zip(axes.flat, top.iterrows(), strict=False):
        s = anoms[(anoms["series_key"] == inc["series_key"]) & (anoms["series_date"] >= since)]
        s = s.sort_values("series_date")
        ax.fill_between(s["series_date"], s["lower_bound"], s["upper_bound"], color="#90caf9", alpha=0.5)
        ax.plot(s["series_date"], s["value"], color="#1565c0", linewidth=1)
        f = s[s["is_anomaly"].fillna(False)]
        ax.scatter(f["series_date"], f["value"].fillna(0), color="#c62828", s=14, zorder=3)
        ax.axvspan(pd.Timestamp(start), s["series_date"].max(), color="#eeeeee", zorder=0)
        ax.set_title(f"{inc['series_key']} ({inc['level']}): {inc['direction']} from {inc['start_date']}", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(top) :]:
        ax.axis("off")
    fig.suptitle("Flagged series with their bounds (grey: detection period; red: flagged days)", fontsize=10)
    fig.tight_layout()
    return png(fig)


# ------------------------------------------------------------------ 3. evaluation


def plot_evaluation(ev: pd.DataFrame) -> str | None:
    allrows = ev[ev["event_type"] == "all"]
    if allrows.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
    for ax, (col, label) in zip(
        axes, [("fc", "Fc (point precision x event recall)"), ("event_f1", "event F1")], strict=True
    ):
        pivot = allrows.pivot_table(index="dataset", columns="detector", values=col)
        pivot.plot.bar(ax=ax, rot=0, legend=ax is axes[0])
        ax.set_title(label, fontsize=10)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7, ncol=2)
    return png(fig)


# ------------------------------------------------------------------ 4. spam model v1 vs v2


def spam_comparison(warehouse: Path, p: Paths, versions: pd.DataFrame) -> dict[str, Any]:
    """v1 and v2 (the newest registered model of each feature version) on the same forward test rows."""
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_curve

    from ml.spam.evaluate import paired_test_rows
    from ml.spam.features import feature_sets, load_examples
    from ml.spam.registry import Registry

    newest = versions.sort_values("model_version").groupby("feature_version").tail(1)
    if newest.empty:
        return {}
    reg = Registry(p)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sets = feature_sets(con)
        models = {
            f"v{int(r.feature_version)}": (sets[int(r.feature_version)], reg.load(int(r.model_version)))
            for r in newest.itertuples()
            if int(r.feature_version) in sets
        }
        test = paired_test_rows(con, models, sets)
        latest = max(models, key=lambda n: int(n[1:]))
        fs, model = models[latest]
        x = load_examples(con, fs, ("test",))
    thresholds = {f"v{int(r.feature_version)}": float(r.threshold) for r in newest.itertuples()}
    y = test["is_spam"].to_numpy()
    curves, confusion, table = {}, {}, []
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name in models:
        s = test[f"score_{name}"].to_numpy()
        prec, rec, _ = precision_recall_curve(y, s)
        ap = average_precision_score(y, s)
        ax.plot(rec, prec, label=f"{name}: PR-AUC {ap:.3f}")
        flagged = s >= thresholds[name]
        tn, fp, fn, tp = confusion_matrix(y, flagged, labels=[0, 1]).ravel()
        ax.scatter([tp / max(tp + fn, 1)], [tp / max(tp + fp, 1)], zorder=3)
        confusion[name] = {"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)}
        table.append(
            {
                "model": name,
                "threshold": thresholds[name],
                "pr_auc": ap,
                "precision": tp / max(tp + fp, 1),
                "recall": tp / max(tp + fn, 1),
                "fpr": fp / max(fp + tn, 1),
                **confusion[name],
            }
        )
        curves[name] = ap
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall on {len(test):,} test rows (dots: operating points)", fontsize=9)
    ax.legend(fontsize=8)
    pr_plot = png(fig)

    sample = x.sample(min(len(x), 4000), random_state=0)
    imp = permutation_importance(
        model, sample[fs.columns], sample["is_spam"], scoring="average_precision", n_repeats=3, random_state=0
    )
    order = np.argsort(imp.importances_mean)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.barh(np.array(fs.columns)[order], imp.importances_mean[order], xerr=imp.importances_std[order], color="#8d6e63")
    ax.set_xlabel("drop in PR-AUC when shuffled")
    ax.set_title(f"Permutation importance ({latest}, {len(sample):,} test rows)", fontsize=9)
    ax.tick_params(labelsize=8)
    importance_plot = png(fig)
    importance = dict(zip(fs.columns, imp.importances_mean.round(4).tolist(), strict=True))
    return {
        "table": table,
        "test_rows": len(test),
        "test_positives": int(y.sum()),
        "test_start": str(test["week_start"].min())[:10],
        "test_end": str(test["week_start"].max())[:10],
        "pr_plot": pr_plot,
        "importance_plot": importance_plot,
        "importance": importance,
    }


def plot_drift(drift: pd.DataFrame) -> str | None:
    d = drift[drift["monitored_kind"] == "feature"]
    if d.empty:
        return None
    grid = d.pivot_table(index="monitored_name", columns="week_start", values="psi")
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(grid) + 1.2))
    im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="Oranges", vmin=0, vmax=0.3)
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        if v == v:
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_yticks(range(len(grid)), grid.index, fontsize=7)
    ax.set_xticks(range(len(grid.columns)), [pd.Timestamp(c).strftime("%m-%d") for c in grid.columns], fontsize=7)
    ax.set_title("Feature drift: PSI per week against the training reference (0.1 watch, 0.25 act)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return png(fig)


def plot_performance(perf: pd.DataFrame) -> str | None:
    if perf.empty:
        return None
    fig, ax = plt.subplots(figsize=(9, 2.8))
    for col, label in (("precision_at_threshold", "precision"), ("recall_at_threshold", "recall")):
        ax.plot(perf["week_start"], perf[col], marker="o", label=label)
    ax.axhline(perf["reference_recall"].iloc[0], color="grey", linestyle="--", linewidth=1, label="reference recall")
    ax.set_ylim(0, 1)
    ax.set_title("Champion per week on late-arriving labels, at its threshold", fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return png(fig)


# ------------------------------------------------------------------ the page


def build_report(
    snapshot: Snapshot,
    p: Paths,
    out: Path,
    dagster_url: str = "http://127.0.0.1:3000",
    training: Path | None = None,
) -> ReportSummary:
    """The HTML report from the published snapshot; the spam models' comparison reads their labelled rows from
    `training` (a DuckDB file with the feature and training marts: on the Spark engine, the training set exported
    from Spark) or the warehouse."""
    with timed("report", snapshot=snapshot.snapshot_id, path=str(out)) as facts:
        with duckdb.connect(str(snapshot.path), read_only=True) as con:
            anoms = _df(con, "select * from marts.fct_api_request_anomalies")
            period = _df(con, "select * from intermediate.int_api_detection_period")
            start, end = period["detection_start"].iloc[0], period["detection_end"].iloc[0]
            incidents = _df(con, "select * from marts.fct_api_anomaly_detection_summary order by level, start_date")
            ev = _df(
                con, "select * from evaluation.fct_detector_evaluation order by dataset, event_type, fc_rank, detector"
            )
            margins = series_margins(con)
            judged = coverage(con)
            quarantine = quarantine_by_reason(con, relations(con))
            recon = _df(
                con,
                "select 'api_logs' as feed, count(*) as files, sum(raw_rows) as raw_rows, sum(staged_rows) as staged, "
                "sum(quarantined_rows) as quarantined, sum(duplicate_rows) as duplicates "
                "from marts.fct_api_request_load_reconciliation union all "
                "select source_name, count(*), sum(raw_rows), sum(staged_rows), sum(quarantined_rows), "
                "sum(duplicate_rows) from marts.fct_calls_load_reconciliation group by source_name",
            )
            versions = _df(con, "select * from ml.spam_model_versions order by model_version")
            drift = _df(con, "select * from marts.fct_spam_drift")
            perf = _df(con, "select * from marts.fct_spam_model_performance_weekly order by week_start")
            decision = _df(con, "select * from marts.fct_spam_retrain_decision")
            gate = _df(con, "select * from ml.spam_gate_decisions order by decided_at")
        anoms["series_date"] = pd.to_datetime(anoms["series_date"])
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        comparison = spam_comparison(training or p.warehouse, p, versions) if not versions.empty else {}
        plots = {
            "traffic": plot_traffic(anoms),
            "countries": plot_countries(anoms),
            "quarantine": plot_quarantine(quarantine),
            "heatmap": plot_heatmap(anoms, start, end),
            "series": plot_flagged_series(anoms, incidents, start),
            "evaluation": plot_evaluation(ev),
            "pr": comparison.get("pr_plot"),
            "importance": comparison.get("importance_plot"),
            "drift": plot_drift(drift),
            "performance": plot_performance(perf),
        }
        size = write_page(
            Path(__file__).parent / "templates",
            "report.html.j2",
            out,
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            dagster_url=dagster_url.rstrip("/"),
            snapshot=snapshot,
            start=start.date(),
            end=end.date(),
            n_days=anoms["series_date"].nunique(),
            first_day=anoms["series_date"].min().date(),
            last_day=anoms["series_date"].max().date(),
            n_series=anoms.loc[anoms["level"] == "country_os", "series_key"].nunique(),
            recon=recon.to_dict("records"),
            quarantine=quarantine,
            incidents=incidents.to_dict("records"),
            coverage=judged,
            levels=["total", "os", "country", "country_os"],
            evaluation=ev.to_dict("records"),
            margins=margins.to_dict("records"),
            resamples=RESAMPLES,
            versions=versions.to_dict("records"),
            comparison=comparison,
            decision=decision.to_dict("records"),
            gate=gate.to_dict("records"),
            plots=plots,
        )
        n_plots = sum(1 for v in plots.values() if v)
        facts.update(plots=n_plots, incidents=len(incidents), bytes=size)
    return ReportSummary(out, snapshot.snapshot_id, n_plots, len(incidents), versions["model_version"].tolist())
