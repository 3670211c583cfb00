"""What BI tools and readers get: contracts on every mart a dashboard, the API or the report reads, the dbt
exposures, and the HTML report (`make report`) rendered in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from ml.anomaly.uncertainty import series_margins
from ml.publish import current
from ml.settings import PROJECT_DIR, Paths
from tests.python.conftest import chromium_page, screenshot_stats


def test_every_mart_a_reader_uses_has_an_enforced_contract_and_described_columns(manifest: dict) -> None:
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"sentinel_api", "sentinel_report", "kpi_anomaly_dashboard"} <= set(exposures)
    assert {e["type"] for e in exposures.values()} >= {"application", "analysis", "dashboard"}
    read = {n for e in exposures.values() for n in e["depends_on"]["nodes"] if n.startswith("model.")}
    assert len(read) >= 10
    for uid in sorted(read):
        node = manifest["nodes"][uid]
        assert node["config"]["contract"]["enforced"], f"{node['name']} has no enforced contract"
        cols = node["columns"].values()
        assert cols and all(c.get("data_type") and c.get("description") for c in cols), node["name"]
    published = [
        n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["config"]["meta"].get("publish")
    ]
    assert len(published) >= 15  # the marts readers get, so the next line cannot pass on an empty list
    assert all(n["config"]["contract"]["enforced"] for n in published), "every published mart is contracted"


def test_the_report_renders_with_every_section_in_headless_chromium(built_home: Path, tmp_path: Path) -> None:
    report = built_home / "reports" / "sentinel_report.html"
    html = report.read_text()
    assert "<script" not in html and html.count("data:image/png;base64,") == 10  # self-contained, every plot
    # the evaluation's counts are whole numbers (the mart typed them HUGEINT, which pandas reads as floats: the
    # table said "34.0" events detected)
    row = re.search(r"<td>nab</td><td>all</td><td class=\"num\">1</td>.*?</tr>", html, re.S).group(0)
    counts = re.findall(r'<td class="num">([^<]*)</td>', row)[:5]  # rank, series, events, detected, false alarms
    assert all(re.fullmatch(r"\d+", c) for c in counts), counts
    with duckdb.connect(str(current(built_home / "published").path), read_only=True) as con:
        n_incidents = con.execute("select count(*) from marts.fct_api_anomaly_detection_summary").fetchone()[0]
        pr_auc = dict(con.execute("select feature_version, test_pr_auc from ml.spam_model_versions").fetchall())

    with chromium_page(report.as_uri()) as (page, errors, requests):
        widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        text = page.inner_text("body")
        hierarchy = page.locator("#hierarchy").locator("xpath=following-sibling::table[1]").locator("tr").count()
        spam_rows = page.locator("#spam").locator("xpath=following-sibling::div[1]/following-sibling::table[1]")
        spam_table = spam_rows.inner_text()
        lineage = page.locator("#lineage-links").inner_text()
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot))  # the first screen
    assert errors == []
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert len(widths) == 10 and min(widths) > 300  # every plot decoded
    # no `nan` in empty cells, no midnight on dates, and links to the lineage instead of an unreadable drawing
    assert not re.search(r"\bnan\b", text) and "00:00:00" not in text
    assert "http://127.0.0.1:3000/asset-groups" in lineage and "make docs" in lineage
    assert f"{n_incidents} incidents between 2024-04-01 and 2024-04-14" in text
    assert re.search(r"The detector judged [\d,]+ of the period's [\d,]+ series-days \(every level\)", text)
    assert hierarchy == n_incidents + 1  # one row per incident under its header
    # the report recomputes v1 and v2 on the same test rows: the PR-AUCs the registry recorded
    for fv, auc in pr_auc.items():
        assert f"v{fv}" in spam_table and f"{auc:.4f}" in spam_table
    drawn, colours = screenshot_stats(shot)
    assert drawn > 0.1 and colours > 1000  # the first screen is drawn: the traffic plot under the header


DETECTORS = ("robust_seasonal", "iqr", "zscore")


def test_findings_match_a_fresh_run(built_home: Path) -> None:
    """docs/findings.md's key figures are what `make run` computes now (the page cannot drift from the code)."""
    doc = (PROJECT_DIR / "docs" / "findings.md").read_text()
    stated = dict(re.findall(r"^\| `(\w+)`[^|]*\| (.+?) \|$", doc, re.MULTILINE))
    with duckdb.connect(str(current(built_home / "published").path), read_only=True) as con:

        def q(sql: str) -> list[tuple]:
            return con.execute(sql).fetchall()

        (start, end), *_ = q("select detection_start, detection_end from intermediate.int_api_detection_period")
        incidents = q("select series_key, start_date, end_date from marts.fct_api_anomaly_detection_summary")
        truth = q(
            "select series_key, cast(start_ts as date), cast(end_ts as date) from evaluation.fct_eval_truth_events "
            f"where dataset = 'synthetic' and cast(end_ts as date) >= '{start}' and cast(start_ts as date) <= '{end}'"
        )
        ev = {
            (d, det): (f1, fa, fc)
            for d, det, f1, fa, fc in q(
                "select dataset, detector, event_f1, false_alarms, fc from evaluation.fct_detector_evaluation "
                "where event_type = 'all'"
            )
        }
        (api,) = q(
            "select sum(raw_rows), sum(staged_rows), sum(quarantined_rows), sum(duplicate_rows) "
            "from marts.fct_api_request_load_reconciliation"
        )
        (calls,) = q(
            "select sum(raw_rows), sum(quarantined_rows), sum(duplicate_rows) from marts.fct_calls_load_reconciliation "
            "where source_name = 'calls'"
        )
        models = q("select test_pr_auc, test_recall from ml.spam_model_versions order by feature_version")
        (reason,) = q("select reason from ml.spam_gate_decisions where challenger_version = 2")[0]
        (scored,) = q("select count(*), sum(case when is_flagged then 1 else 0 end) from marts.fct_spam_scores_latest")
        margins = series_margins(con).set_index(["dataset", "score"])
    found = sum(any(k == s and a <= e2 and s2 <= b for s, a, b in incidents) for k, s2, e2 in truth)
    uplift = re.search(r"PR-AUC uplift (\S+) \[95% CI (\S+), (\S+)\]", reason).groups()
    computed = {
        "detection_period": f"{start} .. {end}",
        "incidents_in_detection_period": str(len(incidents)),
        "injected_incidents_in_period_found": f"{found} of {len(truth)}",
        **{
            f"fc_{d}": " / ".join(f"{ev[d, det][2]:.3f}" for det in (*DETECTORS, "always"))
            for d in ("synthetic", "nab", "aiops")
        },
        **{
            f"event_f1_{d}": " / ".join(f"{ev[d, det][0]:.3f}" for det in DETECTORS)
            for d in ("synthetic", "nab", "aiops")
        },
        **{
            f"margin_over_best_peer_{d}": " / ".join(
                "{margin:+.3f} [{ci_low:+.3f}, {ci_high:+.3f}]".format(**margins.loc[d, s]) for s in ("fc", "event_f1")
            )
            for d in ("nab", "aiops")
        },
        "false_alarms_synthetic": " / ".join(str(ev["synthetic", det][1]) for det in DETECTORS),
        "api_rows": " / ".join(f"{int(v):,}" for v in api),
        "call_rows": " / ".join(f"{int(v):,}" for v in calls),
        "spam_pr_auc": " / ".join(f"{auc:.4f}" for auc, _ in models),
        "spam_pr_auc_uplift": f"{uplift[0]} [{uplift[1]}, {uplift[2]}]",
        "spam_recall_at_own_threshold": " / ".join(f"{r:.3f}" for _, r in models),
        "latest_week_scored_flagged": " / ".join(f"{int(v):,}" for v in scored),
    }
    assert {k: stated.get(k) for k in computed} == computed


