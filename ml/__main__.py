"""Command line: `python -m ml <command>`: the pipeline's steps one by one, without Dagster.
(`make run` runs them all through Dagster: `python -m orchestration run`.)

Commands
  generate   write the reference extracts into the landing folders (+ ground truth): daily API logs
             2024-02-01..2024-04-14 and eight weekly call files ending with the week 2024-04-08
  ingest     load new landing files into the raw schema (--engine spark, or SENTINEL_ENGINE=spark: into the Spark
             warehouse; `spam` follows SENTINEL_ENGINE too, as Dagster does)
  retract    take back a load delivered by mistake (its rows stay in raw, quarantined `retracted_load`), or
             --restore it: python -m ml retract FILE_OR_LOAD_ID --reason TEXT; --list shows the loads
  build      dbt build (seeds, models, tests)
  spam       the spam model lifecycle: train (challenger, gate, register), score, rollback, answer
  evaluate   load the real benchmarks, build the evaluation models, print the comparison table
  answer     print the detection-period answer from the marts
  dashboard  build the static BI dashboard from the published snapshot into $SENTINEL_HOME/dashboard
  detect     run the SQL detector on any table (CSV, Parquet, DuckDB): python -m ml detect --help
  bench      detection-mart throughput vs pandas, and the daily incremental-run cost
  spam-bench feature mart + scoring at 1M and 10M numbers per week, training time on 1M labelled rows
  spark-test the anomaly, spam (features, scores, monitoring) and data-quality marts on Apache Spark, with parity checks
  bench-scale the detection mart on DuckDB and on Spark local at 1M, 10M, 30M series-days: seconds, peak memory
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import duckdb

from ml.dbt import DbtError, dbt_args, run_dbt
from ml.settings import DEFAULT_N_BOOT, DEFAULT_SEED, ENGINES, Paths, Settings, paths


def _connect() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(paths().ensure().warehouse))


EXTRACT_START, EXTRACT_END = "2024-02-01", "2024-04-14"  # the reference extract's days


def generate_extract(seed: int, calls_numbers: int, calls_drift_weeks: int, start: str, end: str) -> dict:
    """The reference extracts into the landing folders (the generators play the source systems): their summaries."""
    from ml.api_logs.generator import GeneratorConfig, generate
    from ml.calls.generator import CallsConfig, generate_calls

    p = paths().ensure()
    cfg = GeneratorConfig(seed=seed, start=date.fromisoformat(start), end=date.fromisoformat(end))
    api = generate(cfg, p.landing_api_logs, p.ground_truth)
    calls = generate_calls(
        CallsConfig(seed=seed, numbers_per_week=calls_numbers, drift_weeks=calls_drift_weeks),
        p.landing_calls,
        p.landing_call_labels,
        p.ground_truth,
    )
    return {"api_logs": api, "calls": calls}


def cmd_generate(args: argparse.Namespace) -> None:
    p = paths()
    g = generate_extract(args.seed, args.calls_numbers, args.calls_drift_weeks, args.start, args.end)
    api, calls = g["api_logs"], g["calls"]
    print(
        f"generated {api['rows']} rows, {api['series']} series, {api['incidents']} incidents, "
        f"{api['defects']} defects into {p.landing_api_logs}"
    )
    print(
        f"generated {calls['rows']} weekly call rows ({calls['numbers']} numbers, {calls['spam_numbers']} spam), "
        f"{calls['defects']} defects, {calls['labels_delivered']} labels delivered into {p.landing_calls.parent}"
    )


def cmd_ingest(args: argparse.Namespace) -> None:
    from ml.ingest import ingest_landing, landing_state, record_ingested
    from ml.spam.store import ensure_tables

    p = paths().ensure()
    if args.engine == "spark":  # into the state's Spark warehouse (profiles.yml's spark output), not DuckDB's
        from ml.spark import SparkUnavailable, session
        from ml.spark_ingest import ingest_landing_spark

        try:
            print(ingest_landing_spark(p, session(p)).summary())
        except SparkUnavailable as e:
            raise SystemExit(str(e)) from None
        return
    seen = landing_state(p)
    with _connect() as con:
        got = ingest_landing(con, p)
        ensure_tables(con)
    record_ingested(p, seen)
    print(got.summary())


def cmd_retract(args: argparse.Namespace) -> None:
    if not args.list and not args.load:
        raise SystemExit("name the load to retract (its file name or load id), or --list the loads")
    p = paths().ensure()
    if args.engine == "spark":
        from ml.spark import SparkUnavailable, session
        from ml.spark_ingest import list_loads_spark, retract_load_spark

        try:
            spark = session(p)
        except SparkUnavailable as e:
            raise SystemExit(str(e)) from None
        if args.list:
            print(list_loads_spark(spark, args.limit))
        else:
            print(retract_load_spark(spark, args.load, args.reason, args.restore).summary())
        return
    from ml.ingest import list_loads, retract_load

    with _connect() as con:
        if args.list:
            print(list_loads(con, args.limit))
        else:
            print(retract_load(con, args.load, args.reason, args.restore).summary())


def _dbt_build(select: list[str], **options) -> None:
    """`dbt build` of `select` on the state, as every command of this CLI runs it: without manifest.json and
    run_results.json, which nothing reads (the run and test history is in the warehouse, observability.*)."""
    run_dbt(dbt_args("build", select=select, write_json=False, **options))


def cmd_build(args: argparse.Namespace) -> None:
    select = [args.select] if getattr(args, "select", None) else []
    _dbt_build(select, exclude=["tag:evaluation"], dbt_vars=args.vars, full_refresh=args.full_refresh)


def cmd_spam(args: argparse.Namespace) -> None:
    from ml.spam import lifecycle, scoring
    from ml.spam.report import format_spam_answer

    p = paths().ensure()
    action = args.action
    if args.engine == "spark":
        _spam_on_spark(p, args)
        return
    if action == "train":
        cfg = lifecycle.LifecycleConfig(seed=args.seed, n_boot=args.n_boot)
        with _connect() as con:
            print(_format_outcome(lifecycle.run_lifecycle(con, p, cfg, retrain=args.retrain)))
    elif action in ("score", "rollback"):
        with _connect() as con:
            if action == "rollback":
                old, new = lifecycle.rollback(con, p)
                print(f"rolled back: champion is now version {new} (was {old})")
            n = scoring.score(con, p)
        print(f"scored {n} number-weeks with the champion")
        _dbt_build(["fct_spam_scores_latest", "tag:monitoring"])  # the marts that read the scores
    elif action == "answer":
        with _connect() as con:
            print(format_spam_answer(con), end="")


def _format_outcome(outcome) -> str:
    """What a training step did (a `Challenge`), as `spam train` prints it."""
    lines = list(outcome.notes)
    if outcome.challenger is None:
        lines.append(outcome.reason)
    else:
        verdict = "promoted" if outcome.promoted else "refused"
        lines.append(f"challenger version {outcome.challenger} (feature version {outcome.feature_version}) {verdict}:")
        lines.append(f"  {outcome.reason}")
    return "\n".join(lines)


def _spam_on_spark(p: Paths, args: argparse.Namespace) -> None:
    """`spam train|score --engine spark`: the training step on Spark's marts (its registry mirror written back to
    Spark), or the champion scoring the latest week of Spark's feature mart on Spark."""
    from ml.spam.train import LifecycleConfig
    from ml.spark import SparkUnavailable, lifecycle_on_spark, score_on_spark, session

    if args.action not in ("train", "score"):
        raise SystemExit(f"spam {args.action} runs on DuckDB only; on Spark: spam train, spam score (docs/scaling.md)")
    try:
        spark = session(p)
        if args.action == "train":
            cfg = LifecycleConfig(seed=args.seed, n_boot=args.n_boot)
            outcome, _ = lifecycle_on_spark(p, spark, cfg, retrain=args.retrain)
            print(_format_outcome(outcome))
            return
        scored = score_on_spark(p, spark)
    except SparkUnavailable as e:
        raise SystemExit(str(e)) from None
    if scored is None:
        raise SystemExit("no champion model (or no week of its features on Spark) to score with")
    version, week, rows = scored
    print(f"scored {rows} numbers of the week {week} with the champion (version {version}) on Spark")


