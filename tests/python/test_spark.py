"""The Spark path's own logic, without starting Spark (`make spark-test` builds on Spark): the message when
PySpark or Java is missing, the parity check that judges Spark's marts and scores against DuckDB's, and the
scoring function Spark runs on each batch of a partition, and the check that the trainer reads the same training
set from Spark's marts as from DuckDB's."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import duckdb
import pytest

from ml.__main__ import main
from ml.ingest import Ingested
from ml.settings import Paths
from ml.spam.lifecycle import Challenge
from ml.spark import (
    PARITY,
    PARITY_RELATION,
    SCORES_KEY,
    SCORES_READER,
    SCORES_RELATION,
    SparkUnavailable,
    compare,
    compare_training,
    downstream_models,
    require_spark,
)
from ml.spark_ingest import RAW_TABLES


def test_missing_java_and_pyspark_give_one_message_naming_what_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "pyspark" else real_find_spec(name))
    with pytest.raises(SparkUnavailable) as e:
        require_spark()
    assert "'.[spark]'" in str(e.value) and "openjdk-17-jre-headless" in str(e.value)
    # the command line prints it and exits non-zero, without a stack trace
    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    with pytest.raises(SystemExit) as exit_:
        main(["spark-test"])
    assert str(exit_.value) == str(e.value)
    # so does the Dagster job on the Spark engine, before it generates, loads or builds anything
    from orchestration.__main__ import main as orchestrate

    monkeypatch.setenv("SENTINEL_ENGINE", "spark")
    assert orchestrate(["run"]) == 2
    assert not list((tmp_path / "landing").rglob("*.csv"))  # nothing generated


def _scratch(tmp_path: Path, schema: str = "marts") -> tuple[Paths, Path]:
    """A state folder whose DuckDB warehouse has `schema`, and the folder Spark's Parquet copy goes to."""
    spark_out = tmp_path / "spark_out"
    spark_out.mkdir()
    home = Paths(tmp_path)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(f"create schema {schema}")
    return home, spark_out


def _mart(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(
        f"""create table {name} as select * from (values
            ('US/*', date '2024-04-01', 100.0::double, 'down', true, 'value 100.0 is below the lower bound'),
            ('US/*', date '2024-04-02', 1000.0, null, false, null),
            ('IN/*', date '2024-04-01', 500.0, null, false, null)
        ) as t (series_key, series_date, value, direction, is_anomaly, explanation)"""
    )


def test_parity_passes_on_equal_rows_and_names_each_kind_of_difference(tmp_path: Path) -> None:
    home, spark_out = _scratch(tmp_path)
    with duckdb.connect(str(home.warehouse)) as con:
        _mart(con, PARITY_RELATION)
        _mart(con, "spark_copy")
        con.execute(f"copy spark_copy to '{spark_out}/part-0.parquet' (format parquet)")
    same = compare(home, spark_out)
    assert same.ok and same.anomalies == (1, 1) and same.max_rel_diff == {"value": 0.0}
    assert "parity of marts.fct_api_request_anomalies: OK" in same.format()

    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("update spark_copy set value = value * (1 + 1e-6) where series_key = 'IN/*'")  # beyond 1e-9
        con.execute("update spark_copy set direction = 'up', is_anomaly = true where series_date = '2024-04-02'")
        con.execute("update spark_copy set explanation = 'other words' where direction = 'down'")
        con.execute("insert into spark_copy values ('BR/*', date '2024-04-01', 1.0, null, false, null)")
        con.execute(f"copy spark_copy to '{spark_out}/part-0.parquet' (format parquet)")
    diff = compare(home, spark_out)
    assert not diff.ok
    assert (diff.only_duckdb, diff.only_spark, diff.verdicts_differ, diff.anomalies) == (0, 1, 1, (1, 2))
    assert diff.text_differ["explanation"] == 1 and diff.max_rel_diff["value"] == pytest.approx(1e-6, rel=1e-3)
    text = diff.format()
    assert "DIFFERENT" in text and "only in Spark 1" in text and "explanation: 1 text values differ" in text


def test_a_relation_without_verdicts_is_compared_on_rows_text_and_numbers(tmp_path: Path) -> None:
    """The feature marts have no verdict column: their parity is rows, text and numbers, and says nothing of
    anomalies."""
    home, spark_out = _scratch(tmp_path)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "create table marts.fct_spam_features_v2 as select * from (values ('n1', date '2024-04-08', 'US', 0.5),"
            " ('n2', date '2024-04-08', 'IN', 0.25)) as t (number_id, week_start, country_code, answer_rate)"
        )
        con.execute("create table spark_copy as select * from marts.fct_spam_features_v2")
        con.execute("update spark_copy set country_code = 'BR' where number_id = 'n2'")
        con.execute(f"copy spark_copy to '{spark_out}/part-0.parquet' (format parquet)")
    key, verdict = PARITY["marts.fct_spam_features_v2"]
    diff = compare(home, spark_out, "marts.fct_spam_features_v2", key, verdict)
    assert not diff.ok and diff.anomalies is None and diff.text_differ == {"country_code": 1}
    assert "anomalies" not in diff.format() and "country_code: 1 text values differ" in diff.format()


