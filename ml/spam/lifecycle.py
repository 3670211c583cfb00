"""The spam model lifecycle: train a challenger, evaluate it against the champion, gate, register, promote, score.

`challenge` decides what to train:
* no champion yet: a model on the oldest built feature-mart version becomes the first champion (there is
  nothing to gate it against), then the latest version is challenged as below;
* a feature-mart version newer than the champion's: a challenger on the latest one (the `manual_spam_count`
  story);
* `retrain=True` (the monitoring marts asked for it): a challenger on the latest version and the newest data.
A candidate whose fingerprint (feature version, data, parameters, code) is already registered is not
registered twice. Every gate decision is written to MLflow and to `ml.spam_gate_decisions` with its evidence.
`promote` then moves the `champion` alias when the gate said so; Dagster runs it after the gate's check.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd

from ml.logs import log_event, timed
from ml.settings import Paths
from ml.spam import store
from ml.spam.features import FeatureSet, check_batch, count_unobserved, feature_sets, load_examples, load_week
from ml.spam.metrics import (
    GateDecision,
    GateRules,
    calibration,
    gate,
    paired_bootstrap,
    point_metrics,
    slice_metrics,
    threshold_for_fpr,
)
from ml.spam.model import FAMILIES, make_pipeline
from ml.spam.registry import ALIASES, Registry, code_version

REPORT_COLUMN = "manual_spam_count"


class TrainingError(RuntimeError):
    """Training cannot proceed (no labelled rows, a single class, ...); the message says why."""


@dataclass
class LifecycleConfig:
    seed: int = 42
    validation_share: float = 0.2  # share of training numbers held out to pick the family and the threshold
    n_boot: int = 200
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
    fingerprint: str
    seconds: float


def _validation_mask(numbers: pd.Series, share: float) -> np.ndarray:
    """Stable, grouped by number: all rows of a number fall on the same side."""
    return (pd.util.hash_array(numbers.to_numpy(dtype=str)) % 1000) < int(share * 1000)


def train_candidate(con: duckdb.DuckDBPyConnection, fs: FeatureSet, cfg: LifecycleConfig) -> Candidate:
    """Fit every family on 80 % of the training numbers, pick the best PR-AUC on the other 20 %, set the
    threshold there (FPR target on legitimate numbers), then refit the chosen family on all training rows."""
    t0 = time.perf_counter()
    with timed("spam_train", feature_version=fs.version) as facts:
        df = load_examples(con, fs, ("train",))
        excluded = count_unobserved(con, fs, ("train",))
        if df.empty or df["is_spam"].nunique() < 2:
            raise TrainingError(
                f"feature version {fs.version}: {len(df)} labelled training rows with both classes needed "
                f"({excluded} rows left out because a feature was not delivered in their week)"
            )
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
        h = hashlib.sha256()
        h.update(
            str(pd.util.hash_pandas_object(df[["number_id", "week_start", "is_spam", *fs.columns]]).sum()).encode()
        )
        h.update(json.dumps([fs.version, fs.columns, cfg.seed, cfg.validation_share, code_version()]).encode())
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
        fingerprint=h.hexdigest()[:16],
        seconds=time.perf_counter() - t0,
    )


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
    champion: tuple[int, FeatureSet, object, float] | None,
    sets: dict[int, FeatureSet],
    cfg: LifecycleConfig,
) -> tuple[GateDecision, dict]:
    """Champion and challenger on the same forward-in-time test rows; the gate's decision and the report."""
    models = {}
    thresholds = {}
    if champion is not None:
        models["champion"] = (champion[1], champion[2])
        thresholds["champion"] = champion[3]
    models["challenger"] = (candidate.fs, candidate.model)
    thresholds["challenger"] = candidate.threshold
    with timed("spam_evaluate", feature_version=candidate.fs.version, against=champion[0] if champion else None) as f:
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
    return decision, overall


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


def _champion(reg: Registry, sets) -> tuple[int, FeatureSet, object, float] | None:
    v = reg.alias("champion")
    if v is None:
        return None
    tags = reg.tags(v)
    fv = int(tags["feature_version"])
    if fv not in sets:
        raise TrainingError(f"the champion (version {v}) uses feature version {fv}, which is not built")
    return v, sets[fv], reg.load(v), float(tags["threshold"])


