"""Landing files -> raw tables: the landing folders as external assets, and the steps that load them.

The landing folders are written by the source systems (here: `python -m ml generate`), so Dagster observes
them rather than materialising them. Loading is append-only with one load id per file; a re-delivered file
is recorded and skipped; a bad file fails the step with the file and line, and its whole batch is rolled back.
On the Spark engine the same steps load Spark's raw tables (`ml/spark_ingest.py`, in a child process).
"""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset

from ml import spark_steps
from ml.anomaly.benchmarks import load_benchmarks
from ml.ingest import ingest_landing, landing_state, record_ingested
from ml.settings import benchmarks_dir
from ml.spam.store import ensure_tables
from orchestration.resources import Warehouse

LANDING_API_LOGS = AssetKey(["landing", "api_logs"])
LANDING_CALLS = AssetKey(["landing", "calls"])
LANDING_CALL_LABELS = AssetKey(["landing", "call_labels"])
LANDING_GROUND_TRUTH = AssetKey(["landing", "ground_truth"])
SHARED_BENCHMARKS = AssetKey(["landing", "benchmarks"])
LANDING = [LANDING_API_LOGS, LANDING_CALLS, LANDING_CALL_LABELS]

LANDING_DESCRIPTIONS = {
    LANDING_API_LOGS: "Daily API-log CSV files (date, country, os, count), $SENTINEL_HOME/landing/api_logs.",
    LANDING_CALLS: "Weekly call-aggregate CSV files per number, calls_<monday>.csv, $SENTINEL_HOME/landing/calls.",
    LANDING_CALL_LABELS: "Spam / legit labels per number, labels_<monday>.csv, $SENTINEL_HOME/landing/call_labels.",
    LANDING_GROUND_TRUTH: "The generator's ground truth (injected incidents, true classes); absent for real extracts.",
    SHARED_BENCHMARKS: "Real labelled benchmarks (NAB, AIOps 2018 KPIs), read in place from ../shared/benchmarks.",
}
# the assets Dagster observes and no run materialises: the landing folders, and the retractions an operator records
external_specs = [
    AssetSpec(key, description=text, group_name="landing", kinds={"csv"}) for key, text in LANDING_DESCRIPTIONS.items()
] + [
    # written by an operator's command, not by a run: external, like the landing folders (ingestion creates it empty)
    AssetSpec(
        ["ingestion", "load_retractions"],
        description="raw.load_retractions: the loads taken back (`python -m ml retract`), and restored; staging "
        "quarantines the rows of a retracted load as retracted_load.",
        group_name="raw",
        kinds={"duckdb"},
    )
]


def _raw(key: list[str], description: str, deps: list[AssetKey]) -> AssetSpec:
    return AssetSpec(key, description=description, deps=deps, group_name="raw", kinds={"duckdb", "python"})


@multi_asset(
    name="ingest_landing_files",
    specs=[
        _raw(["api_logs", "api_requests"], "raw.api_requests: every API-log row, as text.", [LANDING_API_LOGS]),
        _raw(
            ["api_logs", "api_ground_truth_incidents"],
            "raw.api_ground_truth_incidents: the generator's injected incidents.",
            [LANDING_GROUND_TRUTH],
        ),
        _raw(["calls", "calls_weekly"], "raw.calls_weekly: every weekly call row; new columns added.", [LANDING_CALLS]),
        _raw(["calls", "call_labels"], "raw.call_labels: every label row.", [LANDING_CALL_LABELS]),
        _raw(["calls", "calls_ground_truth"], "raw.calls_ground_truth: true class per number.", [LANDING_GROUND_TRUTH]),
        _raw(["ingestion", "loads"], "raw.loads: one row per landing file seen, loaded or skipped.", LANDING),
        _raw(["ingestion", "load_columns"], "raw.load_columns: the header of every loaded file.", LANDING),
    ],
    pool="duckdb_writer",
)
def ingest_landing_files(context: AssetExecutionContext, warehouse: Warehouse):
    """Load every new landing file (API logs, weekly calls, labels) and the generator's ground truth."""
    p = warehouse.paths
    seen = landing_state(p)  # before loading: a file that lands meanwhile is new to the sensor
    if warehouse.on_spark:
        got, loads, columns = warehouse.spark(spark_steps.ingest)
    else:
        with warehouse.connect() as con:
            got = ingest_landing(con, p)
            ensure_tables(con)  # the ml schema the dbt views read exists before the first model is trained
            loads = con.execute("select count(*) from raw.loads").fetchall()[0][0]
            columns = con.execute("select count(*) from raw.load_columns").fetchall()[0][0]
    record_ingested(p, seen)
    context.log.info(got.summary())

    def loaded(feed: str) -> dict:
        r = got.feeds[feed]
        return {"files_loaded": r.files_loaded, "files_skipped": r.files_skipped, "rows_appended": r.rows_appended}

    yield MaterializeResult(asset_key=["api_logs", "api_requests"], metadata=loaded("api_logs"))
    yield MaterializeResult(asset_key=["api_logs", "api_ground_truth_incidents"], metadata={"rows": got.incidents})
    yield MaterializeResult(asset_key=["calls", "calls_weekly"], metadata=loaded("calls"))
    yield MaterializeResult(asset_key=["calls", "call_labels"], metadata=loaded("call_labels"))
    yield MaterializeResult(asset_key=["calls", "calls_ground_truth"], metadata={"rows": got.numbers})
    yield MaterializeResult(asset_key=["ingestion", "loads"], metadata={"rows": loads})
    yield MaterializeResult(asset_key=["ingestion", "load_columns"], metadata={"rows": columns})


@multi_asset(
    name="load_labelled_benchmarks",
    specs=[
        _raw(["benchmarks", "benchmark_points"], "raw.benchmark_points: NAB and AIOps points.", [SHARED_BENCHMARKS]),
        _raw(["benchmarks", "benchmark_windows"], "raw.benchmark_windows: NAB's windows.", [SHARED_BENCHMARKS]),
    ],
    pool="duckdb_writer",
)
def load_labelled_benchmarks(context: AssetExecutionContext, warehouse: Warehouse):
    """(Re)load the real labelled benchmarks for the detector evaluation; a missing folder leaves them empty."""
    if warehouse.on_spark:
        counts, points, windows = warehouse.spark(spark_steps.benchmarks)
    else:
        with warehouse.connect() as con:
            counts = load_benchmarks(con)
            points = con.execute("select count(*) from raw.benchmark_points").fetchall()[0][0]
            windows = con.execute("select count(*) from raw.benchmark_windows").fetchall()[0][0]
    context.log.info(f"benchmarks from {benchmarks_dir()}: {counts}")
    yield MaterializeResult(asset_key=["benchmarks", "benchmark_points"], metadata={"rows": points, **counts})
    yield MaterializeResult(asset_key=["benchmarks", "benchmark_windows"], metadata={"rows": windows})
