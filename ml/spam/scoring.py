"""Scoring with the champion: every number of the weeks due into `ml.spam_scores`, in chunks, one transaction a
week; a week that lacks a feature the champion uses is refused, never scored with zeros."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd

from ml.errors import TrainingError
from ml.logs import log_event, timed
from ml.settings import Paths
from ml.spam import store
from ml.spam.evaluate import load_champion
from ml.spam.features import check_batch, feature_sets, load_week
from ml.spam.registry import Registry
from ml.spam.train import LifecycleConfig


def score(
    con: duckdb.DuckDBPyConnection, p: Paths, weeks: list | None = None, cfg: LifecycleConfig | None = None
) -> int:
    """Score every number of the given weeks (default: every week of the champion's feature mart that the
    champion has not scored yet, which always includes the latest week) into ml.spam_scores."""
    cfg = cfg or LifecycleConfig()
    store.ensure_tables(con)
    reg = Registry(p)
    sets = feature_sets(con)
    champ = load_champion(reg, sets)
    if champ is None:
        raise TrainingError("no champion model to score with; run `python -m ml spam train` first")
    version, fs, model, threshold = champ.version, champ.fs, champ.model, champ.threshold
    expected = json.loads(reg.tags(version)["features"])
    all_weeks = [r[0] for r in con.execute(f"select distinct week_start from {fs.relation} order by 1").fetchall()]
    strict = weeks is not None  # weeks asked for by name must all be scorable
    if weeks is None:
        done = {
            r[0]
            for r in con.execute(
                "select distinct week_start from ml.spam_scores where model_version = ?", [version]
            ).fetchall()
        }
        weeks = [w for w in all_weeks if w not in done or w == all_weeks[-1]]
    total = 0
    with timed("spam_score", model_version=version, feature_version=fs.version, weeks=len(weeks)) as facts:
        for week in weeks:
            t0 = time.perf_counter()
            frame = load_week(con, fs, week)
            unobserved = ~frame[list(fs.flags)].all(axis=1) if fs.flags else pd.Series(False, index=frame.index)
            if unobserved.all() and week != all_weeks[-1] and not strict:
                log_event("spam_score.skipped_week", week=str(week), reason="feature not delivered that week")
                continue
            if unobserved.any():
                raise TrainingError(
                    f"week {week}: {int(unobserved.sum())} rows lack a feature the champion uses "
                    f"({', '.join(fs.flags)} false); they are not scored with zeros"
                )
            out = score_batch(frame, model, expected, threshold, version, fs.version, cfg.score_chunk_rows)
            con.execute("begin transaction")
            con.execute("delete from ml.spam_scores where model_version = ? and week_start = ?", [version, week])
            con.register("scores_frame", out)
            con.execute("insert into ml.spam_scores select * from scores_frame")
            con.unregister("scores_frame")
            con.execute("commit")
            total += len(out)
            log_event(
                "spam_score.week",
                week=str(week),
                rows=len(out),
                flagged=int(out["is_flagged"].sum()),
                seconds=round(time.perf_counter() - t0, 2),
            )
        facts.update(rows=total)
    return total


def score_batch(
    frame: pd.DataFrame,
    model,
    expected: list[str],
    threshold: float,
    version: int,
    feature_version: int,
    chunk_rows: int = 1_000_000,
) -> pd.DataFrame:
    """The rows of `ml.spam_scores` for one batch of feature rows (keys and the model's features): the one scoring
    function of both engines, over a whole week here and over each Arrow batch of a partition on Spark
    (`ml.spark.score_on_spark`). The batch must carry exactly the model's features (`check_batch`)."""
    x = check_batch(frame, expected)
    s = (
        np.concatenate([model.predict_proba(x.iloc[i : i + chunk_rows])[:, 1] for i in range(0, len(x), chunk_rows)])
        if len(x)
        else np.array([], dtype="float64")
    )
    return pd.DataFrame(
        {
            "number_id": frame["number_id"].to_numpy(),
            "week_start": frame["week_start"].to_numpy(),
            "model_version": np.full(len(x), version, dtype="int32"),
            "feature_version": np.full(len(x), feature_version, dtype="int32"),
            "score": s,
            "is_flagged": s >= threshold,
            "scored_at": datetime.now(UTC).replace(tzinfo=None),
        }
    )
