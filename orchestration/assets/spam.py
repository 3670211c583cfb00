"""The spam model's lifecycle as assets: challenger (train, evaluate, register) -> gate (asset check) ->
champion (promotion in the MLflow registry) -> scores. Each wraps `ml.spam.lifecycle`.

The gate is an asset check on the challenger. A refusal is a decision, not a failure: the check shows it with
its evidence (a warning), `spam_champion` keeps the champion (`lifecycle.promote` moves the alias only for a
challenger the gate passed), the champion scores the newest week, and the run succeeds. Scoring the newest week
with the current champion does not wait for a retraining: the landing-file sensor runs `spam_scores` without
the challenger (see `jobs.py`). On the Spark engine each step runs on Spark's marts (`ml/spark_steps.py`).
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MetadataValue,
    Output,
    asset,
)

from ml import spark_steps
from ml.settings import DEFAULT_N_BOOT, DEFAULT_SEED
from ml.spam import lifecycle, scoring
from ml.spam.registry import Registry, tracking_uri
from orchestration.assets.dbt import model_keys
from orchestration.resources import Warehouse, retry_when_locked

TRAINING_INPUTS = [*model_keys("fct_spam_features"), *model_keys("fct_spam_training_examples")]


class SpamLifecycleConfig(Config):
    seed: int = DEFAULT_SEED  # model seed (fixed: the same data gives the same model)
    n_boot: int = DEFAULT_N_BOOT  # bootstrap resamples behind every confidence interval of the gate
    retrain: bool = False  # train a challenger on the newest data even without a new feature version
    reason: str = ""  # why (set by the retraining sensor from fct_spam_retrain_decision); shown on the run


@asset(
    key="spam_challenger",
    deps=TRAINING_INPUTS,
    group_name="spam_model",
    kinds={"scikitlearn", "mlflow"},
    pool="duckdb_writer",
    check_specs=[
        AssetCheckSpec(
            "gate",
            asset="spam_challenger",
            description="Champion/challenger gate: PR-AUC uplift CI above 0, no confirmed drop at the operating "
            "point or on numbers nobody reported. A refusal keeps the champion (a warning, not a failed run).",
        )
    ],
)
def spam_challenger(context: AssetExecutionContext, config: SpamLifecycleConfig, warehouse: Warehouse):
    """Train a challenger on the latest feature-mart version, evaluate it against the champion on the same
    forward-in-time test rows, register it in MLflow (alias `challenger`) with the gate's decision."""
    if config.reason:
        context.log.info(f"retraining asked for: {config.reason}")
    cfg = lifecycle.LifecycleConfig(seed=config.seed, n_boot=config.n_boot)
    with retry_when_locked():
        if warehouse.on_spark:
            outcome = warehouse.spark(spark_steps.challenge, cfg, config.retrain)
        else:
            with warehouse.connect() as con:
                outcome = lifecycle.challenge(con, warehouse.paths, cfg, retrain=config.retrain)
    for note in outcome.notes:
        context.log.info(note)
    context.log.info(outcome.reason)
    meta = {
        "champion_before": outcome.champion,
        "challenger": outcome.challenger,
        "feature_version": outcome.feature_version,
        "decision": "none" if outcome.challenger is None else ("promoted" if outcome.promoted else "refused"),
        "reason": outcome.reason,
        "retrain_reason": config.reason or "-",
        "mlflow": MetadataValue.path(tracking_uri(warehouse.paths)),
        **{f"test_{k}": round(v, 4) for k, v in outcome.metrics.items() if v == v},
    }
    if outcome.uplift:
        meta["pr_auc_uplift"] = MetadataValue.json({k: round(v, 4) for k, v in outcome.uplift.items()})
    yield Output(outcome, metadata=meta)
    if outcome.challenger is None:
        passed, why = True, f"nothing to judge: {outcome.reason}"
    else:
        passed, why = bool(outcome.promoted), outcome.reason
    yield AssetCheckResult(
        check_name="gate",
        passed=passed,
        severity=AssetCheckSeverity.WARN,  # a refusal is the gate doing its job; the champion stays
        metadata={"reason": why, "challenger": outcome.challenger, "champion": outcome.champion},
        description=why,
    )


@asset(
    key="spam_champion",
    group_name="spam_model",
    kinds={"mlflow"},
    pool="duckdb_writer",
)
def spam_champion(context: AssetExecutionContext, warehouse: Warehouse, spam_challenger: lifecycle.Challenge):
    """The `champion` alias in the MLflow registry: moved to the challenger when the gate promoted it."""
    with retry_when_locked():
        if warehouse.on_spark:
            champion = warehouse.spark(spark_steps.promote, spam_challenger)
        else:
            with warehouse.connect() as con:
                champion = lifecycle.promote(con, warehouse.paths, spam_challenger)
    reg = Registry(warehouse.paths)
    tags = reg.tags(champion) if champion is not None else {}
    changed = champion != spam_challenger.champion
    context.log.info(
        f"champion is version {champion}" + (f" (was {spam_challenger.champion})" if changed else " (unchanged)")
    )
    return Output(
        None,
        metadata={
            "champion": champion,
            "previous": reg.alias("previous"),
            "changed": changed,
            "feature_version": tags.get("feature_version", "-"),
            "model_family": tags.get("model_family", "-"),
            "threshold": float(tags["threshold"]) if "threshold" in tags else float("nan"),
        },
    )


@asset(
    key="spam_scores",
    deps=["spam_champion", *model_keys("fct_spam_features")],
    group_name="spam_model",
    kinds={"scikitlearn", "duckdb"},
    pool="duckdb_writer",
)
def spam_scores(context: AssetExecutionContext, warehouse: Warehouse):
    """ml.spam_scores: the champion's score for every number of every week it has not scored (and always the
    latest week), flagged at the champion's threshold."""
    if Registry(warehouse.paths).alias("champion") is None:  # an extract with no call data trains nothing
        context.log.info("no champion model: nothing scored")
        return Output(None, metadata={"rows_scored": 0, "reason": "no champion model"})
    if warehouse.on_spark:
        meta = warehouse.spark(spark_steps.score)
        if meta is None:
            context.log.info("no week of the champion's features on Spark: nothing scored")
            return Output(None, metadata={"rows_scored": 0, "reason": "no week to score"})
    else:
        with warehouse.connect() as con:
            rows = scoring.score(con, warehouse.paths)
            week, flagged, version = con.execute(
                "select week_start, count(*) filter (where is_flagged), any_value(model_version) from ml.spam_scores "
                "where week_start = (select max(week_start) from ml.spam_scores) and model_version = "
                "(select model_version from ml.spam_model_aliases where alias = 'champion') group by 1"
            ).fetchall()[0]
        meta = {"rows_scored": rows, "latest_week": str(week), "flagged_latest_week": flagged, "model": version}
    context.log.info(
        f"scored {meta['rows_scored']} number-weeks; latest week {meta['latest_week']}: "
        f"{meta['flagged_latest_week']} numbers flagged"
    )
    return Output(None, metadata=meta)
