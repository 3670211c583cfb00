"""The spam classifier lifecycle end to end, on the state dir built by `make run` (conftest)."""

from __future__ import annotations

import shutil
from datetime import date
from importlib.metadata import version
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.settings import Paths
from ml.spam import lifecycle, scoring
from ml.spam.features import feature_sets, load_examples
from ml.spam.registry import MODEL_NAME, Registry
from tests.python.conftest import run_ml


def test_run_answers_the_spam_question(built_home: Path) -> None:
    out = (built_home / "run_stdout.txt").read_text()
    assert "v2 (features v2, hist_gradient_boosting) against champion v1 (features v1)" in out
    assert "numbers with no report (manual_spam_count = 0" in out
    assert "against the generator's true classes (labels disagree with them on" in out
    assert "decision: PROMOTED" in out
    assert "Top 10 spam numbers of the week 2024-04-08" in out
    assert "Schema change in the weekly call feed: column_added manual_spam_count in calls_2024-03-04.csv" in out
    assert "Retraining decision: none" in out


def test_every_injected_call_defect_is_quarantined_with_its_reason(warehouse, built_home: Path) -> None:
    defects = pd.read_csv(built_home / "ground_truth" / "calls_defects.csv", dtype={"id": str})
    got = warehouse.execute(
        "select file_name, line_number, rejection_reason from marts.fct_calls_quarantined where source_name = 'calls'"
    ).df()
    expected = defects[defects["expected_outcome"].str.startswith("quarantined")].copy()
    expected["rejection_reason"] = expected["expected_outcome"].str.removeprefix("quarantined: ")
    merged = expected.merge(got, on=["file_name", "line_number"], how="left", suffixes=("_want", "_got"))
    assert (merged["rejection_reason_want"] == merged["rejection_reason_got"]).all()
    assert len(got) == len(expected)  # nothing else was quarantined
    dups = warehouse.execute(
        "select count(*) from intermediate.int_calls_weekly_validated where row_status = 'duplicate'"
    ).fetchall()[0][0]
    assert dups == (defects["expected_outcome"] == "deduplicated").sum()


def test_every_call_and_label_load_reconciles(warehouse) -> None:
    rec = warehouse.execute("select * from marts.fct_calls_load_reconciliation").df()
    assert set(rec["source_name"]) == {"calls", "call_labels"} and len(rec) == 15
    assert (rec["raw_rows"] == rec["staged_rows"] + rec["quarantined_rows"] + rec["duplicate_rows"]).all()
    assert (rec["rows_appended"] == rec["raw_rows"]).all()


def test_feature_mart_versions_and_the_missing_feature_rule(warehouse, manifest: dict) -> None:
    sets = feature_sets(warehouse)
    assert sorted(sets) == [1, 2]
    assert "manual_spam_count" not in sets[1].columns and "manual_spam_count" in sets[2].columns
    assert sets[2].flags == ("manual_spam_observed",)
    per_week = warehouse.execute(
        "select week_start, bool_and(manual_spam_observed) as observed, count(manual_spam_count) as non_null, "
        "count(*) as n from marts.fct_spam_features_v2 group by 1 order by 1"
    ).df()
    old = per_week[per_week["week_start"] < pd.Timestamp("2024-03-04")]
    new = per_week[per_week["week_start"] >= pd.Timestamp("2024-03-04")]
    assert len(old) == 2 and (~old["observed"]).all() and (old["non_null"] == 0).all()  # null, never 0
    assert (new["observed"]).all() and (new["non_null"] == new["n"]).all()
    # v2 trains only on weeks that carried the column; v1 uses every training week
    v2_train = load_examples(warehouse, sets[2], ("train",))
    v1_train = load_examples(warehouse, sets[1], ("train",))
    assert v2_train["week_start"].min() == pd.Timestamp("2024-03-04")
    assert v1_train["week_start"].min() == pd.Timestamp("2024-02-19")
    assert v2_train["manual_spam_count"].notna().all()
    # contracts are enforced on both versions
    for v in (1, 2):
        node = manifest["nodes"][f"model.sentinel.fct_spam_features.v{v}"]
        assert node["contract"]["enforced"] is True


def test_the_label_never_reaches_the_feature_mart(warehouse, manifest: dict) -> None:
    parents = manifest["parent_map"]

    def upstream(node: str) -> set[str]:
        seen, todo = set(), [node]
        while todo:
            for p in parents.get(todo.pop(), []):
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return seen

    label_source = "source.sentinel.calls.call_labels"
    for v in (1, 2):
        assert label_source not in upstream(f"model.sentinel.fct_spam_features.v{v}")
    assert label_source in upstream("model.sentinel.fct_spam_training_examples")  # the only place it is joined
    for v in (1, 2):
        cols = {r[0] for r in warehouse.execute(f"describe marts.fct_spam_features_v{v}").fetchall()}
        assert not cols & {"label", "is_spam", "label_source", "labelled_at"}