def test_make_docs_builds_the_docs_site_with_exposures_and_contracts(built_home: Path, tmp_path: Path) -> None:
    """`make docs` = `dbt docs generate`: the site, the catalog of the built marts, the exposures."""
    env = {**os.environ, "SENTINEL_HOME": str(built_home), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    dbt = Path(sys.executable).parent / "dbt"
    # the reference run's saved parse, made for this profile and warehouse: dbt reuses it instead of parsing the
    # whole project again (about 5 s of CPU); the docs are generated from the same manifest either way
    from orchestration.resources import PARTIAL_PARSE

    (tmp_path / "docs").mkdir()
    shutil.copy(Paths(built_home).dbt_target / PARTIAL_PARSE, tmp_path / "docs")
    proc = subprocess.run(
        [str(dbt), "docs", "generate", "--target-path", str(tmp_path / "docs"), "--project-dir", str(PROJECT_DIR)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "docs" / "index.html").stat().st_size > 100_000
    catalog = json.loads((tmp_path / "docs" / "catalog.json").read_text())["nodes"]
    anomalies = catalog["model.sentinel.fct_api_request_anomalies"]["columns"]
    assert {"series_date", "lower_bound", "upper_bound", "is_anomaly"} <= {c.lower() for c in anomalies}
    site = json.loads((tmp_path / "docs" / "manifest.json").read_text())
    assert {e["name"] for e in site["exposures"].values()} == {
        "sentinel_api",
        "sentinel_report",
        "kpi_anomaly_dashboard",
    }


def test_the_answer_fits_a_terminal_with_whole_counts_and_no_nan() -> None:
    """The answer's incident table was 287 columns wide, with counts as `807.000` and `NaN` for a missing day (and
    for a new series, whose deviation has no expected value to be relative to)."""
    import pandas as pd

    from ml.anomaly.report import format_incidents
    from ml.text import fit

    day = pd.Timestamp("2024-04-05")
    rows = pd.DataFrame(
        [
            ("country", "IQ", "*", "down", -85.7, 807.0, 5646.0, "", "IQ/Android (-85.0 %), " * 12, "value 807.0 ..."),
            ("country_os", "PK", "KaiOS", "missing", None, None, 397.0, "", "", "no data for this period"),
            ("country", "BR", "*", "up", None, 2400.0, 0.0, "", "BR/Android (new)", "new series since 2024-04-05"),
        ],
        columns=["level", "country", "os", "direction", "deviation_pct", "value", "expected", "holiday"]
        + ["contributors", "why"],
    ).assign(start_date=day, end_date=day)
    text = format_incidents(rows)
    assert "IQ, all OS" in text and "down -85.7 %: 807 requests, expected 5,646" in text
    assert "PK KaiOS" in text and "missing (no row; expected 397)" in text
    assert "BR, all OS" in text and "up: 2,400 requests, none expected" in text  # no relative deviation to show
    assert "nan" not in text.lower() and ".000" not in text
    assert max(len(line) for line in text.splitlines()) <= 120
    assert fit("  " + "word " * 60).splitlines()[1].startswith("      word")  # continuation indented by 4 more


def test_a_long_path_in_the_answer_stays_whole() -> None:
    """The answer names the snapshot's file; a path longer than the terminal was cut in two mid-name."""
    from ml.text import fit

    folders = "/".join(f"deeply-nested-folder-{i}" for i in range(8))
    path = f"/srv/{folders}/published/20261203T124641_5b74d2.duckdb"
    assert len(path) > 120
    lines = fit(f"Full tables in {path}:\n  marts.fct_api_request_anomalies  every day").splitlines()
    assert lines == ["Full tables in", f"    {path}:", "  marts.fct_api_request_anomalies  every day"]


def _answer_state(judged: list[bool], rejected: dict[str, int]) -> duckdb.DuckDBPyConnection:
    """The relations the answer reads, as a short extract leaves them: the period's series-days (judged or
    not) and the rows rejected at load in the metric mart, and no incident."""
    con = duckdb.connect()
    con.execute("create schema intermediate; create schema marts")
    con.execute(
        "create table intermediate.int_api_detection_period as "
        "select date '2024-05-07' as detection_start, date '2024-05-20' as detection_end"
    )
    con.execute(
        "create table marts.fct_kpi_metrics_daily (metric_name varchar, metric_date date, level varchar, "
        "country varchar, os varchar, breakdown varchar, value double)"
    )
    con.executemany(  # the judged days are US/iOS's; those not judged, BR/iOS's (a new series)
        "insert into marts.fct_kpi_metrics_daily values ('api_series_days', date '2024-05-20' - ?::int % 14, "
        "'country_os', case when ? then 'US' else 'BR' end, 'iOS', case when ? then 'judged' else 'not_judged' end, 1)",
        [(i, j, j) for i, j in enumerate(judged)],
    )
    for reason, n in rejected.items():
        con.execute(
            "insert into marts.fct_kpi_metrics_daily values ('api_quarantined_rows', '2024-05-20', null, null, null, "
            "?, ?)",
            [reason, n],
        )
    con.execute(
        "create table marts.fct_api_anomaly_detection_summary (start_date date, end_date date, level varchar, "
        "country varchar, os varchar, series_key varchar, direction varchar, peak_deviation_pct double, "
        "peak_value double, peak_expected_value double, on_holiday boolean, calendar_label varchar, "
        "contributors varchar, peak_explanation varchar)"
    )
    con.execute("create table marts.fct_api_request_load_reconciliation as select 120 as raw_rows")
    return con


def test_the_answer_says_what_it_judged_and_what_was_rejected() -> None:
    """A user's 20-day extract named after its last day: 96 of its 120 rows were out of the file's date window, the
    rest too short a history to judge, and the answer said "no anomalies", as if it had looked."""
    from ml.anomaly.report import format_answer

    text = format_answer(_answer_state([False] * 48, {"date_out_of_range": 96}), Path("snapshot.duckdb"))
    assert "judged: 0 of 48 series-days of the period (every level); 48 not judged: cold start" in text
    assert "rejected at load: 96 of 120 raw rows (date_out_of_range 96): marts.fct_api_requests_quarantined" in text
    assert "nothing could be judged in this period, so no anomaly can be reported" in text
    assert "no anomalies" not in text
    text = format_answer(_answer_state([True] * 10 + [False] * 2, {}), Path("snapshot.duckdb"))
    assert "judged: 10 of 12 series-days of the period (every level); 2 not judged" in text
    # which: a new country too small to move its parents was in no line of the answer
    assert "not judged yet: BR iOS (2 days)" in text
    assert "no anomalies in the judged series-days" in text and "rejected at load" not in text
    text = format_answer(_answer_state([False] * 12, {"date_with_time": 5520}), Path("snapshot.duckdb"))
    assert "(date_with_time 5,520)" in text and "sum them per day first" in text and "python -m ml detect" in text
    text = format_answer(_answer_state([False] * 12, {"ambiguous_date": 240}), Path("snapshot.duckdb"))
    assert "(ambiguous_date 240)" in text and "write them as ISO 8601 (2024-04-03)" in text


def test_the_evaluation_says_a_users_extract_has_no_ground_truth() -> None:
    """A user's own extract has no ground truth: the answer printed a `synthetic` block of zeros, every detector
    ranked first; the extract is now not scored (dbt unit test `an_extract_without_ground_truth_is_not_scored`) and
    the answer says why only the benchmarks are."""
    from ml.anomaly.report import format_evaluation

    con = duckdb.connect()
    con.execute("create schema evaluation")
    con.execute(
        "create table evaluation.fct_detector_evaluation as select * from (values "
        "('nab', 'all', 1, 'robust_seasonal', 22, 51, 36, 98, 0.618, 0.389, 0.549, 0.038, 0.007), "
        "('nab', 'all', 2, 'zscore', 22, 51, 35, 174, 0.515, 0.269, 0.412, 0.048, 0.012)) as t (dataset, "
        "event_type, fc_rank, detector, n_series, n_events, events_detected, false_alarms, fc, event_f1, "
        "point_precision, point_recall, flag_rate)"
    )
    con.execute(
        "create table evaluation.fct_eval_series_scores (dataset varchar, detector varchar, series_key varchar, "
        "n_events int, events_detected int, false_alarms int, n_flagged int, n_labelled_flagged int)"
    )
    text = format_evaluation(con)
    assert "The extract has no ground truth" in text and "synthetic" not in text
    con.execute(
        "insert into evaluation.fct_detector_evaluation select 'synthetic', * exclude (dataset) "
        "from evaluation.fct_detector_evaluation"
    )
    assert "no ground truth" not in format_evaluation(con)  # the generated extract is scored: nothing to say


def test_the_heatmap_draws_a_country_not_judged_yet() -> None:
    """A country launched in the detection period has no expected value yet: the report's heat map failed with a
    KeyError on it (and on a short extract, where no country has one), which failed the whole run."""
    import pandas as pd

    from ml.reporting.report import plot_heatmap

    days = pd.date_range("2024-04-01", periods=14)
    anoms = pd.DataFrame(
        [
            {
                "level": "country",
                "country": c,
                "series_date": d,
                "value": 100.0,
                "is_anomaly": False,
                "expected_value": None if c == "NEW" else 95.0,
            }
            for c in ("DE", "NEW")
            for d in days
        ]
    )
    assert plot_heatmap(anoms, days[0], days[-1]).startswith("data:image/png;base64,")
    assert plot_heatmap(anoms[anoms["country"] == "NEW"], days[0], days[-1]) is None  # nothing judged: no plot


def test_the_answer_says_why_it_has_no_spam_section() -> None:
    """An extract of API logs alone scores no number: the spam section was left out without a word."""
    from ml.spam.report import spam_section

    con = duckdb.connect()
    con.execute("create schema marts; create table marts.fct_spam_scores_latest (number_id varchar)")
    text = spam_section(con)
    assert "no number scored: no weekly call file was loaded" in text and "landing/calls/" in text


def test_a_run_with_every_api_row_rejected_says_so_and_why() -> None:
    """An hourly extract in the daily feed: every row is quarantined `date_with_time`, and the run failed on an
    empty detection period's tests without a word on why."""
    from ml.anomaly.report import rejected_feed

    con = duckdb.connect()
    con.execute("create schema intermediate")
    con.execute(
        "create table intermediate.int_api_requests_validated as select * from (values "
        "('quarantined', 'date_with_time'), ('quarantined', 'date_with_time'), ('quarantined', 'unknown_os'), "
        "('duplicate', null)) as t(row_status, rejection_reason)"
    )
    note = rejected_feed(con)
    assert note is not None
    assert (
        "no API-log row passed validation: 3 of 4 raw rows were rejected at load (date_with_time 2, unknown_os 1)"
        in (" ".join(note.split()))
    )
    assert "sum them per day first" in note and "unknown_os:" not in note  # a hint only where the name is not enough
    con.execute("insert into intermediate.int_api_requests_validated values ('staged', null)")
    assert rejected_feed(con) is None  # a row staged: the run has data, its failure is another one
