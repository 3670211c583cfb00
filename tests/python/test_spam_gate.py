"""The champion/challenger gate and the metrics it relies on, on controlled scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from ml.spam.features import FeatureSchemaError, check_batch
from ml.spam.metrics import GateRules, Ranked, gate, paired_bootstrap, recall_at_fpr, threshold_for_fpr


def _scores(n: int = 5_000, seed: int = 0, separation: float = 1.5):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    latent = rng.normal(0, 1, n) + separation * y
    return y, 1 / (1 + np.exp(-latent)), rng


def _decide(y, champion, challenger, zero_mask=None, n_boot=100):
    groups = np.arange(len(y))
    scores = {"champion": champion, "challenger": challenger}
    thr = {k: threshold_for_fpr(y, s, 1e-2) for k, s in scores.items()}
    overall = paired_bootstrap(y, scores, thr, groups, n_boot=n_boot)
    zero = None
    if zero_mask is not None:
        zero = paired_bootstrap(
            y[zero_mask], {k: s[zero_mask] for k, s in scores.items()}, thr, groups[zero_mask], n_boot=n_boot
        )
    return gate(overall, zero, GateRules(fpr_target=1e-2))


def test_gate_refuses_a_challenger_that_is_the_same_model() -> None:
    y, s, _ = _scores()
    d = _decide(y, s, s.copy())
    assert not d.promoted
    assert "does not clear the margin" in d.reason


def test_gate_refuses_a_challenger_that_is_worse() -> None:
    y, s, rng = _scores()
    worse = 1 / (1 + np.exp(-(np.log(s / (1 - s)) + rng.normal(0, 1.5, len(s)))))  # the champion plus noise
    d = _decide(y, s, worse)
    assert not d.promoted
    pr = d.evidence["overall"]["delta"]["pr_auc"]
    assert pr["estimate"] < 0 and pr["low"] < 0


def test_gate_refuses_a_challenger_that_differs_only_by_noise() -> None:
    y, s, rng = _scores(n=1_000, seed=3)
    jittered = 1 / (1 + np.exp(-(np.log(s / (1 - s)) + rng.normal(0, 0.3, len(s)))))
    d = _decide(y, s, jittered)
    assert d.evidence["overall"]["delta"]["pr_auc"]["low"] <= 0
    assert not d.promoted


def test_gate_promotes_a_clearly_better_challenger() -> None:
    y, s, rng = _scores()
    better = 1 / (1 + np.exp(-(np.log(s / (1 - s)) + 1.5 * y)))
    d = _decide(y, s, better)
    assert d.promoted, d.reason
    assert d.reason.startswith("promoted: PR-AUC uplift +")


def test_gate_refuses_a_better_challenger_that_regresses_on_numbers_with_no_report() -> None:
    y, s, rng = _scores()
    zero = rng.random(len(y)) < 0.5  # half of the rows: numbers nobody reported
    logit = np.log(s / (1 - s))
    challenger = 1 / (
        1 + np.exp(-(logit + np.where(zero, -0.0, 3.0 * y) + np.where(zero, rng.normal(0, 2, len(y)), 0)))
    )
    d = _decide(y, s, challenger, zero_mask=zero)
    assert not d.promoted
    assert "PR-AUC on numbers with no report" in d.reason and "a confirmed drop beyond" in d.reason


def test_recall_at_fpr_and_threshold_agree() -> None:
    y, s, _ = _scores()
    thr = threshold_for_fpr(y, s, 1e-2)
    fpr = ((s >= thr) & (y == 0)).sum() / (y == 0).sum()
    assert fpr <= 1e-2
    assert recall_at_fpr(y, s, 1e-2) == pytest.approx(((s >= thr) & (y == 1)).sum() / y.sum(), abs=0.01)
    assert recall_at_fpr(y, np.where(y == 1, 1.0, 0.0), 1e-4) == 1.0  # perfect separation


def _recall_at_fpr_by_sorting(y: np.ndarray, s: np.ndarray, fpr: float, w: np.ndarray) -> float:
    """Recall at an FPR as it was computed before `Ranked`: the legitimate rows sorted again for each call."""
    neg, pos = y == 0, y == 1
    order = np.argsort(-s[neg], kind="stable")
    sn, wn = s[neg][order], w[neg][order]
    cum_fp = np.cumsum(wn) / wn.sum()
    over = np.nonzero(cum_fp > fpr)[0]
    thr = sn[over[0]] if over.size else -np.inf
    return float((w[pos] * (s[pos] > thr)).sum() / w[pos].sum())


@pytest.mark.parametrize("seed", range(6))
def test_the_bootstrap_s_metrics_are_scikit_learn_s_bit_for_bit(seed: int) -> None:
    """`Ranked` sorts once for every resample; its PR-AUC, ROC-AUC and recall at an FPR must be exactly those of
    scikit-learn and of sorting the legitimate rows per call, with tied scores and bootstrap weights (zeros
    included)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 3_000))
    y = (rng.random(n) < rng.uniform(0.05, 0.5)).astype(int)
    y[:2] = [0, 1]  # both classes
    # few distinct values (many ties) in half of the cases, a continuous score in the other half
    s = rng.random(n) * 0.7 + 0.3 * y
    s = np.round(s, 1) if seed % 2 else s
    ranked = Ranked(y, s)
    for w in (None, rng.multinomial(n, np.full(n, 1 / n)).astype(float)):
        if w is not None:
            w[:2] = 1.0  # both classes drawn
        got = ranked.metrics(0.5, w)
        assert got["pr_auc"] == average_precision_score(y, s, sample_weight=w)
        assert got["roc_auc"] == roc_auc_score(y, s, sample_weight=w)
        for f in (1e-2, 1e-3, 1e-4):
            assert got[f"recall_at_fpr_{f:g}"] == _recall_at_fpr_by_sorting(y, s, f, np.ones(n) if w is None else w)
    assert ranked.metrics(0.5, np.where(y == 1, 1.0, 0.0)) == {}  # one class among the rows drawn
    with pytest.raises(ValueError, match=r"scores must be finite: 1 of \d+ are not"):
        Ranked(y, np.r_[np.nan, s[1:]])


