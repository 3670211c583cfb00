"""Training a spam-model candidate: the labelled training rows of one feature-mart version, every model family
fitted on 80 % of the numbers and judged on the other 20 %, the best one refitted on all rows.

The candidate's fingerprint (data, feature version and columns, parameters, code) is computed from the rows
before any fit (`training_rows`), so a rerun whose candidate is already registered pays no fit at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from ml.errors import TrainingError
from ml.logs import log_event, timed
from ml.settings import DEFAULT_N_BOOT, DEFAULT_SEED
from ml.spam.features import FeatureSet, count_unobserved, load_examples
from ml.spam.metrics import GateRules, point_metrics, threshold_for_fpr
from ml.spam.model import FAMILIES, make_pipeline
from ml.spam.registry import code_version


@dataclass
class LifecycleConfig:
    seed: int = DEFAULT_SEED
    validation_share: float = 0.2  # share of training numbers held out to pick the family and the threshold
    n_boot: int = DEFAULT_N_BOOT
    rules: GateRules = field(default_factory=GateRules)
    score_chunk_rows: int = 1_000_000


@dataclass
class Candidate:
    fs: FeatureSet
    family: str
    model: object
    threshold: float
    train_start: str
    train_end: str
    train_rows: int
    excluded_unobserved: int
    validation: dict  # per family: held-out PR-AUC, ROC-AUC, fit seconds (logged to MLflow)
    example: pd.DataFrame  # a few training rows: the model's input signature in MLflow
    data: pd.DataFrame  # the training rows (number, week, label, features): the run's dataset in MLflow
    fingerprint: str
    seconds: float


def _validation_mask(numbers: pd.Series, share: float) -> np.ndarray:
    """Stable, grouped by number: all rows of a number fall on the same side."""
    return (pd.util.hash_array(numbers.to_numpy(dtype=str)) % 1000) < int(share * 1000)


@dataclass
class TrainingRows:
    """The labelled training rows of one feature-mart version and their fingerprint, before any fit."""

    fs: FeatureSet
    df: pd.DataFrame
    excluded_unobserved: int  # rows left out: a feature was not delivered in their week
    fingerprint: str


def training_rows(con: duckdb.DuckDBPyConnection, fs: FeatureSet, cfg: LifecycleConfig) -> TrainingRows:
    """The training rows and the fingerprint of what a candidate on them would be (data, features, parameters,
    code); raises TrainingError when they cannot train a model."""
    df = load_examples(con, fs, ("train",))
    excluded = count_unobserved(con, fs, ("train",))
    if df.empty or df["is_spam"].nunique() < 2:
        raise TrainingError(
            f"feature version {fs.version}: {len(df)} labelled training rows with both classes needed "
            f"({excluded} rows left out because a feature was not delivered in their week)"
        )
    h = hashlib.sha256()
    h.update(str(pd.util.hash_pandas_object(df[["number_id", "week_start", "is_spam", *fs.columns]]).sum()).encode())
    h.update(json.dumps([fs.version, fs.columns, cfg.seed, cfg.validation_share, code_version()]).encode())
    return TrainingRows(fs, df, excluded, h.hexdigest()[:16])


def train_candidate(rows: TrainingRows, cfg: LifecycleConfig) -> Candidate:
    """Fit every family on 80 % of the training numbers, pick the best PR-AUC on the other 20 %, set the
    threshold there (FPR target on legitimate numbers), then refit the chosen family on all training rows."""
    t0 = time.perf_counter()
    fs, df, excluded = rows.fs, rows.df, rows.excluded_unobserved
    with timed("spam_train", feature_version=fs.version) as facts:
        val = _validation_mask(df["number_id"], cfg.validation_share)
        x, y = df[fs.columns], df["is_spam"].to_numpy()
        results = {}
        for family in FAMILIES:
            t1 = time.perf_counter()
            model = make_pipeline(family, fs, cfg.seed).fit(x[~val], y[~val])
            s_val = model.predict_proba(x[val])[:, 1]
            results[family] = (model, s_val, point_metrics(y[val], s_val, 0.5), time.perf_counter() - t1)
            log_event(
                "spam_train.family",
                feature_version=fs.version,
                family=family,
                rows=int((~val).sum()),
                validation_pr_auc=round(results[family][2]["pr_auc"], 4),
                seconds=round(results[family][3], 2),
            )
        best = max(FAMILIES, key=lambda f: results[f][2]["pr_auc"])
        _, s_val, _, _ = results[best]
        threshold = threshold_for_fpr(y[val], s_val, cfg.rules.fpr_target)
        # the family and the threshold are chosen on held-out numbers; the model then learns from all of them
        model = make_pipeline(best, fs, cfg.seed).fit(x, y)
        facts.update(rows=len(df), family=best, excluded_unobserved=excluded)
    return Candidate(
        fs=fs,
        family=best,
        model=model,
        threshold=threshold,
        train_start=str(df["week_start"].min())[:10],
        train_end=str(df["week_start"].max())[:10],
        train_rows=len(df),
        excluded_unobserved=excluded,
        validation={
            f: {"pr_auc": r[2]["pr_auc"], "roc_auc": r[2]["roc_auc"], "fit_seconds": r[3]} for f, r in results.items()
        },
        example=x.head(50),
        data=df[["number_id", "week_start", "is_spam", *fs.columns]],
        fingerprint=rows.fingerprint,
        seconds=time.perf_counter() - t0,
    )