def test_spark_test_prints_every_relation_and_fails_when_one_differs(tmp_path, monkeypatch, capsys) -> None:
    import ml.spark

    same = ml.spark.Parity("marts.fct_api_request_anomalies", 3, 3, 0, 0, 0, (1, 1))
    differs = ml.spark.Parity("marts.fct_spam_features_v2", 2, 2, 0, 0, text_differ={"country_code": 1})
    monkeypatch.setattr(ml.spark, "spark_test", lambda p, selection, n_boot: [same, differs])
    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        main(["spark-test"])
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "parity of marts.fct_api_request_anomalies: OK" in out
    assert "parity of marts.fct_spam_features_v2: DIFFERENT" in out
    monkeypatch.setattr(ml.spark, "spark_test", lambda p, selection, n_boot: [same])
    main(["spark-test"])  # every relation equal: no exit


def test_spark_ingests_the_landing_copies_the_other_sources_not_the_run_history(tmp_path: Path, monkeypatch) -> None:
    """spark-test has Spark ingest the landing files itself (from scratch, with DuckDB's load ids) and read the
    benchmarks the evaluation reads, and copies the other tables the project reads (the lifecycle's), but not the
    run and test history: Spark's dbt hooks write Spark's, and its observability marts must not report DuckDB's
    runs."""
    import ml.spark

    copied: list[str] = []
    dropped: list[str] = []
    ingested: list[Path] = []

    class Stop(Exception):
        pass

    class Session:
        def sql(self, statement: str) -> None:
            dropped.append(statement)

    def copy_tables(p, spark, tables):
        copied.extend(tables)
        raise Stop

    def ingest(p, spark, load_ids):
        ingested.append(p.home)
        return Ingested()

    reads = ["ingestion.loads", "observability.elementary_test_results", "raw.api_requests", "raw.benchmark_points"]
    monkeypatch.setattr(ml.spark, "session", lambda p: Session())
    monkeypatch.setattr(ml.spark, "list_selection", lambda p, selection: [])
    monkeypatch.setattr(ml.spark, "selection_sources", lambda p, listed: reads)
    monkeypatch.setattr(ml.spark, "ingest_landing_spark", ingest)
    monkeypatch.setattr(ml.spark, "replayed_load_ids", lambda warehouse: None)
    monkeypatch.setattr(ml.spark, "load_benchmarks_spark", lambda spark: ingested.append("benchmarks"))
    monkeypatch.setattr(ml.spark, "copy_tables", copy_tables)
    home, _ = _scratch(tmp_path)
    with pytest.raises(Stop):
        ml.spark.spark_test(home)
    assert ingested == [home.home, "benchmarks"]
    assert dropped == [f"drop table if exists {t}" for t in RAW_TABLES]
    assert copied == ["ingestion.loads"]


def test_timestamps_are_compared_as_the_same_instant(tmp_path: Path) -> None:
    """DuckDB keeps a load's time as TIMESTAMP (UTC); Spark writes an instant (read back WITH TIME ZONE). Equal
    instants are equal whatever the reading process's time zone, and a moved one is a difference."""
    home, spark_out = _scratch(tmp_path)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("set TimeZone = 'America/New_York'")  # the comparison must not depend on it
        con.execute(
            "create table marts.fct_api_request_load_reconciliation as select * from (values "
            "('l1', timestamp '2024-04-14 23:30:00'), ('l2', timestamp '2024-04-15 06:00:00')) "
            "as t (load_id, loaded_at)"
        )
        con.execute(
            "create table spark_copy as select load_id, timezone('UTC', loaded_at) as loaded_at "
            "from marts.fct_api_request_load_reconciliation"
        )
        con.execute(f"copy spark_copy to '{spark_out}/part-0.parquet' (format parquet)")
    key, verdict = PARITY["marts.fct_api_request_load_reconciliation"]
    same = compare(home, spark_out, "marts.fct_api_request_load_reconciliation", key, verdict)
    assert same.ok and same.text_differ == {"loaded_at": 0}
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("update spark_copy set loaded_at = loaded_at + interval 1 hour where load_id = 'l2'")
        con.execute(f"copy spark_copy to '{spark_out}/part-0.parquet' (format parquet)")
    moved = compare(home, spark_out, "marts.fct_api_request_load_reconciliation", key, verdict)
    assert not moved.ok and moved.text_differ == {"loaded_at": 1}