def test_split_is_grouped_by_number_and_forward_in_time(warehouse) -> None:
    t = warehouse.execute("select number_id, week_start, split from marts.fct_spam_training_examples").df()
    train, test = t[t["split"] == "train"], t[t["split"] == "test"]
    assert len(train) > 10 * 1000 and len(test) > 1000
    assert not set(train["number_id"]) & set(test["number_id"])
    assert train["week_start"].max() < test["week_start"].min()


def test_registry_holds_both_models_with_aliases_and_lineage(built_home: Path) -> None:
    reg = Registry(Paths(built_home))
    assert (reg.alias("champion"), reg.alias("previous"), reg.alias("challenger")) == (2, 1, 2)
    for v, fv in ((1, 1), (2, 2)):
        tags = reg.tags(v)
        assert tags["feature_version"] == str(fv)
        assert tags["train_start"] <= tags["train_end"] < tags["test_start"]
        assert tags["code_version"] and tags["fingerprint"]
        run = reg.client.get_run(reg.run_id(v))
        assert float(run.data.metrics["test_pr_auc"]) > 0.5
        assert run.data.params["feature_version"] == str(fv)
        # the evidence beside the model: the gate's JSON, the PR curves it judged, the training rows as a dataset
        assert {a.path for a in reg.client.list_artifacts(run.info.run_id)} >= {"gate_decision.json", "pr_curve.png"}
        (data,) = run.inputs.dataset_inputs
        assert data.dataset.name == f"marts.fct_spam_features_v{fv}"
        assert [t.value for t in data.tags if t.key == "mlflow.data.context"] == ["training"]
    assert len(reg.client.search_model_versions(f"name = '{MODEL_NAME}'")) == 2
    experiment = reg.client.get_experiment(reg.experiment_id)  # the UI opens it on its runs (not GenAI traces)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # what a consumer installs to load the champion: the stated libraries at the versions that fitted it
    from mlflow.pyfunc import get_model_dependencies

    pins = Path(get_model_dependencies(f"models:/{MODEL_NAME}/2")).read_text().split()  # Registry set the URI
    assert f"scikit-learn=={version('scikit-learn')}" in pins and f"cloudpickle=={version('cloudpickle')}" in pins
    assert not any(p.startswith("rich") for p in pins)  # inferred before, never imported by the model


def test_scores_cover_every_number_of_the_latest_week(warehouse) -> None:
    n_scored, n_flagged, version = warehouse.execute(
        "select count(*), sum(case when is_flagged then 1 else 0 end), max(model_version) "
        "from marts.fct_spam_scores_latest"
    ).fetchall()[0]
    n_week = warehouse.execute(
        "select count(*) from marts.fct_spam_features_v2 where week_start = date '2024-04-08'"
    ).fetchall()[0][0]
    assert n_scored == n_week > 100_000 and 0 < n_flagged < n_week * 0.05 and version == 2


def test_psi_matches_an_independent_computation(warehouse) -> None:
    drift = warehouse.execute("select * from marts.fct_spam_drift where monitored_name = 'log_call_count'").df()
    ref_start, ref_end = drift["reference_start"].iloc[0], drift["reference_end"].iloc[0]
    values = warehouse.execute("select week_start, log_call_count as v from marts.fct_spam_features_v2").df()
    ref = values[(values["week_start"] >= ref_start) & (values["week_start"] <= ref_end)]["v"]
    edges = np.quantile(ref[ref != 0], np.arange(1, 10) / 10)

    def shares(v: pd.Series) -> np.ndarray:
        b = np.where(v == 0, 0, 1 + np.searchsorted(edges, v, side="right"))
        return np.maximum(np.bincount(b, minlength=11) / len(v), 1e-4)

    e = shares(ref)
    for _, row in drift.iterrows():
        a = shares(values.loc[values["week_start"] == row["week_start"], "v"])
        assert row["psi"] == pytest.approx(float(((a - e) * np.log(a / e)).sum()), abs=1e-9)
    assert (drift["drift_band"] == "stable").all()  # the reference extract has no drift
    msc = warehouse.execute(
        "select week_start, drift_band from marts.fct_spam_drift where monitored_name = 'manual_spam_count' "
        "and week_start < date '2024-03-04'"
    ).fetchall()
    assert {b for _, b in msc} == {"not_observed"}  # weeks without the column are not compared as zeros


