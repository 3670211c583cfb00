"""`make bench-spam`: the spam feature mart, training and scoring at about 1M and 10M numbers per week.

For each size, a scratch state directory gets three weekly files (all carrying manual_spam_count, labels for
the older weeks) from the generator, then each stage runs in its own process so its wall time and peak RSS
are its own (the process's own ru_maxrss):
  ingest    load the weekly and label files into raw (DuckDB CSV reader)
  features  `dbt build --select +fct_spam_features` (staging, validation with quarantine, derivations, both
            versions of the mart, their tests)
  train     one challenger on the latest feature version: both families fitted, the best kept, evaluated
            with a 50-resample bootstrap, registered in MLflow (this is the training-time figure)
  score     the champion scores every number of the latest week back into ml.spam_scores
  spark-feat  (with the [spark] extra) the features stage's dbt build on a local Spark session, from Spark
            copies of the raw tables it reads (copied through Parquet, not timed): its build seconds, and the
            peak memory of the JVM beside the process's own
  spark-score  (with the [spark] extra) the same week scored on a local Spark session (`mapInPandas`), from a
            Spark copy of the feature mart: its scoring seconds, and the peak memory of the JVM with its Python
            workers beside the process's own
Generation is reported too but is not part of the targets (10M numbers: features + scoring < 5 min, < 12 GiB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ml.logs import log_event
from ml.settings import PROJECT_DIR, paths

WEEKS = 3


def _stage(home: Path, code: str) -> dict:
    """Run `code` in a fresh interpreter with SENTINEL_HOME=home; wall seconds, peak RSS, its JSON result."""
    env = {**os.environ, "SENTINEL_HOME": str(home), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    t0 = time.perf_counter()
    # the stage's own structured logs (progress per week, per file, per dbt node) stream to our stderr
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE)
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"bench stage failed with exit code {proc.returncode} (its log is above)")
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    return {"seconds": round(seconds, 1), "peak_rss_gib": round(result.pop("_maxrss_kib", 0) / 2**20, 2), **result}


_PRELUDE = "import json, resource\n"
_EPILOGUE = "\nr['_maxrss_kib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nprint(json.dumps(r))\n"

GENERATE = """
from ml.calls.generator import CallsConfig, generate_calls
from ml.settings import paths
p = paths().ensure()
r = generate_calls(CallsConfig(numbers_per_week={n}, weeks={weeks}, feature_start_week=1, label_rate_legit=0.15),
                   p.landing_calls, p.landing_call_labels, p.ground_truth)
"""
INGEST = """
import duckdb
from ml.ingest import CALLS, LABELS, ingest_source
from ml.spam.store import ensure_tables
from ml.settings import paths
p = paths().ensure()
con = duckdb.connect(str(p.warehouse))
r = {{'rows': sum(ingest_source(con, s, d).rows_appended for s, d in ((CALLS, p.landing_calls),
                                                                     (LABELS, p.landing_call_labels)))}}
ensure_tables(con)
"""
# what the features stage builds, on DuckDB and on Spark
FEATURE_SELECTION = ["+fct_spam_features", "+fct_spam_training_examples"]
FEATURE_VARS = {"spam_test_weeks": 1}
FEATURES = """
from ml.dbt import dbt_args, run_dbt
from ml.spam.bench import FEATURE_SELECTION, FEATURE_VARS
run_dbt(dbt_args('build', '--indirect-selection', 'cautious', select=FEATURE_SELECTION, dbt_vars=FEATURE_VARS))
import duckdb
from ml.settings import paths
con = duckdb.connect(str(paths().warehouse))
r = {{'feature_rows': con.execute('select count(*) from marts.fct_spam_features_v2').fetchall()[0][0],
      'latest_week_rows': con.execute('select count(*) from marts.fct_spam_features_v2 where week_start = '
                                      '(select max(week_start) from marts.fct_spam_features_v2)').fetchall()[0][0]}}