def test_the_spam_scores_are_compared_on_the_week_spark_scored_and_not_on_the_clock(tmp_path: Path) -> None:
    """DuckDB's ml.spam_scores holds every week and model version scored; Spark scores one week with the champion.
    Only those rows are compared, `scored_at` (when each engine ran) is not, and a flipped flag is a difference."""
    home, spark_out = _scratch(tmp_path, "ml")
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "create table ml.spam_scores as select * from (values "
            "('n1', date '2024-04-01', 1, 1, 0.10::double, false, timestamp '2024-04-02 01:00:00'), "
            "('n1', date '2024-04-08', 1, 1, 0.20, false, timestamp '2024-04-09 01:00:00'), "
            "('n2', date '2024-04-08', 1, 1, 0.99, true, timestamp '2024-04-09 01:00:00'), "
            "('n2', date '2024-04-08', 2, 2, 0.97, true, timestamp '2024-04-09 02:00:00')"
            ") as t (number_id, week_start, model_version, feature_version, score, is_flagged, scored_at)"
        )
        con.execute(
            "create table spark_copy as select * replace (now() as scored_at) from ml.spam_scores "
            "where model_version = 1 and week_start = '2024-04-08'"
        )
        con.execute(f"copy spark_copy to '{spark_out}/part-0.parquet' (format parquet)")
    where = "model_version = 1 and week_start = date '2024-04-08'"
    args = (SCORES_RELATION, SCORES_KEY, "is_flagged", "is_flagged", where, ("scored_at",))
    same = compare(home, spark_out, *args)
    assert same.ok and (same.duckdb_rows, same.spark_rows, same.anomalies) == (2, 2, (1, 1))
    assert "scored_at" not in same.text_differ and "is_flagged: DuckDB 1, Spark 1" in same.format()
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("update spark_copy set is_flagged = true where number_id = 'n1'")
        con.execute(f"copy spark_copy to '{spark_out}/part-0.parquet' (format parquet)")
    flipped = compare(home, spark_out, *args)
    assert not flipped.ok and (flipped.verdicts_differ, flipped.anomalies) == (1, (1, 2))