def test_monitoring_measures_the_champion_on_newly_labelled_weeks(warehouse) -> None:
    perf = warehouse.execute(
        "select * from marts.fct_spam_model_performance_weekly where is_after_training_window order by week_start"
    ).df()
    assert list(perf["week_start"].dt.date) == [date(2024, 3, 25), date(2024, 4, 1)]
    assert (perf["labelled_spam"] > 30).all() and perf["recall_at_threshold"].between(0.05, 1).all()
    decision = warehouse.execute("select retrain_trigger, should_retrain from marts.fct_spam_retrain_decision")
    assert decision.fetchall() == [("none", False)]


def test_training_again_registers_nothing_new(built_home: Path) -> None:
    before = len(Registry(Paths(built_home)).client.search_model_versions(f"name = '{MODEL_NAME}'"))
    assert "no challenger due" in run_ml(built_home, "spam", "train").stdout  # champion on the latest features
    assert "already registered" in run_ml(built_home, "spam", "train", "--retrain").stdout  # same data, same model
    assert len(Registry(Paths(built_home)).client.search_model_versions(f"name = '{MODEL_NAME}'")) == before


@pytest.fixture(scope="module")
def rolled_back_home(built_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("rollback") / "home"
    shutil.copytree(built_home, home)
    return home


@pytest.mark.slow
def test_rollback_restores_the_previous_champion_and_its_scores(rolled_back_home: Path) -> None:
    proc = run_ml(rolled_back_home, "spam", "rollback")
    assert "champion is now version 1 (was 2)" in proc.stdout
    reg = Registry(Paths(rolled_back_home))
    assert (reg.alias("champion"), reg.alias("previous")) == (1, 2)
    con = duckdb.connect(str(rolled_back_home / "warehouse.duckdb"), read_only=True)
    assert con.execute("select distinct model_version from marts.fct_spam_scores_latest").fetchall() == [(1,)]
    assert con.execute(
        "select count(*) from ml.spam_gate_decisions where reason like 'rollback: version 2 replaced by 1'"
    ).fetchall() == [(1,)]
    con.close()


@pytest.mark.slow
def test_a_v2_model_refuses_to_score_a_week_without_the_feature(rolled_back_home: Path) -> None:
    run_ml(rolled_back_home, "spam", "rollback")  # back to v2 (rollback toggles champion and previous)
    con = duckdb.connect(str(rolled_back_home / "warehouse.duckdb"))
    with pytest.raises(lifecycle.TrainingError, match="lack a feature the champion uses .* not scored with zeros"):
        scoring.score(con, Paths(rolled_back_home), weeks=[date(2024, 2, 19)])
    con.close()


@pytest.fixture(scope="module")
def drift_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small extract whose callers change behaviour in the last two weeks (a campaign), taken through the steps
    the pipeline runs (generate, ingest, dbt, train, score and the monitoring marts, the answer) by their CLIs:
    the pipeline itself is `built_home`'s, and the drift needs none of its other steps."""
    home = tmp_path_factory.mktemp("drift") / "home"
    run_ml(home, "generate", "--calls-numbers", "20000", "--calls-drift-weeks", "2")
    run_ml(home, "ingest")
    # the call side only (the API logs' detection is not needed); cautious: no test that also reads an unbuilt model
    run_ml(home, "build", "--select", "+tag:spam", env={"DBT_INDIRECT_SELECTION": "cautious"})
    run_ml(home, "spam", "train", "--n-boot", "50")
    run_ml(home, "spam", "score")  # and the marts that read the scores: drift and the retraining decision
    (home / "run_stdout.txt").write_text(run_ml(home, "spam", "answer").stdout)
    return home


def test_sustained_drift_asks_for_retraining_with_its_reason(drift_home: Path) -> None:
    con = duckdb.connect(str(drift_home / "warehouse.duckdb"), read_only=True)
    bands = con.execute(
        "select week_start, drift_band from marts.fct_spam_drift where monitored_name = 'log_call_count' "
        "and week_start > reference_end order by week_start"
    ).fetchall()
    assert [b for _, b in bands] == ["stable", "major", "major"]  # the last two weeks drifted, the one before not
    trigger, should, reason = con.execute(
        "select retrain_trigger, should_retrain, reason from marts.fct_spam_retrain_decision"
    ).fetchall()[0]
    con.close()
    assert (trigger, should) == ("sustained_drift", True)
    assert reason.startswith("major drift for 2 weeks in a row: log_call_count (PSI >= 0.")
    assert "Retraining decision: sustained_drift" in (drift_home / "run_stdout.txt").read_text()


def test_the_build_survives_spilling_to_disk(built_home: Path) -> None:
    """Regression: with temp_directory set per connection, a second dbt thread failed once a query had spilled
    ("Cannot switch temporary directory after the current one has been used"); seen at 10M numbers per week."""
    proc = run_ml(built_home, "build", "--select", "+fct_spam_features", env={"SENTINEL_DUCKDB_MEMORY": "120MB"})
    assert "Cannot switch temporary directory" not in proc.stdout + proc.stderr
