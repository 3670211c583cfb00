"""The spam model lifecycle: which challenger is due, register it with the gate's verdict, promote, roll back.

Training is `ml/spam/train.py`, the evaluation and the gate `ml/spam/evaluate.py`, scoring `ml/spam/scoring.py`.

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

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from ml.errors import TrainingError
from ml.logs import log_event
from ml.settings import Paths
from ml.spam import store
from ml.spam.evaluate import Champion, evaluate, load_champion, pr_curve_figure
from ml.spam.features import FeatureSet, feature_sets
from ml.spam.metrics import GateDecision
from ml.spam.registry import ALIASES, Registry, code_version
from ml.spam.train import Candidate, LifecycleConfig, train_candidate, training_rows


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
    champ: Champion | None,
    sets: dict[int, FeatureSet],
    cfg: LifecycleConfig,
) -> tuple[int, GateDecision, dict]:
    """Evaluate against the champion, register the version with its evidence in MLflow, mirror it into the
    warehouse, record the gate decision and point the `challenger` alias at it. Promotes nothing."""
    decision, overall, test = evaluate(con, cand, champ, sets, cfg)
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
        figures={"pr_curve.png": pr_curve_figure(test, decision.evidence["report"]["thresholds"])},
        dataset=(cand.data, cand.fs.relation),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    champion = champ.version if champ else None
    con.execute("begin transaction")
    try:
        row = {
            "model_version": version,
            "run_id": reg.run_id(version),
            "feature_version": fv,
            "model_family": cand.family,
            "fingerprint": cand.fingerprint,
            "code_version": tags["code_version"],
            "trained_at": now,
            "train_start": cand.train_start,
            "train_end": cand.train_end,
            "test_start": tags["test_start"],
            "test_end": tags["test_end"],
            "train_rows": cand.train_rows,
            "test_rows": decision.evidence["report"]["test_rows"],
            "threshold": cand.threshold,
            "fpr_target": cfg.rules.fpr_target,
            "test_pr_auc": ch["pr_auc"].estimate,
            "test_roc_auc": ch["roc_auc"].estimate,
            "test_precision": ch["precision"].estimate,
            "test_recall": ch["recall"].estimate,
        }
        con.execute(  # by column name: the table's column order is not this code's business
            f"insert into ml.spam_model_versions ({', '.join(row)}) values ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        con.execute(
            "insert into ml.spam_gate_decisions values (?, ?, ?, ?, ?, ?)",
            [now, version, champion, decision.promoted, decision.reason, decision.evidence_json()],
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
        champion=champion,
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
    champ = load_champion(reg, sets)
    out = Challenge(champion=champ.version if champ else None)
    if not con.execute(f"select count(*) from {sets[max(sets)].relation}").fetchall()[0][0]:
        out.reason = "no weekly call data in the feature marts: nothing to train (an extract with API logs only)"
        return out
    if champ is None:
        base = min(sets)
        rows = training_rows(con, sets[base], cfg)
        version = _find_registered(con, reg, rows.fingerprint)
        if version is None:
            version, _, _ = _register(con, reg, train_candidate(rows, cfg), None, sets, cfg)
        _set_champion(con, reg, version)
        out.bootstrapped = out.champion = version
        out.notes.append(f"version {version} (feature version {base}) is the first champion: there was none to beat")
        champ = load_champion(reg, sets)
    due = [v for v in sets if v > champ.fs.version]
    target = max(due) if due else (max(sets) if retrain else None)
    log_event("spam_lifecycle.plan", champion=champ.version, feature_versions_due=due, retrain=retrain, target=target)
    if len(due) > 1:
        out.notes.append(f"feature versions {due[:-1]} skipped: only the latest, {target}, is challenged")
    if target is None:
        out.reason = (
            f"no challenger due: the champion (version {champ.version}) uses the latest feature version "
            f"{champ.fs.version} and no retraining was asked for"
        )
        return out
    rows = training_rows(con, sets[target], cfg)  # the fingerprint, before paying for a fit
    existing = _find_registered(con, reg, rows.fingerprint)
    pending = _pending_promotion(con, existing, champ.version) if existing is not None else None
    if pending is not None:  # judged and promoted, but the step that moves the alias never ran: resume it
        log_event("spam_lifecycle.resumed", version=existing, champion=champ.version)
        out.challenger, out.feature_version, out.promoted = existing, target, True
        out.reason = f"resumed: version {existing} was promoted by the gate ({pending}) but is not champion yet"
        return out
    if existing is not None:
        log_event("spam_lifecycle.already_registered", version=existing, fingerprint=rows.fingerprint)
        out.reason = (
            f"the challenger would be version {existing}, already registered (same features, data, parameters "
            "and code): nothing new to judge"
        )
        return out
    version, decision, overall = _register(con, reg, train_candidate(rows, cfg), champ, sets, cfg)
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