def test_scoring_batch_by_batch_gives_the_scores_of_the_whole_week() -> None:
    """Spark scores each Arrow batch of each partition on its own (`mapInPandas`); DuckDB scores a week in chunks.
    Both run `score_batch`: however a week is cut, every number gets the same score and flag; a batch whose
    columns are not the model's is refused with their names."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from ml.spam.features import FeatureSchemaError
    from ml.spam.scoring import score_batch

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"answer_rate": rng.random(300), "log_call_count": rng.normal(3, 1, 300)})
    model = LogisticRegression().fit(x, (x["answer_rate"] < 0.3).astype(int))
    week = x.assign(number_id=[f"n{i}" for i in range(300)], week_start=pd.Timestamp("2024-04-08"))
    features = ["answer_rate", "log_call_count"]
    whole = score_batch(week, model, features, 0.5, version=3, feature_version=2, chunk_rows=64)
    shuffled = week.sample(frac=1, random_state=1)
    cuts = [shuffled.iloc[i : i + 43] for i in range(0, len(shuffled), 43)]  # 7 batches, in another order
    batches = pd.concat([score_batch(b, model, features, 0.5, 3, 2) for b in cuts]).set_index("number_id")
    cols = ["score", "is_flagged", "model_version", "feature_version"]
    pd.testing.assert_frame_equal(whole.set_index("number_id")[cols], batches.loc[whole["number_id"], cols])
    assert 0 < whole["is_flagged"].sum() < 300 and set(whole["model_version"]) == {3}
    with pytest.raises(FeatureSchemaError, match="unexpected column.*manual_spam_count"):
        score_batch(week.assign(manual_spam_count=0), model, features, 0.5, 3, 2)


def test_the_models_that_read_the_scores_are_built_after_spark_has_scored() -> None:
    """spark-test builds in the lifecycle's order: the models downstream of the champion's scores (directly or
    through another model of the selection), and only those, wait for Spark's scoring."""

    def model(name: str, *reads: str) -> dict:
        return {
            "resource_type": "model",
            "unique_id": f"model.sentinel.{name}",
            "name": name,
            "depends_on": {"nodes": [f"model.sentinel.{r}" for r in reads]},
        }

    listed = [
        model("fct_spam_features", "int_call_features_weekly"),
        model("fct_spam_retrain_decision", "fct_spam_drift", "int_spam_champion"),
        model("int_spam_champion_scores", "int_spam_champion"),
        model("fct_spam_drift", "fct_spam_features", "int_spam_champion_scores"),
        model("int_spam_champion"),
        {
            "resource_type": "test",
            "unique_id": "test.sentinel.not_null_drift",
            "name": "not_null_drift",
            "depends_on": {"nodes": ["model.sentinel.fct_spam_drift"]},
        },
    ]
    assert SCORES_READER == "model.sentinel.int_spam_champion_scores"
    assert downstream_models(listed, SCORES_READER) == [
        "fct_spam_retrain_decision",
        "int_spam_champion_scores",
        "fct_spam_drift",
    ]
    assert downstream_models(listed[:1], SCORES_READER) == []  # a selection without the scores: one build


def _training_marts(con: duckdb.DuckDBPyConnection) -> None:
    """A training mart and two feature-mart versions (v2 with a flagged feature) for 300 numbers over 3 weeks."""
    con.execute("create schema if not exists marts")
    keys = (
        "select 'n' || lpad(cast(i as varchar), 4, '0') as number_id, "
        "date '2024-03-04' + cast(7 * w as integer) as week_start, i, w from range(300) as r(i), range(3) as s(w)"
    )
    con.execute(
        f"create table marts.fct_spam_training_examples as select number_id, week_start, 'train' as split, "
        f"cast(i % 3 = 0 as integer) as is_spam from ({keys})"
    )
    con.execute(
        f"create table marts.fct_spam_features_v1 as select number_id, week_start, "
        f"case when i % 2 = 0 then 'US' else 'IN' end as country_code, "
        f"cast((i * 7 + w * 3) % 50 + 10 * (i % 3 = 0)::int as bigint) as call_count, "
        f"ln(1 + (i * 13 + w) % 17) / 3 as log_answer_rate from ({keys})"
    )
    con.execute(
        f"create table marts.fct_spam_features_v2 as select f.*, cast((i * 5) % 4 as bigint) as manual_spam_count, "
        f"w > 0 as manual_spam_count_observed from marts.fct_spam_features_v1 as f join ({keys}) using "
        f"(number_id, week_start)"
    )