def test_a_scoring_batch_with_a_missing_or_extra_column_is_refused_by_name() -> None:
    expected = ["country_code", "log_call_count", "manual_spam_count"]
    ok = pd.DataFrame(
        {
            "number_id": ["1"],
            "week_start": ["2024-04-08"],
            "country_code": ["IN"],
            "log_call_count": [1.0],
            "manual_spam_count": [0],
            "manual_spam_observed": [True],
        }
    )
    assert list(check_batch(ok, expected).columns) == expected
    with pytest.raises(FeatureSchemaError, match="missing column\\(s\\) manual_spam_count"):
        check_batch(ok.drop(columns="manual_spam_count"), expected)
    with pytest.raises(FeatureSchemaError, match="unexpected column\\(s\\) reports_last_month"):
        check_batch(ok.assign(reports_last_month=1), expected)


def test_the_registry_mirror_stamps_an_alias_in_utc_whatever_the_session_time_zone() -> None:
    """The alias stamp was DuckDB's current_timestamp in the session's zone (the machine's): five hours early on a
    machine in New York, next to stamps the project writes in UTC."""
    from datetime import UTC, datetime, timedelta

    import duckdb

    from ml.spam.store import ensure_tables, set_alias

    with duckdb.connect() as con:
        con.execute("set TimeZone = 'America/New_York'")
        ensure_tables(con)
        set_alias(con, "champion", 2)
        ((version, set_at),) = con.execute("select model_version, set_at from ml.spam_model_aliases").fetchall()
    assert version == 2 and abs(set_at - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=10)


def test_a_registry_reached_through_a_link_reads_the_state_the_link_names_now(tmp_path) -> None:
    """MLflow keeps one database engine per tracking URI for the life of the process: with the URI written through
    the link, a registry opened after the link moved to another state still read the first state's file."""
    from ml.settings import Paths
    from ml.spam.registry import Registry
    from tests.python.conftest import point_link

    link = tmp_path / "state"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        point_link(link, tmp_path / name)
        Registry(Paths(link)).client.create_experiment(f"only-in-{name}", artifact_location=(tmp_path / name).as_uri())
    assert Registry(Paths(link)).client.get_experiment_by_name("only-in-a") is None  # the link names b now
    point_link(link, tmp_path / "a")
    assert Registry(Paths(link)).client.get_experiment_by_name("only-in-a") is not None
