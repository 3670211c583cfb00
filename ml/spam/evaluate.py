"""Champion and challenger on the same forward-in-time test rows: paired bootstrap intervals, slices (numbers with
no report, countries), calibration, the generator's truth when present, and the gate's decision."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from ml.errors import TrainingError
from ml.logs import timed
from ml.spam.features import FeatureSet, load_examples
from ml.spam.metrics import GateDecision, calibration, gate, paired_bootstrap, point_metrics, slice_metrics
from ml.spam.registry import Registry
from ml.spam.train import Candidate, LifecycleConfig

REPORT_COLUMN = "manual_spam_count"


@dataclass(frozen=True)
class Champion:
    """The model that scores production: its registered version, feature set, fitted model and threshold."""

    version: int
    fs: FeatureSet
    model: object
    threshold: float


def _reports(con: duckdb.DuckDBPyConnection, sets: dict[int, FeatureSet]) -> pd.DataFrame | None:
    """manual_spam_count per labelled test row, from the newest feature set that has it (slice definition)."""
    with_col = [fs for fs in sets.values() if REPORT_COLUMN in fs.numeric]
    if not with_col:
        return None
    return load_examples(con, with_col[-1], ("test",))[["number_id", "week_start", REPORT_COLUMN]]


def paired_test_rows(con, models: dict[str, tuple[FeatureSet, object]], sets) -> pd.DataFrame:
    """The same test rows for every model: rows eligible under every model's feature set (inner join)."""
    frame = None
    for name, (fs, model) in models.items():
        df = load_examples(con, fs, ("test",))
        df[f"score_{name}"] = model.predict_proba(df[fs.columns])[:, 1] if len(df) else []
        keep = df[["number_id", "week_start", "is_spam", f"score_{name}"]]
        if "country_code" in df:
            keep = keep.assign(country_code=df["country_code"])
        frame = keep if frame is None else frame.merge(keep.drop(columns=["is_spam", "country_code"], errors="ignore"))
    reports = _reports(con, sets)
    if reports is not None:
        frame = frame.merge(reports, on=["number_id", "week_start"], how="left")
    return frame


def evaluate(
    con: duckdb.DuckDBPyConnection,
    candidate: Candidate,
    champion: Champion | None,
    sets: dict[int, FeatureSet],
    cfg: LifecycleConfig,
) -> tuple[GateDecision, dict, pd.DataFrame]:
    """Champion and challenger on the same forward-in-time test rows: the gate's decision, the metrics with their
    intervals, and those rows with each model's score (`score_champion`, `score_challenger`)."""
    models = {}
    thresholds = {}
    if champion is not None:
        models["champion"] = (champion.fs, champion.model)
        thresholds["champion"] = champion.threshold
    models["challenger"] = (candidate.fs, candidate.model)
    thresholds["challenger"] = candidate.threshold
    against = champion.version if champion else None
    with timed("spam_evaluate", feature_version=candidate.fs.version, against=against) as f:
        test = paired_test_rows(con, models, sets)
        if test.empty or test["is_spam"].nunique() < 2:
            raise TrainingError("the test split has no labelled rows of both classes; cannot evaluate")
        y = test["is_spam"].to_numpy()
        groups = test["number_id"].to_numpy()
        scores = {n: test[f"score_{n}"].to_numpy() for n in models}
        overall = paired_bootstrap(y, scores, thresholds, groups, n_boot=cfg.n_boot, seed=cfg.seed)
        zero = None
        if REPORT_COLUMN in test:
            m = (test[REPORT_COLUMN] == 0).to_numpy()
            if y[m].sum() >= 5:
                zero = paired_bootstrap(
                    y[m], {n: s[m] for n, s in scores.items()}, thresholds, groups[m], n_boot=cfg.n_boot, seed=cfg.seed
                )
        report = {
            "test_rows": len(test),
            "test_positives": int(y.sum()),
            "test_start": str(test["week_start"].min())[:10],
            "test_end": str(test["week_start"].max())[:10],
            "zero_report_rows": int((test[REPORT_COLUMN] == 0).sum()) if REPORT_COLUMN in test else None,
            "calibration": {n: calibration(y, s) for n, s in scores.items()},
            "countries": {
                n: slice_metrics(y, s, thresholds[n], test["country_code"].to_numpy()) for n, s in scores.items()
            },
            "thresholds": thresholds,
            "against_ground_truth": _against_truth(con, test, scores, thresholds),
        }
        if champion is None:
            decision = GateDecision(True, "promoted: no champion yet, the first model becomes champion", {})
            decision.evidence = {"overall": {k: {m: vars(i) for m, i in v.items()} for k, v in overall.items()}}
        else:
            decision = gate(overall, zero, cfg.rules)
        decision.evidence["report"] = report
        f.update(rows=len(test), positives=int(y.sum()), promoted=decision.promoted)
    return decision, overall, test


def pr_curve_figure(test: pd.DataFrame, thresholds: dict[str, float]):
    """Precision-recall curves of the models scored in `test`, each with its operating point (its threshold):
    the picture behind the gate's PR-AUC uplift, logged with the run in MLflow."""
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    fig = Figure(figsize=(6, 4.5), dpi=100)
    ax = fig.add_subplot()
    y = test["is_spam"].to_numpy()
    for name, threshold in thresholds.items():
        s = test[f"score_{name}"].to_numpy()
        precision, recall, _ = precision_recall_curve(y, s)
        ax.plot(recall, precision, label=name)
        flagged = s >= threshold
        if flagged.any():
            ax.plot([(flagged & (y == 1)).sum() / max(y.sum(), 1)], [y[flagged].mean()], "o", color="black")
    ax.set(xlabel="recall", ylabel="precision", title=f"Paired test rows: {len(test):,} ({int(y.sum()):,} spam)")
    ax.legend(title="dot: operating point")
    fig.tight_layout()
    return fig


def _against_truth(con, test: pd.DataFrame, scores: dict, thresholds: dict) -> dict | None:
    """The same test rows scored against the generator's true classes (absent for a real extract): how much of
    what the labels say is label noise. Informational; the gate decides on labels, as production must."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = 'calls_ground_truth'"
    ).fetchall()[0][0]
    if not exists:
        return None
    truth = con.execute("select id as number_id, true_class = 'spam' as true_spam from raw.calls_ground_truth").df()
    if truth.empty:
        return None
    joined = test[["number_id"]].merge(truth, on="number_id", how="left")
    if joined["true_spam"].isna().any():
        return None
    y_true = joined["true_spam"].astype(int).to_numpy()
    return {
        "label_disagreement": float((y_true != test["is_spam"].to_numpy()).mean()),
        **{n: point_metrics(y_true, s, thresholds[n]) for n, s in scores.items()},
    }


def load_champion(reg: Registry, sets: dict[int, FeatureSet]) -> Champion | None:
    """The `champion` alias's model with its feature set (which must be built), or None before the first one."""
    v = reg.alias("champion")
    if v is None:
        return None
    tags = reg.tags(v)
    fv = int(tags["feature_version"])
    if fv not in sets:
        raise TrainingError(f"the champion (version {v}) uses feature version {fv}, which is not built")
    return Champion(v, sets[fv], reg.load(v), float(tags["threshold"]))