def test_the_trainer_reads_the_same_training_set_from_either_engine_and_fits_the_same_candidate() -> None:
    """spark-test reads Spark's training and feature marts into the trainer's own interface: equal rows give the
    same fingerprint (rows, order and types) and the same candidate; a label that differs is named."""
    duck, spark_side = duckdb.connect(), duckdb.connect()
    _training_marts(duck)
    _training_marts(spark_side)
    same = compare_training(duck, spark_side)
    assert [p.feature_version for p in same] == [1, 2] and all(p.ok for p in same)
    assert (same[0].spark_rows, same[1].spark_rows) == (900, 600)  # v2 leaves out the week without the feature
    assert same[0].spark_fit is not None and set(same[0].spark_fit["pr_auc"]) == {
        "logistic_regression",
        "hist_gradient_boosting",
    }
    assert "OK" in same[1].format() and "held-out PR-AUC" in same[1].format()

    spark_side.execute("update marts.fct_spam_training_examples set is_spam = 1 - is_spam where number_id = 'n0001'")
    differs = compare_training(duck, spark_side, fit=False)
    assert not any(p.ok for p in differs) and differs[0].duckdb_rows == differs[0].spark_rows
    assert differs[0].duckdb_fingerprint != differs[0].spark_fingerprint
    assert "DIFFERENT" in differs[0].format() and "is_spam: 3 values differ" in differs[0].format()
    # a logarithm's last bit (Spark's and DuckDB's math libraries): another fingerprint, the same training set
    spark_side.execute("update marts.fct_spam_training_examples set is_spam = 1 - is_spam where number_id = 'n0001'")
    spark_side.execute("update marts.fct_spam_features_v1 set log_answer_rate = log_answer_rate * (1 + 2e-16)")
    last_bit = compare_training(duck, spark_side)[0]
    assert last_bit.ok and last_bit.duckdb_fingerprint != last_bit.spark_fingerprint
    assert 0 < last_bit.max_rel_diff["log_answer_rate"] < 1e-15 and "fingerprint: differs" in last_bit.format()
    spark_side.execute("update marts.fct_spam_features_v1 set log_answer_rate = log_answer_rate * (1 + 1e-6)")
    assert not compare_training(duck, spark_side, fit=False)[0].ok
    # the same values with another type (an int read back as a double) are another training set, too
    spark_side.execute("update marts.fct_spam_features_v1 set log_answer_rate = log_answer_rate / (1 + 1e-6)")
    spark_side.execute("alter table marts.fct_spam_features_v1 alter column call_count type double")
    assert [p.ok for p in compare_training(duck, spark_side, fit=False)] == [False, True]
    # a feature version Spark did not build is a difference, not a version left out of the check
    spark_side.execute("drop table marts.fct_spam_features_v2")
    missing = compare_training(duck, spark_side, fit=False)[1]
    assert (missing.feature_version, missing.ok, missing.duckdb_rows, missing.spark_rows) == (2, False, 600, 0)
    assert "(no such version)" in missing.format()


def test_spam_train_and_score_on_spark_run_there_and_the_other_steps_say_they_run_on_duckdb(
    tmp_path, monkeypatch, capsys
) -> None:
    import ml.spark

    scored = []
    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    monkeypatch.setattr(ml.spark, "session", lambda p: "a Spark session")
    monkeypatch.setattr(ml.spark, "score_on_spark", lambda p, spark: scored.append(spark) or (2, "2024-04-08", 1996))
    main(["spam", "score", "--engine", "spark"])
    assert scored == ["a Spark session"]
    out = capsys.readouterr().out
    assert "scored 1996 numbers of the week 2024-04-08 with the champion (version 2) on Spark" in out
    with pytest.raises(SystemExit, match="spam rollback runs on DuckDB only"):
        main(["spam", "rollback", "--engine", "spark"])
    trained = []
    outcome = Challenge(champion=1, challenger=2, feature_version=2, promoted=False, reason="no uplift")
    monkeypatch.setattr(
        ml.spark, "lifecycle_on_spark", lambda p, spark, cfg, retrain: trained.append(cfg.n_boot) or (outcome, None)
    )
    main(["spam", "train", "--engine", "spark", "--n-boot", "7"])
    assert (
        trained == [7] and "challenger version 2 (feature version 2) refused:\n  no uplift" in capsys.readouterr().out
    )
    monkeypatch.setattr(ml.spark, "score_on_spark", lambda p, spark: None)
    with pytest.raises(SystemExit, match="no champion model"):
        main(["spam", "score", "--engine", "spark"])


def _mirror(con: duckdb.DuckDBPyConnection, run: str, promoted: bool = False, threshold: float = 0.75) -> None:
    """A registry mirror as one `spam train` leaves it: version 1 bootstrapped champion, version 2 judged."""
    from ml.spam.store import ensure_tables

    ensure_tables(con)
    for v in (1, 2):
        con.execute(
            "insert into ml.spam_model_versions values (?, ?, ?, 'logistic_regression', ?, ?, now(), "
            "'2024-02-12', '2024-03-18', '2024-03-25', '2024-04-01', 448, 75, ?, 0.001, 0.93, 0.95, 0.8, 0.4)",
            [v, f"run-{run}-{v}", v, f"fingerprint-{run}-{v}", f"code-{run}", threshold + v],
        )
    con.execute("insert into ml.spam_model_aliases values ('champion', 1, now()), ('challenger', 2, now())")
    con.execute(
        "insert into ml.spam_gate_decisions values (now(), 2, 1, ?, 'refused: PR-AUC uplift -0.0028', ?)",
        [promoted, f'{{"run": "{run}"}}'],
    )


