"""Evaluation of spam scores: the metrics, paired bootstrap confidence intervals, and the promotion gate.

Metrics (y = 1 for spam): PR-AUC (average precision, the primary metric), ROC-AUC, recall at a fixed
false-positive rate on legitimate numbers, precision / recall / FPR at the model's threshold, Brier score and
expected calibration error (10 equal-width bins). Intervals come from a paired bootstrap over numbers (all
rows of a number are drawn together), so champion and challenger are compared on the same resamples.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.metrics import auc

from ml.settings import DEFAULT_N_BOOT, DEFAULT_SEED

FPR_POINTS = (1e-2, 1e-3, 1e-4)


def recall_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float, w: np.ndarray | None = None) -> float:
    """Recall at the strictest threshold whose false-positive rate on legitimate rows is at most `fpr` (NaN unless
    both classes have weight)."""
    ranked = Ranked(y, s)
    w = np.ones_like(ranked.s) if w is None else w
    if w[ranked.pos].sum() == 0 or w[ranked.y == 0].sum() == 0:
        return float("nan")
    return ranked.recall_at_fpr(fpr, w, w[ranked.order])


def threshold_for_fpr(y: np.ndarray, s: np.ndarray, fpr: float) -> float:
    """Lowest score threshold (flag if score >= threshold) with FPR <= `fpr` on the legitimate rows given."""
    neg = np.sort(s[y == 0])[::-1]
    k = int(np.floor(fpr * neg.size))  # at most k legit rows may score at or above the threshold
    if k >= neg.size:
        return float(neg.min())
    return float(np.nextafter(neg[k], np.inf))


def calibration(y: np.ndarray, s: np.ndarray, bins: int = 10) -> dict:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            mean_s, rate = float(s[m].mean()), float(y[m].mean())
            ece += m.mean() * abs(mean_s - rate)
            rows.append({"bin": b, "n": int(m.sum()), "mean_score": mean_s, "spam_rate": rate})
    return {"ece": float(ece), "bins": rows}


class Ranked:
    """One model's scores sorted once (highest first), so that the metrics of every bootstrap resample need no sort
    and none of scikit-learn's per-call validation: about 10 ms a call with scikit-learn, well under 1 ms here.

    The results are those of `average_precision_score`, `roc_auc_score` (its ROC curve and `auc`) and of a recall
    at an FPR that sorts the legitimate rows for each call, bit for bit, for weights that are whole numbers (none,
    or a bootstrap's counts): every sum over the sorted rows is then exact whatever the order of tied scores,
    zero-weight rows are left out as scikit-learn leaves them out, and the curves are built with the same
    operations (`tests/python/test_spam_gate.py` holds it to them)."""

    def __init__(self, y: np.ndarray, s: np.ndarray) -> None:
        self.y, self.s = np.asarray(y), np.asarray(s, dtype=float)
        if not np.isfinite(self.s).all():  # scikit-learn refuses them too; a sort would hide them
            raise ValueError(f"scores must be finite: {int((~np.isfinite(self.s)).sum())} of {self.s.size} are not")
        self.order = np.argsort(-self.s, kind="stable")
        self.s_sorted = self.s[self.order]
        self.y_sorted = self.y[self.order].astype(float)
        self.neg_sorted = self.y_sorted == 0
        self.s_neg_sorted = self.s_sorted[self.neg_sorted]  # the legitimate rows' scores, highest first
        self.pos = self.y == 1
        self.s_pos = self.s[self.pos]

    def _curve(self, w_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True and false positives (weighted) at each distinct score, highest first, zero-weight rows left out."""
        keep = w_sorted != 0
        s, y, w = self.s_sorted[keep], self.y_sorted[keep], w_sorted[keep]
        at = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
        return np.cumsum(y * w)[at], np.cumsum((1 - y) * w)[at]

    def metrics(self, threshold: float, w: np.ndarray | None = None) -> dict[str, float]:
        y, s = self.y, self.s
        w = np.ones_like(s, dtype=float) if w is None else w
        pos_w, neg_w = float((w * (y == 1)).sum()), float((w * (y == 0)).sum())
        if pos_w == 0 or neg_w == 0:  # one class only among the rows drawn
            return {}
        w_sorted = w[self.order]
        tps, fps = self._curve(w_sorted)
        flag = s >= threshold
        tp = float((w * (flag & (y == 1))).sum())
        fp = float((w * (flag & (y == 0))).sum())
        out = {
            "pr_auc": self._average_precision(tps, fps),
            "roc_auc": self._roc_auc(tps, fps),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / pos_w,
            "fpr": fp / neg_w,
            "brier": float((w * (s - y) ** 2).sum() / w.sum()),
        }
        for f in FPR_POINTS:
            out[f"recall_at_fpr_{f:g}"] = self.recall_at_fpr(f, w, w_sorted)
        return out

    @staticmethod
    def _average_precision(tps: np.ndarray, fps: np.ndarray) -> float:
        # precision_recall_curve, then average_precision_score's step integral
        ps = tps + fps
        precision = np.divide(tps, ps, out=np.zeros_like(tps), where=ps != 0)
        recall = tps / tps[-1]
        precision, recall = np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]
        return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))

    @staticmethod
    def _roc_auc(tps: np.ndarray, fps: np.ndarray) -> float:
        # roc_curve (dropping the points on a straight line, as it does by default), then auc
        if fps.size > 2:
            keep = np.nonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
            fps, tps = fps[keep], tps[keep]
        tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
        return float(auc(fps / fps[-1], tps / tps[-1]))

    def recall_at_fpr(self, fpr: float, w: np.ndarray, w_sorted: np.ndarray) -> float:
        """Recall at the strictest threshold whose FPR on the legitimate rows is at most `fpr` (weights `w`, and the
        same weights in score order, `w_sorted`)."""
        wn = w_sorted[self.neg_sorted]  # the legitimate rows' weights, highest score first
        cum_fp = np.cumsum(wn) / wn.sum()
        # the threshold just above the first legitimate score that would push the FPR over the target
        over = np.nonzero(cum_fp > fpr)[0]
        thr = self.s_neg_sorted[over[0]] if over.size else -np.inf
        w_pos = w[self.pos]
        return float((w_pos * (self.s_pos > thr)).sum() / w_pos.sum())