def cmd_evaluate(_: argparse.Namespace) -> None:
    from ml.anomaly.benchmarks import load_benchmarks
    from ml.anomaly.report import format_evaluation

    with _connect() as con:
        load_benchmarks(con)
    _dbt_build(["tag:evaluation"])
    with _connect() as con:
        print(format_evaluation(con), end="")


def cmd_answer(_: argparse.Namespace) -> None:
    from ml.anomaly.report import format_answer

    with _connect() as con:
        print(format_answer(con, paths().warehouse), end="")


def cmd_dashboard(_: argparse.Namespace) -> None:
    from ml.dashboard.build import DashboardError, build_dashboard

    p = paths()
    try:
        s = build_dashboard(p.published, p.dashboard)
    except DashboardError as exc:
        raise SystemExit(f"python -m ml dashboard: {exc}") from None
    print(f"dashboard: {len(s.pages)} pages from snapshot {s.snapshot_id} in {s.seconds} s: {s.out / 'index.html'}")
    print(f"  {s.incidents} incidents in the detection period; top: {s.top_incident}")


def cmd_detect(args: argparse.Namespace) -> None:
    from ml.anomaly.detect import DetectConfig, DetectError, run_detect

    cfg = DetectConfig(
        inputs=args.inputs,
        time_col=args.time_col,
        value_col=args.value_col,
        out=Path(args.out),
        series_cols=args.series_col or [],
        grain=args.grain,
        agg=args.agg,
        method=args.method,
        label_col=args.label_col,
        columns=args.columns.split(",") if args.columns else None,
        flag_missing=args.flag_missing,
        counts=args.counts,
        time_unit=args.time_unit,
        time_format=args.time_format,
    )
    try:
        run_detect(cfg)
    except DetectError as exc:
        raise SystemExit(f"python -m ml detect: {exc}") from None


