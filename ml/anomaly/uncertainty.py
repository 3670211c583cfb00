"""How sure is a margin between detectors? A paired bootstrap over the scored series.

`evaluation.fct_eval_series_scores` holds, per data set, detector and series, the counts the evaluation's
scores are made of (events found, false-alarm runs, flagged and labelled buckets). They add up over series, so a
resample of the series (with replacement, the same draw for every detector: paired) gives each detector's Fc and
event F1 on that resample, and the default's margin over the best peer on it. The 2.5th and 97.5th percentiles
of the margins are a 95 % interval: how much the verdict depends on which series happened to be in the set,
which is the question a new set of series (a held-out one) asks.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

COUNTS = ["n_events", "events_detected", "false_alarms", "n_flagged", "n_labelled_flagged"]
RESAMPLES = 2000
INTERVAL = ["best_peer", "peer_score", "margin", "ci_low", "ci_high", "p_above_0", "p_at_least_0_10"]


def scores(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Fc and event F1 from summed counts (last axis: COUNTS in order), as fct_detector_evaluation computes them;
    0 where a ratio is undefined."""
    n_events, tp, fp, n_flagged, n_hit = np.moveaxis(counts.astype("float64"), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(n_events > 0, tp / n_events, 0.0)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        point_precision = np.where(n_flagged > 0, n_hit / n_flagged, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        fc = np.where(point_precision + recall > 0, 2 * point_precision * recall / (point_precision + recall), 0.0)
    return {"fc": fc, "event_f1": f1}


def bootstrap_margins(
    per_series: pd.DataFrame,
    reference: str = "robust_seasonal",
    peers: tuple[str, ...] = ("iqr", "zscore"),
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Per data set and score (Fc, event F1): the reference's margin over the best of `peers` on all series, its
    95 % paired-bootstrap interval over series, and the share of resamples where the margin is above 0 and at
    least 0.10 (issue 13's target)."""
    rng = np.random.default_rng(seed)
    detectors = [reference, *peers]
    rows = []
    for dataset, frame in per_series.groupby("dataset", sort=True):
        wide = frame.pivot(index="series_key", columns="detector", values=COUNTS)
        # (detector, series, count): every detector on the same series in the same order
        counts = np.stack([wide.xs(d, axis=1, level="detector")[COUNTS].to_numpy() for d in detectors])
        n_series = counts.shape[1]
        draws = rng.integers(0, n_series, size=(resamples, n_series))
        full = {d: scores(counts[i].sum(axis=0)) for i, d in enumerate(detectors)}
        boot = {d: scores(counts[i][draws].sum(axis=1)) for i, d in enumerate(detectors)}
        for score in ("fc", "event_f1"):
            best_peer = max(peers, key=lambda p, score=score: float(full[p][score]))
            margin = float(full[reference][score] - full[best_peer][score])
            margins = boot[reference][score] - np.max([boot[p][score] for p in peers], axis=0)
            low, high = np.percentile(margins, [2.5, 97.5])
            rows.append(
                {
                    "dataset": dataset,
                    "score": score,
                    "series": n_series,
                    reference: float(full[reference][score]),
                    "best_peer": best_peer,
                    "peer_score": float(full[best_peer][score]),
                    "margin": margin,
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "p_above_0": float(np.mean(margins > 0)),
                    "p_at_least_0_10": float(np.mean(margins >= 0.10)),
                }
            )
    # no scored series (an extract without ground truth, run without the benchmarks): no rows, same columns
    return pd.DataFrame(rows, columns=["dataset", "score", "series", reference, *INTERVAL])


def series_margins(con: duckdb.DuckDBPyConnection, resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """`bootstrap_margins` of the warehouse's evaluation (evaluation.fct_eval_series_scores)."""
    per_series = con.execute(
        f"select dataset, detector, series_key, {', '.join(COUNTS)} from evaluation.fct_eval_series_scores"
    ).df()
    return bootstrap_margins(per_series, resamples=resamples, seed=seed)