def point_metrics(y: np.ndarray, s: np.ndarray, threshold: float, w: np.ndarray | None = None) -> dict[str, float]:
    """The metrics of scores `s` against labels `y` (optionally weighted by whole numbers), {} with one class only."""
    return Ranked(y, s).metrics(threshold, w)


@dataclass
class Interval:
    estimate: float
    low: float
    high: float


def _group_index(groups: np.ndarray) -> tuple[np.ndarray, int]:
    _, inv = np.unique(groups, return_inverse=True)
    return inv, int(inv.max()) + 1 if inv.size else 0


def paired_bootstrap(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    thresholds: dict[str, float],
    groups: np.ndarray,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> dict[str, dict[str, Interval]]:
    """Intervals for every metric of every model and for `delta` = last model minus first, same resamples."""
    inv, n_groups = _group_index(groups)
    rng = np.random.default_rng(seed)
    names = list(scores)
    samples: dict[str, dict[str, list[float]]] = {n: {} for n in [*names, "delta"]}
    ranked = {n: Ranked(y, scores[n]) for n in names}  # one sort per model for every resample
    base = {n: ranked[n].metrics(thresholds[n]) for n in names}
    for _ in range(n_boot):
        counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups)) if n_groups else np.array([])
        w = counts[inv].astype(float)
        got = {n: ranked[n].metrics(thresholds[n], w) for n in names}
        if any(not g for g in got.values()):
            continue
        for n in names:
            for k, v in got[n].items():
                samples[n].setdefault(k, []).append(v)
        for k in got[names[0]]:
            samples["delta"].setdefault(k, []).append(got[names[-1]][k] - got[names[0]][k])
    alpha = (1 - level) / 2
    out: dict[str, dict[str, Interval]] = {}
    for n, per_metric in samples.items():
        est = base[n] if n != "delta" else {k: base[names[-1]][k] - base[names[0]][k] for k in base[names[0]]}
        out[n] = {
            k: Interval(est[k], float(np.nanquantile(v, alpha)), float(np.nanquantile(v, 1 - alpha)))
            for k, v in per_metric.items()
        }
    return out