def test_the_lifecycle_on_spark_must_register_and_decide_what_duckdb_did(tmp_path: Path) -> None:
    """Run ids, fingerprints, times and evidence differ between two runs by nature and are not compared; a
    decision, a reason, a version or a threshold that differs is a difference."""
    from ml.spark import compare_lifecycle

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        _mirror(con, "duckdb")
    same = duckdb.connect()
    _mirror(same, "spark", threshold=0.75 + 1e-13)
    parity = compare_lifecycle(warehouse, same)
    assert parity.ok, parity.format()
    assert parity.versions == (2, 2) and parity.decisions == (1, 1) and "OK" in parity.format()
    flipped = duckdb.connect()
    _mirror(flipped, "spark", promoted=True)
    assert not (got := compare_lifecycle(warehouse, flipped)).ok
    assert got.differ["ml.spam_gate_decisions.promoted"] == 1 and "promoted: 1 differ" in got.format()
    moved = duckdb.connect()
    _mirror(moved, "spark", threshold=0.75 + 1e-6)
    assert not compare_lifecycle(warehouse, moved).ok
    fewer = duckdb.connect()
    _mirror(fewer, "spark")
    fewer.execute("delete from ml.spam_model_versions where model_version = 2")
    assert not (short := compare_lifecycle(warehouse, fewer)).ok
    assert short.versions == (2, 1) and short.differ["ml.spam_model_versions: rows on one side"] == 1


def _half(x: int) -> float:
    return x / 2


class _Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("the JVM said no")
        self.handle = lambda: None  # a lambda: the exception cannot be pickled back to the parent


def _fails(kind: str) -> None:
    if kind == "value":
        raise ValueError("bad value 7")
    raise _Unpicklable()


def test_a_spark_step_runs_in_a_child_process_and_its_errors_come_back_with_their_text() -> None:
    """Dagster's steps on Spark run in a child (`in_child`): its result, its own exception when that pickles, and
    a SparkStepError with the text when it does not (a Py4J error), never a hung or silent step."""
    from ml.spark_steps import SparkStepError, in_child

    assert in_child(_half, 7) == 3.5
    with pytest.raises(ValueError, match="bad value 7"):
        in_child(_fails, "value")
    with pytest.raises(SparkStepError, match="_Unpicklable: the JVM said no"):
        in_child(_fails, "jvm")


def test_a_spark_runs_published_snapshot_is_compared_with_duckdb_and_loads_on_their_files(tmp_path: Path) -> None:
    """`spark-test --published-from`: a Dagster run on Spark draws its own load ids, so a relation keyed by loads is
    compared on its file; any other difference (a row, a verdict) still fails."""
    from ml.spark import compare_published

    home = Paths(tmp_path / "duck")
    home.home.mkdir()
    snapshot = tmp_path / "snapshot.duckdb"
    quarantined = """create schema marts; create table marts.fct_api_requests_quarantined as select * from (values
        ('{load}', 'api_requests_2024-04-01.csv', 7, timestamp '{at}', 'x', 'US', 'ios', '12', 'bad date'),
        ('{load}', 'api_requests_2024-04-01.csv', 9, timestamp '{at}', '2024-04-01', 'US', 'ios', '-1', '{reason}')
        ) as t (load_id, file_name, line_number, loaded_at, raw_date, raw_country, raw_os, raw_count,
            rejection_reason)"""
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(quarantined.format(load="a1", at="2026-12-02 10:00", reason="negative count"))
        _mart(con, "marts.fct_api_request_anomalies")
    with duckdb.connect(str(snapshot)) as con:
        con.execute(quarantined.format(load="zz", at="2026-12-02 11:30", reason="negative count"))
        _mart(con, "marts.fct_api_request_anomalies")
    got = {r.relation: r for r in compare_published(home, snapshot)}
    assert set(got) == {"marts.fct_api_requests_quarantined", "marts.fct_api_request_anomalies"}
    assert all(r.ok for r in got.values()), [r.format() for r in got.values()]
    with duckdb.connect(str(snapshot)) as con:
        con.execute("update marts.fct_api_requests_quarantined set rejection_reason = 'other' where line_number = 9")
        con.execute("update marts.fct_api_request_anomalies set direction = 'up' where direction = 'down'")
    got = {r.relation: r for r in compare_published(home, snapshot)}
    assert got["marts.fct_api_requests_quarantined"].text_differ["rejection_reason"] == 1
    assert got["marts.fct_api_request_anomalies"].verdicts_differ == 1
    assert not any(r.ok for r in got.values())
