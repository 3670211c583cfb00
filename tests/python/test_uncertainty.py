"""The margin between detectors, with an interval from resampling the scored series (ml/anomaly/uncertainty.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.anomaly.uncertainty import COUNTS, bootstrap_margins, series_margins


def _per_series(counts: dict[str, list[tuple[int, int, int, int, int]]]) -> pd.DataFrame:
    """Rows of fct_eval_series_scores: per detector, one tuple of COUNTS per series s0, s1, ..."""
    rows = [
        {"dataset": "nab", "detector": d, "series_key": f"s{i}", **dict(zip(COUNTS, c, strict=True))}
        for d, series in counts.items()
        for i, c in enumerate(series)
    ]
    return pd.DataFrame(rows)


def test_identical_detectors_have_a_margin_of_exactly_zero() -> None:
    same = [(2, 1, 1, 4, 2), (1, 0, 3, 3, 0), (3, 3, 0, 6, 5)]
    m = bootstrap_margins(_per_series({"robust_seasonal": same, "iqr": same, "zscore": same}), resamples=200)
    assert (m[["margin", "ci_low", "ci_high", "p_above_0", "p_at_least_0_10"]] == 0).all().all()


def test_a_detector_better_on_every_series_has_an_interval_above_zero() -> None:
    good = [(2, 2, 0, 4, 4)] * 8
    poor = [(2, 1, 2, 8, 2)] * 8
    m = bootstrap_margins(_per_series({"robust_seasonal": good, "iqr": poor, "zscore": poor}), resamples=200)
    assert (m["ci_low"] > 0).all() and (m["p_above_0"] == 1).all()
    fc = m.set_index("score").loc["fc"]
    # full set: Fc 1.0 against harmonic mean of point precision 0.25 and recall 0.5
    assert np.isclose(fc["margin"], 1 - 2 * 0.25 * 0.5 / 0.75)


def test_a_margin_made_by_one_series_is_not_sure() -> None:
    """The default is better on one series of twelve and level elsewhere: the full-set margin is positive, but
    resamples without that series show none, so the interval reaches zero."""
    level = [(1, 1, 1, 2, 1)] * 11
    m = bootstrap_margins(
        _per_series(
            {
                "robust_seasonal": [(5, 5, 0, 5, 5), *level],
                "iqr": [(5, 0, 5, 5, 0), *level],
                "zscore": [(5, 0, 5, 5, 0), *level],
            }
        ),
        resamples=2000,
    )
    assert (m["margin"] > 0.1).all()
    assert (m["ci_low"] == 0).all() and (m["p_above_0"] < 0.9).all()


def test_no_scored_series_gives_an_empty_table_that_still_prints() -> None:
    """An extract without ground truth, run without the benchmarks, has no scored series: the answer still
    prints (the step that writes it failed on the empty table)."""
    from ml.anomaly.report import format_margins

    m = bootstrap_margins(_per_series({}).reindex(columns=["dataset", "detector", "series_key", *COUNTS]))
    assert m.empty and {"margin", "ci_low", "ci_high"} <= set(m.columns)
    assert "(no scored series)" in format_margins(m)


def test_the_series_counts_add_up_to_the_evaluation_table(warehouse) -> None:
    """fct_eval_series_scores splits fct_detector_evaluation by series: its sums give the same Fc and event F1,
    and the bootstrap's full-set scores are the table's."""
    table = (
        warehouse.execute(
            "select dataset, detector, fc, event_f1 from evaluation.fct_detector_evaluation where event_type = 'all'"
        )
        .df()
        .set_index(["dataset", "detector"])
    )
    margins = series_margins(warehouse, resamples=100)
    assert set(margins["dataset"]) == {"synthetic", "nab", "aiops"}
    for r in margins.itertuples():
        assert np.isclose(r.robust_seasonal, table.loc[(r.dataset, "robust_seasonal"), r.score], rtol=1e-12)
        assert np.isclose(r.peer_score, table.loc[(r.dataset, r.best_peer), r.score], rtol=1e-12)
        assert r.ci_low <= r.margin <= r.ci_high