def _sync_aliases(con: duckdb.DuckDBPyConnection, reg: Registry) -> None:
    for a in ALIASES:
        store.set_alias(con, a, reg.alias(a))


@dataclass
class Challenge:
    """What one lifecycle step did: the challenger registered this time (if any) and the gate's verdict on it.
    Promotion is a separate step (`promote`), so an orchestrator can block it on the verdict."""

    champion: int | None  # the champion the challenger was judged against
    challenger: int | None = None  # the version registered and judged this time; None: nothing new to judge
    feature_version: int | None = None
    promoted: bool | None = None  # the gate's verdict on `challenger`
    reason: str = ""
    bootstrapped: int | None = None  # the first model ever: champion with no gate (there is nothing to beat)
    metrics: dict[str, float] = field(default_factory=dict)  # the challenger's test metrics (point estimates)
    uplift: dict[str, float] | None = None  # PR-AUC challenger - champion: estimate, low, high
    notes: list[str] = field(default_factory=list)


def _register(
    con: duckdb.DuckDBPyConnection,
    reg: Registry,
    cand: Candidate,
    champ: tuple[int, FeatureSet, object, float] | None,
    sets: dict[int, FeatureSet],
    cfg: LifecycleConfig,
) -> tuple[int, GateDecision, dict]:
    """Evaluate against the champion, register the version with its evidence in MLflow, mirror it into the
    warehouse, record the gate decision and point the `challenger` alias at it. Promotes nothing."""
    decision, overall = evaluate(con, cand, champ, sets, cfg)
    ch = overall["challenger"]
    fv = cand.fs.version
    tags = {
        "feature_version": fv,
        "feature_relation": cand.fs.relation,
        "features": json.dumps(cand.fs.columns),
        "model_family": cand.family,
        "threshold": repr(cand.threshold),
        "fpr_target": cfg.rules.fpr_target,
        "train_start": cand.train_start,
        "train_end": cand.train_end,
        "test_start": decision.evidence["report"]["test_start"],
        "test_end": decision.evidence["report"]["test_end"],
        "code_version": code_version(),
        "fingerprint": cand.fingerprint,
        "gate": "promoted" if decision.promoted else "refused",
        "run_name": f"spam_v{fv}_{cand.family}",
    }
    params = {
        "feature_version": fv,
        "model_family": cand.family,
        "seed": cfg.seed,
        "validation_share": cfg.validation_share,
        "n_boot": cfg.n_boot,
        "train_rows": cand.train_rows,
        "excluded_unobserved_rows": cand.excluded_unobserved,
        **{f"gate_{k}": v for k, v in vars(cfg.rules).items()},
    }
    metrics = {f"test_{k}": v.estimate for k, v in ch.items()}
    metrics.update({f"test_{k}_ci_low": v.low for k, v in ch.items()})
    metrics.update({f"test_{k}_ci_high": v.high for k, v in ch.items()})
    metrics["train_seconds"] = cand.seconds
    metrics.update({f"validation_{k}_{fam}": v for fam, got in cand.validation.items() for k, v in got.items()})
    # MLflow and the warehouse are two stores: the mirror rows commit only after the registration succeeded,
    # and a version registered whose mirror never committed (a crash in between) is removed on the next try
    # (see `_find_registered`), so a retried step neither duplicates nor loses a version.
    version = reg.log_and_register(
        cand.model,
        params,
        metrics,
        tags,
        cand.example,
        {"gate_decision.json": {"promoted": decision.promoted, "reason": decision.reason, **decision.evidence}},
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        con.execute(
            "insert into ml.spam_model_versions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                version,
                reg.run_id(version),
                fv,
                cand.family,
                cand.fingerprint,
                tags["code_version"],
                now,
                cand.train_start,
                cand.train_end,
                tags["test_start"],
                tags["test_end"],
                cand.train_rows,
                decision.evidence["report"]["test_rows"],
                cand.threshold,
                cfg.rules.fpr_target,
                ch["pr_auc"].estimate,
                ch["roc_auc"].estimate,
                ch["precision"].estimate,
                ch["recall"].estimate,
            ],
        )
        con.execute(
            "insert into ml.spam_gate_decisions values (?, ?, ?, ?, ?, ?)",
            [now, version, champ[0] if champ else None, decision.promoted, decision.reason, decision.evidence_json()],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    reg.set_alias("challenger", version)
    _sync_aliases(con, reg)
    log_event(
        "spam_lifecycle.decision",
        challenger=version,
        champion=champ[0] if champ else None,
        promoted=decision.promoted,
        reason=decision.reason,
    )
    return version, decision, overall


def _find_registered(con: duckdb.DuckDBPyConnection, reg: Registry, fingerprint: str) -> int | None:
    """The registered version with this fingerprint, if its warehouse mirror was committed; an orphan (the
    step crashed between the two stores) is deleted from MLflow so the candidate registers cleanly again."""
    version = reg.find(fingerprint)
    if version is None:
        return None
    mirrored = con.execute("select count(*) from ml.spam_model_versions where model_version = ?", [version])
    if mirrored.fetchall()[0][0]:
        return version
    log_event("spam_lifecycle.orphan_removed", version=version, fingerprint=fingerprint)
    reg.delete(version)
    return None


def _pending_promotion(con: duckdb.DuckDBPyConnection, version: int, champion: int) -> str | None:
    """The gate's reason if `version` was promoted against the current champion and nothing was decided since
    (no promotion, no rollback): a step that died between the gate and the alias. None otherwise."""
    latest = con.execute(
        "select challenger_version, champion_version, promoted, reason from ml.spam_gate_decisions "
        "order by decided_at desc limit 1"
    ).fetchall()
    if latest and latest[0][0] == version and latest[0][1] == champion and latest[0][2] and version != champion:
        return latest[0][3]
    return None


def _set_champion(con: duckdb.DuckDBPyConnection, reg: Registry, version: int) -> int | None:
    old = reg.alias("champion")
    reg.set_alias("previous", old)
    reg.set_alias("champion", version)
    _sync_aliases(con, reg)
    log_event("spam_lifecycle.promoted", champion=version, previous=old)
    return old


def challenge(
    con: duckdb.DuckDBPyConnection,
    p: Paths,
    cfg: LifecycleConfig | None = None,
    retrain: bool = False,
    only_versions: list[int] | None = None,
) -> Challenge:
    """Train, evaluate and register the challenger that is due (see the module doc); promote nothing, except
    the very first model, which becomes champion with no gate. Only the latest due feature version is
    challenged: an intermediate version that a newer one supersedes is skipped (and said so in `notes`).
    `only_versions` restricts the feature-mart versions considered (the benchmark trains only the latest)."""
    cfg = cfg or LifecycleConfig()
    store.ensure_tables(con)
    reg = Registry(p)
    sets = feature_sets(con)
    if only_versions is not None:
        sets = {v: fs for v, fs in sets.items() if v in only_versions}
    if not sets:
        raise TrainingError("no feature mart is built (marts.fct_spam_features_v*); run the dbt build first")
    champ = _champion(reg, sets)
    out = Challenge(champion=champ[0] if champ else None)
    if not con.execute(f"select count(*) from {sets[max(sets)].relation}").fetchall()[0][0]:
        out.reason = "no weekly call data in the feature marts: nothing to train (an extract with API logs only)"
        return out
    if champ is None:
        base = min(sets)
        cand = train_candidate(con, sets[base], cfg)
        version = _find_registered(con, reg, cand.fingerprint)
        if version is None:
            version, _, _ = _register(con, reg, cand, None, sets, cfg)
        _set_champion(con, reg, version)
        out.bootstrapped = out.champion = version
        out.notes.append(f"version {version} (feature version {base}) is the first champion: there was none to beat")
        champ = _champion(reg, sets)
    due = [v for v in sets if v > champ[1].version]
    target = max(due) if due else (max(sets) if retrain else None)
    log_event("spam_lifecycle.plan", champion=champ[0], feature_versions_due=due, retrain=retrain, target=target)
    if len(due) > 1:
        out.notes.append(f"feature versions {due[:-1]} skipped: only the latest, {target}, is challenged")
    if target is None:
        out.reason = (
            f"no challenger due: the champion (version {champ[0]}) uses the latest feature version "
            f"{champ[1].version} and no retraining was asked for"
        )
        return out
    cand = train_candidate(con, sets[target], cfg)
    existing = _find_registered(con, reg, cand.fingerprint)
    pending = _pending_promotion(con, existing, champ[0]) if existing is not None else None
    if pending is not None:  # judged and promoted, but the step that moves the alias never ran: resume it
        log_event("spam_lifecycle.resumed", version=existing, champion=champ[0])
        out.challenger, out.feature_version, out.promoted = existing, target, True
        out.reason = f"resumed: version {existing} was promoted by the gate ({pending}) but is not champion yet"
        return out
    if existing is not None:
        log_event("spam_lifecycle.already_registered", version=existing, fingerprint=cand.fingerprint)
        out.reason = (
            f"the challenger would be version {existing}, already registered (same features, data, parameters "
            "and code): nothing new to judge"
        )
        return out
    version, decision, overall = _register(con, reg, cand, champ, sets, cfg)
    d = overall.get("delta", {}).get("pr_auc")
    out.challenger, out.feature_version = version, target
    out.promoted, out.reason = decision.promoted, decision.reason
    out.metrics = {k: v.estimate for k, v in overall["challenger"].items()}
    out.uplift = {"estimate": d.estimate, "low": d.low, "high": d.high} if d is not None else None
    return out


def promote(con: duckdb.DuckDBPyConnection, p: Paths, outcome: Challenge) -> int | None:
    """Make the challenger champion when the gate promoted it (the old champion becomes `previous`); return
    the champion after the step. Anything else leaves the champion as it is, and so does a stale outcome: one
    judged against a champion that is no longer champion (a rollback since), which is logged, not applied."""
    reg = Registry(p)
    if outcome.challenger is not None and outcome.promoted:
        if reg.alias("champion") == outcome.champion:
            _set_champion(con, reg, outcome.challenger)
        else:
            log_event(
                "spam_lifecycle.stale_promotion",
                challenger=outcome.challenger,
                judged_against=outcome.champion,
                champion=reg.alias("champion"),
            )
    return reg.alias("champion")


def run_lifecycle(
    con: duckdb.DuckDBPyConnection,
    p: Paths,
    cfg: LifecycleConfig | None = None,
    retrain: bool = False,
    only_versions: list[int] | None = None,
) -> Challenge:
    """`challenge` then `promote`: the whole step, for the command line and the benchmark."""
    outcome = challenge(con, p, cfg, retrain=retrain, only_versions=only_versions)
    promote(con, p, outcome)
    return outcome


def score(
    con: duckdb.DuckDBPyConnection, p: Paths, weeks: list | None = None, cfg: LifecycleConfig | None = None
) -> int:
    """Score every number of the given weeks (default: every week of the champion's feature mart that the
    champion has not scored yet, which always includes the latest week) into ml.spam_scores."""
    cfg = cfg or LifecycleConfig()
    store.ensure_tables(con)
    reg = Registry(p)
    sets = feature_sets(con)
    champ = _champion(reg, sets)
    if champ is None:
        raise TrainingError("no champion model to score with; run `python -m ml spam train` first")
    version, fs, model, threshold = champ
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
            x = check_batch(frame, expected)
            s = (
                np.concatenate(
                    [
                        model.predict_proba(x.iloc[i : i + cfg.score_chunk_rows])[:, 1]
                        for i in range(0, len(x), cfg.score_chunk_rows)
                    ]
                )
                if len(x)
                else np.array([])
            )
            out = pd.DataFrame(
                {
                    "number_id": frame["number_id"],
                    "week_start": frame["week_start"],
                    "model_version": version,
                    "feature_version": fs.version,
                    "score": s,
                    "is_flagged": s >= threshold,
                    "scored_at": datetime.now(UTC).replace(tzinfo=None),
                }
            )
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


def rollback(con: duckdb.DuckDBPyConnection, p: Paths) -> tuple[int, int]:
    """Make `previous` the champion again (and the rolled-back champion `previous`); record the decision."""
    store.ensure_tables(con)
    reg = Registry(p)
    champ, prev = reg.alias("champion"), reg.alias("previous")
    if prev is None:
        raise TrainingError("no `previous` model version to roll back to")
    reg.set_alias("champion", prev)
    reg.set_alias("previous", champ)
    con.execute(
        "insert into ml.spam_gate_decisions values (?, ?, ?, true, ?, '{}')",
        [datetime.now(UTC).replace(tzinfo=None), prev, champ, f"rollback: version {champ} replaced by {prev}"],
    )
    _sync_aliases(con, reg)
    log_event("spam_lifecycle.rollback", champion=prev, previous=champ)
    return champ, prev