def cmd_bench(args: argparse.Namespace) -> None:
    from ml.anomaly.bench import run_bench

    run_bench(
        sizes=[int(s) for s in args.sizes.split(",") if s],
        incremental_histories=[60, 365, 730],
        primitive_rows=args.primitives,
    )


def cmd_spark_test(args: argparse.Namespace) -> None:
    from ml.publish import current
    from ml.spark import SPARK_SELECTION, SparkUnavailable, compare_published, spark_test

    try:
        if args.published_from:  # a Dagster run on the Spark engine: its published snapshot against this DuckDB
            snap = current(Paths(Path(args.published_from).resolve()).published)
            if snap is None:
                raise FileNotFoundError(f"nothing published in {args.published_from}: run the pipeline there first")
            parities = compare_published(paths(), snap.path)
        else:
            parities = spark_test(paths(), selection=args.select or SPARK_SELECTION, n_boot=args.n_boot)
    except (SparkUnavailable, FileNotFoundError) as e:
        raise SystemExit(str(e)) from None
    print("\n".join(parity.format() for parity in parities))
    if not parities or not all(parity.ok for parity in parities):
        raise SystemExit(1)


def cmd_bench_scale(args: argparse.Namespace) -> None:
    from ml.anomaly.bench import run_scale_bench
    from ml.spark import SparkUnavailable, require_spark

    try:
        require_spark()
    except SparkUnavailable as e:
        raise SystemExit(str(e)) from None
    run_scale_bench(sizes=[int(s) for s in args.sizes.split(",") if s])


def cmd_spam_bench(args: argparse.Namespace) -> None:
    from ml.spam.bench import run_bench

    run_bench(sizes=[int(s) for s in args.sizes.split(",") if s], keep=args.keep)


