"""End to end: `make run` (the Dagster pipeline) on the reference extract, then what a user relies on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ml.publish import current
from tests.python.conftest import run_pipeline


def test_run_prints_the_answer_and_where_the_tables_are(built_home: Path) -> None:
    out = (built_home / "run_stdout.txt").read_text()
    assert "Anomalies in the detection period 2024-04-01 .. 2024-04-14" in out
    assert "marts.fct_api_request_anomalies" in out
    assert "Detector evaluation" in out
    # the answer is read from the published snapshot, and says so (not the live warehouse)
    published = current(built_home / "published").path
    assert f"Full tables in {published}:" in out
    assert "sentinel_report.html" in out and "data_health.html" in out


def test_every_load_reconciles(warehouse) -> None:
    rec = warehouse.execute("select * from marts.fct_api_request_load_reconciliation").df()
    assert len(rec) > 70
    assert (rec["raw_rows"] == rec["staged_rows"] + rec["quarantined_rows"] + rec["duplicate_rows"]).all()
    loaded = rec[rec["load_status"] == "loaded"]
    assert (loaded["file_rows"] == loaded["raw_rows"]).all()
    assert (rec.loc[rec["load_status"] == "skipped_redelivery", "raw_rows"] == 0).all()


def test_every_injected_defect_ends_in_quarantine_or_is_repaired(warehouse, built_home: Path) -> None:
    defects = pd.read_csv(built_home / "ground_truth" / "api_defects.csv")
    reasons = (
        warehouse.execute("select rejection_reason, count(*) as n from marts.fct_api_requests_quarantined group by 1")
        .df()
        .set_index("rejection_reason")["n"]
    )
    expected = defects["expected_outcome"].str.extract(r"quarantined: (\w+)")[0].value_counts()
    for reason, n in expected.items():
        assert reasons.get(reason, 0) == n, reason
    assert reasons.sum() == expected.sum()  # and nothing else was quarantined
    dups = warehouse.execute(
        "select count(*) from intermediate.int_api_requests_validated where row_status = 'duplicate'"
    ).fetchone()[0]
    assert dups == (defects["expected_outcome"] == "deduplicated").sum()
    skipped = warehouse.execute("select count(*) from raw.loads where status = 'skipped_redelivery'").fetchone()[0]
    assert skipped == (defects["expected_outcome"] == "file skipped").sum()
    # repaired spellings reach the series under their canonical names
    canon = warehouse.execute(
        "select distinct country_code, os from intermediate.int_api_requests_validated where row_status = 'staged'"
    ).df()
    assert set(canon["os"]) <= {"Android", "iOS", "Web", "KaiOS"}
    assert "UK" not in set(canon["country_code"]) and "GB" in set(canon["country_code"])


def test_detection_period_incidents_are_found_at_their_level(warehouse, built_home: Path) -> None:
    truth = pd.read_csv(built_home / "ground_truth" / "api_incidents.csv")
    truth = truth[truth["period"] == "detection"]
    found = warehouse.execute(
        "select level, series_key, start_date, end_date from marts.fct_api_anomaly_detection_summary"
    ).df()
    hits = 0
    for _, t in truth.iterrows():
        same = found[(found["level"] == t["level"]) & (found["series_key"] == t["series_key"])]
        hits += bool(
            (
                (same["start_date"].astype(str) <= t["end_date"]) & (same["end_date"].astype(str) >= t["start_date"])
            ).any()
        )
    assert hits / len(truth) >= 0.8, f"only {hits} of {len(truth)} injected incidents found"


def test_missing_rows_are_not_zeros_and_dead_series_alert(warehouse, built_home: Path) -> None:
    truth = pd.read_csv(built_home / "ground_truth" / "api_incidents.csv")
    gap = truth.loc[truth["incident_type"] == "missing_day", "start_date"].iloc[0]
    row = warehouse.execute(
        "select value, direction from marts.fct_api_request_anomalies where series_key = '*/*' and series_date = ?",
        [gap],
    ).fetchone()
    assert row == (None, "missing")
    # a series that starts late has no rows (and no zeros) before its first delivery
    late = warehouse.execute(
        "select series_key, min(series_date) from marts.fct_api_request_anomalies where level = 'country_os' "
        "group by 1 having min(series_date) > date '2024-02-01'"
    ).fetchall()
    assert late, "the generator's late-starting series should start after the extract start"


def test_default_detector_beats_both_peers_on_ground_truth(warehouse) -> None:
    ev = (
        warehouse.execute(
            "select detector, event_f1, n_events, events_detected, predictions_matched, false_alarms, event_precision, "
            "event_recall from evaluation.fct_detector_evaluation where dataset = 'synthetic' and event_type = 'all'"
        )
        .df()
        .set_index("detector")
    )
    # the SQL metrics agree with their definitions
    for _, r in ev.iterrows():
        p = r["predictions_matched"] / (r["predictions_matched"] + r["false_alarms"])
        rec = r["events_detected"] / r["n_events"]
        assert abs(r["event_precision"] - p) < 1e-9 and abs(r["event_recall"] - rec) < 1e-9
        assert abs(r["event_f1"] - 2 * p * rec / (p + rec)) < 1e-9
    assert ev.loc["robust_seasonal", "event_f1"] > ev.loc["iqr", "event_f1"]
    assert ev.loc["robust_seasonal", "event_f1"] > ev.loc["zscore", "event_f1"]


def test_real_benchmarks_are_evaluated(warehouse) -> None:
    ev = warehouse.execute(
        "select dataset, detector, n_events from evaluation.fct_detector_evaluation where event_type = 'all'"
    ).df()
    assert {"nab", "aiops"} <= set(ev["dataset"])
    assert (ev.loc[ev["dataset"] == "nab", "n_events"] > 50).all()


def test_a_real_extract_without_ground_truth_gets_the_same_answer(tmp_path: Path, built_home: Path) -> None:
    """Drop files with the same columns in the landing folder: the same command answers for them."""
    home = tmp_path / "real"
    (home / "landing" / "api_logs").mkdir(parents=True)
    for f in sorted((built_home / "landing" / "api_logs").glob("api_requests_2024-0[34]-*.csv")):
        shutil.copy(f, home / "landing" / "api_logs" / f.name.replace("api_requests", "export"))
    out = run_pipeline(home).stdout
    assert not (home / "ground_truth" / "api_incidents.csv").exists()
    assert "Anomalies in the detection period 2024-04-01 .. 2024-04-14" in out