"""
TRAIN = """
import duckdb
from ml.spam import lifecycle
from ml.settings import paths
con = duckdb.connect(str(paths().warehouse))
res = lifecycle.run_lifecycle(con, paths(), lifecycle.LifecycleConfig(n_boot=50), only_versions=[2])
v = con.execute('select train_rows, test_rows, model_family from ml.spam_model_versions').fetchall()[0]
r = {{'train_rows': v[0], 'test_rows': v[1], 'family': v[2], 'champion': res.champion}}
"""
SCORE = """
import duckdb
from ml.spam import scoring
from ml.settings import paths
con = duckdb.connect(str(paths().warehouse))
week = con.execute('select max(week_start) from marts.fct_spam_features_v2').fetchall()[0][0]
r = {{'scored_rows': scoring.score(con, paths(), weeks=[week])}}
"""

# The features stage's dbt build on Spark (local[2]), when the [spark] extra is installed: the raw tables it reads
# are copied into Spark through Parquet (not timed), then the same selection, vars and tests are built there.
SPARK_FEATURES = """
import json, time
from ml import spark as sp
from ml.anomaly.bench import ChildRssSampler
from ml.settings import paths
from ml.spam.bench import FEATURE_SELECTION, FEATURE_VARS
p = paths()
with ChildRssSampler() as spark_side:
    s = sp.session(p)
    selection = ' '.join(FEATURE_SELECTION)
    copied = sp.copy_tables(p, s, sp.selection_sources(p, sp.list_selection(p, selection)))
    t0 = time.perf_counter()
    sp.spark_dbt(p, 'build', '--indirect-selection', 'cautious', '--full-refresh',
                 '--vars', json.dumps(FEATURE_VARS), select=(selection,))
    seconds = time.perf_counter() - t0
    rows = s.table('marts.fct_spam_features_v2').count()
    s.stop()
r = {{'source_rows': sum(copied.values()), 'feature_rows': rows, 'build_seconds': round(seconds, 1),
      'jvm_peak_gib': round(spark_side.mib / 1024, 2)}}
"""

# The same week scored on Spark (local[2]), when the [spark] extra is installed: the champion's feature mart is
# copied into Spark through Parquet (not timed), then `score_on_spark` (mapInPandas, the model broadcast) writes
# Spark's ml.spam_scores. Its peak memory is the JVM's and its Python workers' (descendants of this process,
# sampled) beside this process's own.
SPARK_SCORE = """
import time
from ml import spark as sp
from ml.anomaly.bench import ChildRssSampler
from ml.settings import paths
p = paths()
with ChildRssSampler() as spark_side:
    s = sp.session(p)
    sp.copy_tables(p, s, ['marts.fct_spam_features_v2'])
    t0 = time.perf_counter()
    version, week, rows = sp.score_on_spark(p, s)
    seconds = time.perf_counter() - t0
    s.stop()
r = {{'scored_rows': rows, 'scoring_seconds': round(seconds, 1), 'jvm_peak_gib': round(spark_side.mib / 1024, 2)}}
"""


def _stages() -> list[tuple[str, str]]:
    """The stages to run: Spark's only where PySpark and Java are installed (`make spark-extra`)."""
    from ml.spark import SparkUnavailable, require_spark

    stages = [("generate", GENERATE), ("ingest", INGEST), ("features", FEATURES), ("train", TRAIN), ("score", SCORE)]
    try:
        require_spark()
    except SparkUnavailable as e:
        log_event("bench_spam.spark_skipped", reason=str(e))
        return stages
    return [*stages, ("spark-feat", SPARK_FEATURES), ("spark-score", SPARK_SCORE)]


def run_bench(sizes: list[int], keep: bool = False) -> list[dict]:
    root = paths().home / "bench" / "spam"
    stages = _stages()
    results = []
    for n in sizes:
        home = root / f"n{n}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        row: dict = {"numbers_per_week": n, "weeks": WEEKS}
        for name, code in stages:
            log_event("bench_spam.stage.start", numbers_per_week=n, stage=name)
            got = _stage(home, _PRELUDE + code.format(n=n, weeks=WEEKS) + _EPILOGUE)
            log_event("bench_spam.stage.done", numbers_per_week=n, stage=name, **got)
            row[name] = got
        results.append(row)
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    print("\nSpam feature mart, training and scoring (each stage in its own process; 2 cores)")
    print(
        f"{'numbers/week':>13} {'stage':<11} {'wall s':>8} {'peak GiB':>9}  details"
        f"\n{'-' * 13} {'-' * 11} {'-' * 8} {'-' * 9}  {'-' * 40}"
    )
    for row in results:
        for stage in [name for name, _ in stages]:
            s = dict(row[stage])
            wall, rss = s.pop("seconds"), s.pop("peak_rss_gib")
            print(f"{row['numbers_per_week']:>13,} {stage:<11} {wall:>8.1f} {rss:>9.2f}  {json.dumps(s)}")
        target = row["features"]["seconds"] + row["score"]["seconds"]
        peak = max(row["features"]["peak_rss_gib"], row["score"]["peak_rss_gib"])
        label = "(10M target: < 300 s, < 12 GiB)"
        print(f"{row['numbers_per_week']:>13,} {'feat+score':<11} {target:>8.1f} {peak:>9.2f}  {label}")
    return results