def _detect_arguments(p: argparse.ArgumentParser) -> None:
    from ml.anomaly.detect import METHODS

    p.description = "Run the project's SQL detector (the macro the marts use) on any table; see ml/anomaly/detect.py."
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="CSV (.csv, .tsv, .txt; .gz or .zst too) or Parquet files, or duckdb:PATH::schema.table",
    )
    p.add_argument("--time-col", required=True, help="time column (ISO 8601 text, Unix epochs, or period numbers)")
    p.add_argument(
        "--time-unit",
        choices=["auto", "s", "ms", "us", "ns", "index"],
        default="auto",
        help="numeric times: Unix epochs in s/ms/us/ns, or index (period numbers at --grain); "
        "default auto: the epoch unit from the magnitude, whole numbers that would fall in 1970 as period numbers",
    )
    p.add_argument(
        "--time-format",
        action="append",
        help="text times that are not ISO 8601, as a strptime format (e.g. '%%d/%%m/%%Y %%H:%%M'; %%z for an offset); "
        "repeat it for inputs in several formats: each value takes the first format, in the order given, that reads it",
    )
    p.add_argument("--value-col", required=True, help="numeric value column")
    p.add_argument("--series-col", action="append", help="column(s) naming the series (default: one per file)")
    p.add_argument("--grain", choices=["hour", "day"], help="bucket size (default: chosen from the data)")
    p.add_argument("--agg", choices=["mean", "sum"], default="mean", help="aggregate of the rows in a bucket")
    p.add_argument("--method", choices=METHODS, default="robust_seasonal", help="detector (default: robust_seasonal)")
    p.add_argument("--label-col", help="0/1 label column: carried to the output and scored, never read by the detector")
    p.add_argument("--columns", help="comma-separated names for the columns of CSV files without a header")
    p.add_argument("--flag-missing", action="store_true", help="count buckets without data as anomalies")
    p.add_argument(
        "--counts",
        action="store_true",
        help="day grain, counts only: the marts' settings for API requests (log space, bounds floored at zero, "
        "Poisson and absolute floors); default: raw values, which may be negative",
    )
    p.add_argument("--out", required=True, help="output file, .csv or .parquet")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    seed = argparse.ArgumentParser(add_help=False)
    seed.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator and model seed")
    extract = argparse.ArgumentParser(add_help=False, parents=[seed])
    extract.add_argument("--start", default=EXTRACT_START)
    extract.add_argument("--end", default=EXTRACT_END)
    extract.add_argument("--calls-numbers", type=int, default=200_000, help="active numbers per week (calls)")
    extract.add_argument(
        "--calls-drift-weeks", type=int, default=0, help="shift caller behaviour in the last N weeks (drift demo)"
    )
    train = argparse.ArgumentParser(add_help=False)
    train.add_argument(
        "--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap resamples for the confidence intervals"
    )
    train.add_argument("--retrain", action="store_true", help="train a challenger even without a new feature version")
    build = argparse.ArgumentParser(add_help=False)
    build.add_argument("--vars", default=None, help="dbt --vars for the build, e.g. '{anomaly_method: iqr}'")
    build.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental detection mart from scratch (a daily run already judges again the days whose "
        "input, settings or detector code changed)",
    )
    select = argparse.ArgumentParser(add_help=False)
    select.add_argument("--select", default=None, help="dbt selector, e.g. '+fct_spam_features' (default: all)")
    commands = {
        "generate": (cmd_generate, [extract]),
        "ingest": (cmd_ingest, []),
        "retract": (cmd_retract, []),
        "build": (cmd_build, [build, select]),
        "evaluate": (cmd_evaluate, []),
        "answer": (cmd_answer, []),
        "dashboard": (cmd_dashboard, []),
        "spam": (cmd_spam, [seed, train]),
        "detect": (cmd_detect, []),
        "bench": (cmd_bench, []),
        "spam-bench": (cmd_spam_bench, []),
        "spark-test": (cmd_spark_test, []),
        "bench-scale": (cmd_bench_scale, []),
    }
    for name, (fn, parents) in commands.items():
        sp = sub.add_parser(name, parents=parents)
        sp.set_defaults(fn=fn)
    sub.choices["ingest"].add_argument(
        "--engine", choices=ENGINES, default=None, help="the warehouse to load (default: $SENTINEL_ENGINE, or duckdb)"
    )
    retract = sub.choices["retract"]
    retract.add_argument(
        "load", nargs="?", help="the load id, or the name of the file (when it was loaded once), as in raw.loads"
    )
    retract.add_argument("--reason", default=None, help="why the load is retracted (required; kept with it)")
    retract.add_argument("--restore", action="store_true", help="take the load's retraction back")
    retract.add_argument("--list", action="store_true", help="list the newest loads of every feed and their state")
    retract.add_argument("--limit", type=int, default=30, help="--list: how many loads (default 30)")
    retract.add_argument(
        "--engine", choices=ENGINES, default=None, help="the warehouse (default: $SENTINEL_ENGINE, or duckdb)"
    )
    sub.choices["spam"].add_argument("action", choices=["train", "score", "rollback", "answer"])
    sub.choices["spam"].add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="train, score: the warehouse to work in (default: $SENTINEL_ENGINE, or duckdb)",
    )
    sub.choices["spam-bench"].add_argument("--sizes", default="1000000,10000000", help="numbers per week")
    sub.choices["spam-bench"].add_argument("--keep", action="store_true", help="keep the scratch state dirs")
    sub.choices["bench"].add_argument(
        "--sizes", default="1000000,10000000,30000000", help="series-days per throughput run ('' to skip)"
    )
    sub.choices["bench"].add_argument(
        "--primitives",
        type=int,
        default=1_000_000,
        help="series-days for the building blocks' table, DuckDB against pandas (0 to skip)",
    )
    sub.choices["bench-scale"].add_argument(
        "--sizes", default="1000000,10000000,30000000", help="series-days per run (365 days per series)"
    )
    sub.choices["spark-test"].add_argument(
        "--select", default=None, help="dbt selector to build on Spark (default: every node, ml.spark.SPARK_SELECTION)"
    )
    sub.choices["spark-test"].add_argument(
        "--n-boot", type=int, default=DEFAULT_N_BOOT, help="the bootstrap resamples the DuckDB side was trained with"
    )
    sub.choices["spark-test"].add_argument(
        "--published-from",
        metavar="HOME",
        default=None,
        help="compare the published snapshot of a Dagster run on the Spark engine in HOME with this DuckDB instead",
    )
    _detect_arguments(sub.choices["detect"])
    args = parser.parse_args(argv)
    if "engine" in args and args.engine is None:  # the engine Dagster uses: one variable selects it everywhere
        try:
            args.engine = Settings.from_env().engine
        except ValueError as e:
            raise SystemExit(str(e)) from None
    # the CLI imports what a command needs when it runs (the trainer's scikit-learn and pandas take about a second,
    # which every `python -m ml build` paid when they were imported here)
    from ml.errors import IngestError, TrainingError

    try:
        args.fn(args)
    except (DbtError, IngestError, TrainingError) as e:  # bad input, a failed build, a lifecycle step refused
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    sys.exit(main())