@dataclass
class GateRules:
    """Promote only if PR-AUC improves by more than `min_uplift` at the lower end of the interval, and neither
    the operating point (recall at the target FPR) nor the zero-report slice (PR-AUC) shows a confirmed drop:
    a drop larger than allowed whose interval lies entirely below zero."""

    min_uplift: float = 0.0
    max_recall_drop: float = 0.01
    max_zero_slice_drop: float = 0.01
    fpr_target: float = 1e-3


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    evidence: dict = field(default_factory=dict)

    def evidence_json(self) -> str:
        return json.dumps(self.evidence, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))


def gate(
    overall: dict[str, dict[str, Interval]],
    zero_slice: dict[str, dict[str, Interval]] | None,
    rules: GateRules,
) -> GateDecision:
    """Decide on the paired intervals (`delta` = challenger - champion)."""
    d = overall["delta"]
    recall_key = f"recall_at_fpr_{rules.fpr_target:g}"
    checks = []
    pr = d["pr_auc"]
    checks.append(
        (
            pr.low > rules.min_uplift,
            f"PR-AUC uplift {pr.estimate:+.4f} [95% CI {pr.low:+.4f}, {pr.high:+.4f}] "
            f"{'clears' if pr.low > rules.min_uplift else 'does not clear'} the margin {rules.min_uplift:+.4f}",
        )
    )

    def no_regression(iv: Interval, allowed: float, what: str) -> tuple[bool, str]:
        # a regression is a drop larger than allowed that the interval confirms (its upper end below 0)
        regressed = iv.estimate < -allowed and iv.high < 0
        return (
            not regressed,
            f"{what} {iv.estimate:+.4f} [95% CI {iv.low:+.4f}, {iv.high:+.4f}] "
            f"({'a confirmed drop beyond' if regressed else 'no confirmed drop beyond'} {allowed:.2f})",
        )

    checks.append(no_regression(d[recall_key], rules.max_recall_drop, f"recall at FPR {rules.fpr_target:g}"))
    if zero_slice is not None and "delta" in zero_slice and "pr_auc" in zero_slice["delta"]:
        checks.append(
            no_regression(zero_slice["delta"]["pr_auc"], rules.max_zero_slice_drop, "PR-AUC on numbers with no report")
        )
    promoted = all(ok for ok, _ in checks)
    failed = [msg for ok, msg in checks if not ok]
    reason = ("promoted: " + "; ".join(m for _, m in checks)) if promoted else ("refused: " + "; ".join(failed))
    return GateDecision(
        promoted=promoted,
        reason=reason,
        evidence={
            "rules": asdict(rules),
            "checks": [{"passed": ok, "detail": msg} for ok, msg in checks],
            "overall": {m: {k: asdict(v) for k, v in per.items()} for m, per in overall.items()},
            "zero_report_slice": (
                {m: {k: asdict(v) for k, v in per.items()} for m, per in zero_slice.items()} if zero_slice else None
            ),
        },
    )


def slice_metrics(
    y: np.ndarray, s: np.ndarray, threshold: float, keys: np.ndarray, min_positives: int = 5
) -> list[dict]:
    """Point metrics per slice value (e.g. country), with row and positive counts."""
    out = []
    for k in np.unique(keys):
        m = keys == k
        pos = int(y[m].sum())
        row: dict = {"slice": str(k), "rows": int(m.sum()), "positives": pos}
        if pos >= min_positives and pos < m.sum():
            row.update(point_metrics(y[m], s[m], threshold))
        out.append(row)
    return out
