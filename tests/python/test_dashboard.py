"""The BI dashboard (issue 17): the metric marts agree with the base marts, the pipeline builds the pages from
the published snapshot, they render offline in headless Chromium, agree with the summary mart, and their
controls filter what is shown. Bad input: no snapshot, an older snapshot, a publish during the build."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.dashboard import build
from ml.dashboard.build import PAGES, DashboardError, build_dashboard
from ml.publish import current, publish
from ml.settings import PROJECT_DIR, Paths
from tests.python.conftest import chromium_page, screenshot_stats


@pytest.fixture(scope="module")
def snapshot(built_home: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(current(built_home / "published").path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def served(built_home: Path) -> Iterator[str]:
    """The dashboard the pipeline built, served on 127.0.0.1 as `make dashboard-serve` does."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(built_home / "dashboard"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def _ready(page) -> None:
    page.wait_for_selector('body[data-ready="true"]', state="attached", timeout=30_000)


@pytest.mark.slow
def test_two_metrics_recomputed_from_the_base_marts_equal_the_metric_marts(snapshot) -> None:
    """Flagged series-days per day, level and direction, series-days judged or not, and flagged numbers per
    country: once from the base marts here, once in the metric marts; EXCEPT both ways is empty, and neither side
    is empty."""
    anomalies = """
        select series_date, level, country, os, direction, count(*) as n
        from marts.fct_api_request_anomalies where is_anomaly group by all"""
    metric = """
        select metric_date, level, country, os, breakdown, cast(value as bigint)
        from marts.fct_kpi_metrics_daily where metric_name = 'api_anomalies'"""
    flagged = """
        select week_start, country_code, count(*) filter (where is_flagged), count(*)
        from marts.fct_spam_scores_latest group by all"""
    flagged_metric = """
        select week_start, country_code, cast(value as bigint), denominator
        from marts.fct_spam_metrics_weekly where metric_name = 'spam_flagged'"""
    judged = """
        select series_date, level, country, os, case when is_judged then 'judged' else 'not_judged' end, count(*)
        from marts.fct_api_request_anomalies group by all"""
    judged_metric = """
        select metric_date, level, country, os, breakdown, cast(value as bigint)
        from marts.fct_kpi_metrics_daily where metric_name = 'api_series_days'"""
    for base, mart in ((anomalies, metric), (flagged, flagged_metric), (judged, judged_metric)):
        assert snapshot.execute(f"select count(*) from ({base})").fetchone()[0] > 0
        for a, b in ((base, mart), (mart, base)):
            assert snapshot.execute(f"select * from ({a}) except all select * from ({b})").fetchall() == []
    total = snapshot.execute(
        "select sum(value) from marts.fct_kpi_metrics_daily where metric_name = 'api_requests' and level = 'total'"
    ).fetchone()[0]
    assert (
        total
        == snapshot.execute("select sum(value) from marts.fct_api_request_anomalies where level = 'total'").fetchone()[
            0
        ]
    )


def _mf_query(home: Path, tmp_path: Path, *args: str) -> pd.DataFrame:
    """`mf query ... --csv` (MetricFlow) on a state's warehouse, with the semantic manifest its pipeline parsed.

    MetricFlow 0.15 reads only `<project>/target/semantic_manifest.json` (it ignores DBT_TARGET_PATH), so the
    state's copy goes there first, as `make metrics` does with its own parse."""
    (PROJECT_DIR / "target").mkdir(exist_ok=True)
    shutil.copyfile(
        Paths(home).dbt_target / "semantic_manifest.json", PROJECT_DIR / "target" / "semantic_manifest.json"
    )
    env = {
        **os.environ,
        "SENTINEL_HOME": str(home),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DBT_TARGET_PATH": str(Paths(home).dbt_target),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    out = tmp_path / "mf.csv"
    mf = Path(sys.executable).parent / "mf"
    proc = subprocess.run(
        [str(mf), "query", *args, "--csv", str(out)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return pd.read_csv(out)


@pytest.mark.slow
def test_the_semantic_layer_gives_the_base_marts_numbers(built_home: Path, tmp_path: Path) -> None:
    """MetricFlow over the metric marts: flagged series-days per day and direction, and precision and recall at
    the threshold per week, equal what the base marts give."""
    got = _mf_query(
        built_home, tmp_path, "--metrics", "api_anomalies", "--group-by", "metric_time__day,kpi_metric_row__breakdown"
    )
    got = got.dropna(subset=["api_anomalies"])
    perf = _mf_query(
        built_home,
        tmp_path,
        "--metrics",
        "spam_precision_at_threshold,spam_recall_at_threshold",
        "--group-by",
        "metric_time__day",
    ).dropna()
    with duckdb.connect(str(built_home / "warehouse.duckdb"), read_only=True) as con:
        flags = con.execute(
            "select strftime(series_date, '%Y-%m-%d'), direction, count(*) from marts.fct_api_request_anomalies "
            "where is_anomaly group by all"
        ).fetchall()
        weeks = con.execute(
            "select strftime(week_start, '%Y-%m-%d'), true_positives / (true_positives + false_positives), "
            "true_positives / labelled_spam from marts.fct_spam_model_performance_weekly"
        ).fetchall()
    assert len(flags) > 10 and len(weeks) >= 3
    assert {(d[:10], b, int(n)) for d, b, n in got.itertuples(index=False)} == set(flags)
    assert {(d[:10], round(p, 9), round(r, 9)) for d, p, r in perf.itertuples(index=False)} == {
        (w, round(p, 9), round(r, 9)) for w, p, r in weeks
    }


@pytest.mark.slow
def test_the_pipeline_builds_the_dashboard_from_the_snapshot_it_published(built_home: Path) -> None:
    meta = json.loads((built_home / "dashboard" / "build.json").read_text())
    assert meta["snapshot_id"] == current(built_home / "published").snapshot_id
    assert meta["pages"] == list(PAGES)
    assert "dashboard:" in (built_home / "run_stdout.txt").read_text()


@pytest.mark.slow
def test_every_page_renders_offline_in_headless_chromium(served: str, tmp_path: Path) -> None:
    """No console error, no request outside 127.0.0.1, every chart drawn (SVG), a screenshot with content."""
    charts = {"index.html": 1, "quality.html": 4, "spam.html": 4}
    for file in PAGES:
        with chromium_page(served + file, height=1200) as (page, errors, requests):
            _ready(page)
            shot = tmp_path / f"{file}.png"
            page.screenshot(path=str(shot), full_page=True)
            drawn = page.locator(".chart svg.marks").count()
        assert errors == [], (file, errors)
        assert requests and all(r.startswith(served) for r in requests), (file, requests)
        assert drawn == charts[file], (file, drawn)
        ink, colours = screenshot_stats(shot)
        assert ink > 0.03 and colours > 200, (file, ink, colours)  # a header bar alone: (0.07, 40)


@pytest.mark.slow
def test_the_kpi_page_shows_the_incident_count_top_incident_and_judged_series_days(served: str, snapshot) -> None:
    n, top = snapshot.execute(
        """select count(*) over (), series_key || ' ' || direction || ' ' || strftime(start_date, '%Y-%m-%d')
           from marts.fct_api_anomaly_detection_summary
           order by abs(total_deviation_value) desc, incident_key limit 1"""
    ).fetchone()
    judged, days = snapshot.execute(
        """select count(*) filter (where is_judged), count(*) from marts.fct_api_request_anomalies as a
           inner join intermediate.int_api_detection_period as p
               on a.series_date between p.detection_start and p.detection_end"""
    ).fetchone()
    with chromium_page(served + "index.html") as (page, errors, _):
        _ready(page)
        cards = {
            c.locator(".label").inner_text().lower(): c.locator(".value").inner_text()
            for c in page.locator(".card").all()
        }
        rows = page.locator("#incidents tbody tr").count()
    assert cards["incidents"] == str(n) and rows == n
    assert cards["top incident"] == top
    assert cards["judged series-days"] == f"{judged:,} of {days:,}" and 0 < judged < days  # two new series
    assert errors == []


def test_the_top_incident_card_says_what_a_missing_day_and_a_new_series_are() -> None:
    """Neither has a relative deviation: the card printed `+nan%` for them."""
    import pandas as pd

    from ml.dashboard.build import top_incident

    def card(direction: str, pct: float | None, total: float) -> tuple[str, str]:
        row = {"series_key": "BR/*", "direction": direction, "start_date": pd.Timestamp("2024-04-25")}
        return top_incident(pd.DataFrame([{**row, "peak_deviation_pct": pct, "total_deviation_value": total}]))

    assert card("up", 0.333, 2400) == ("BR/* up 2024-04-25", "+33% at its peak, +2,400 requests in all")
    assert card("up", None, 2400) == ("BR/* up 2024-04-25", "none expected, +2,400 requests in all")
    assert card("missing", None, -397) == ("BR/* missing 2024-04-25", "no data, -397 requests in all")
    assert top_incident(pd.DataFrame()) == ("none", "no incident in the detection period")


@pytest.mark.slow
def test_the_controls_filter_what_is_shown(served: str) -> None:
    """Country and OS on the KPI page: the drill-down draws another series and the incidents table keeps those
    that touch the choice; country on the spam page: fewer bars."""
    with chromium_page(served + "index.html") as (page, errors, _):
        _ready(page)
        before = page.locator("#kpi").inner_html()
        caption = page.locator("#incidents-shown")
        total = page.locator("#incidents tbody tr").count()
        assert caption.inner_text().startswith(f"{total} of {total} ")
        page.select_option('#kpi-controls select[name="country"]', "US")
        page.wait_for_function(f"!document.getElementById('incidents-shown').textContent.startsWith('{total} of')")
        shown = page.locator("#incidents tbody tr:not([hidden])").count()
        after = page.locator("#kpi").inner_html()
        us_caption = caption.inner_text()
        page.select_option('#kpi-controls select[name="os"]', "iOS")
        page.wait_for_function("document.getElementById('incidents-shown').textContent.includes('iOS')")
        both = page.locator("#incidents tbody tr:not([hidden])").count()
    assert after != before
    assert 0 < shown < total and us_caption.startswith(f"{shown} of {total} ") and "US / all OS" in us_caption
    assert 0 < both <= shown
    assert errors == []
    with chromium_page(served + "spam.html") as (page, errors, _):
        _ready(page)
        bars = page.locator("#flagged .mark-rect path").count()
        options = page.locator('#flagged-controls select[name="spam_country"] option').all_inner_texts()
        page.select_option('#flagged-controls select[name="spam_country"]', options[1])
        page.wait_for_function(f"document.querySelectorAll('#flagged .mark-rect path').length < {bars}")
        one = page.locator("#flagged .mark-rect path").count()
    assert bars > 1 and one >= 1
    assert errors == []


@pytest.mark.slow
def test_brushing_a_longer_date_range_on_the_timeline_widens_the_heat_map(served: str) -> None:
    """The date-range filter: the timeline starts on the detection period (14 days); dragging over a longer
    stretch of it puts more days in the heat map and in the drill-down."""
    with chromium_page(served + "index.html") as (page, errors, _):
        _ready(page)
        cells = page.locator("#kpi .mark-rect path").count()
        start, end = page.evaluate("window.sentinelViews.kpi.signal('dates').series_date")
        timeline = page.locator("#kpi .mark-area path").first.bounding_box()  # the first chart: total requests
        y = timeline["y"] + timeline["height"] / 2
        page.mouse.move(timeline["x"] + timeline["width"] * 0.05, y)
        page.mouse.down()
        page.mouse.move(timeline["x"] + timeline["width"] * 0.6, y, steps=8)
        page.mouse.up()
        page.wait_for_function(f"document.querySelectorAll('#kpi .mark-rect path').length > {cells}")
        new_start, new_end = page.evaluate("window.sentinelViews.kpi.signal('dates').series_date")
        wider = page.locator("#kpi .mark-rect path").count()
    assert (end - start) / 86_400_000 == pytest.approx(13, abs=0.5)  # 2024-04-01 .. 2024-04-14
    assert new_start < start and (new_end - new_start) > 2 * (end - start)
    assert wider > 2 * cells
    assert errors == []


def test_no_snapshot_is_one_clear_message_and_no_dashboard(tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match=r"no published snapshot in .*: run `make run` first"):
        build_dashboard(tmp_path / "published", tmp_path / "dashboard")
    assert not (tmp_path / "dashboard").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "ml", "dashboard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env={"SENTINEL_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("python -m ml dashboard: no published snapshot in")
    assert "Traceback" not in proc.stderr


def test_an_older_snapshot_names_what_it_lacks_and_keeps_the_old_dashboard(tmp_path: Path) -> None:
    """A snapshot from before the metric marts: the message names them, and the dashboard already there stays."""
    wh = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_api_anomaly_detection_summary as select 1 as incident_key")
    publish(wh, tmp_path / "published", ["marts.fct_api_anomaly_detection_summary"])
    (tmp_path / "dashboard").mkdir()
    (tmp_path / "dashboard" / "index.html").write_text("yesterday's dashboard")
    with pytest.raises(DashboardError, match=r"is older than the dashboard: it has no .*marts\.fct_kpi_metrics_daily"):
        build_dashboard(tmp_path / "published", tmp_path / "dashboard")
    assert (tmp_path / "dashboard" / "index.html").read_text() == "yesterday's dashboard"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dashboard")] == []


@pytest.mark.slow
def test_a_snapshot_published_during_the_build_is_not_read(built_home: Path, tmp_path: Path, monkeypatch) -> None:
    """The build pins the snapshot current when it starts: a publish in the middle (here: between opening the
    snapshot and reading it) moves `current.json`, and the whole dashboard still comes from the first one."""
    published = tmp_path / "published"
    shutil.copytree(built_home / "published", published, symlinks=True)
    first, relations = current(published).snapshot_id, list(current(published).row_counts)
    read = build._read

    def publish_then_read(con, snap, params):
        publish(built_home / "warehouse.duckdb", published, relations)
        return read(con, snap, params)

    monkeypatch.setattr(build, "_read", publish_then_read)
    summary = build_dashboard(published, tmp_path / "dashboard")
    assert current(published).snapshot_id != first
    assert summary.snapshot_id == first
    assert json.loads((tmp_path / "dashboard" / "build.json").read_text())["snapshot_id"] == first
    assert first in (tmp_path / "dashboard" / "index.html").read_text()


def test_the_vega_script_is_built_once_and_then_copied_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    """vl-convert builds the offline Vega script in about 2 s of CPU; a second dashboard build copies the same
    script from the user's cache, and a cache that cannot be written only costs the build its 2 s."""
    import vl_convert

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    build._vega_bundle(tmp_path / "first")
    first = (tmp_path / "first" / "vega.js").read_text()
    assert "vegaEmbed" in first and len(first) > 100_000
    (cached,) = (tmp_path / "cache" / "sentinel").iterdir()  # named by vl-convert's and Vega-Lite's versions
    assert cached.name.startswith("vega-") and cached.read_text() == first

    def rebuilt(**kwargs):
        raise AssertionError("the script was built again")

    monkeypatch.setattr(vl_convert, "javascript_bundle", rebuilt)
    build._vega_bundle(tmp_path / "second")
    assert (tmp_path / "second" / "vega.js").read_text() == first
    assert (tmp_path / "second" / "dashboard.js").exists()

    monkeypatch.undo()
    (tmp_path / "readonly").write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "readonly"))
    build._vega_bundle(tmp_path / "third")
    assert (tmp_path / "third" / "vega.js").read_text() == first


def test_a_missing_time_is_an_empty_cell(tmp_path: Path) -> None:
    """A file named without a date has no latest period, so the freshness table held NaT: the dashboard step
    failed on it ("NaTType does not support strftime") and with it `make run` on a user's own extract; the
    pages' `day` filter printed "NaT"."""
    import numpy as np

    from ml.pages import present, write_page

    (tmp_path / "t.j2").write_text("[{{ v | day }}][{{ w | day }}][{{ x | day }}]")
    write_page(tmp_path, "t.j2", tmp_path / "t.html", v=pd.NaT, w=None, x=pd.Timestamp("2024-05-20"))
    assert (tmp_path / "t.html").read_text() == "[][][2024-05-20]"

    fresh = pd.DataFrame(
        {"feed": ["api_logs"], "latest_period": [pd.NaT], "last_loaded_at": [pd.Timestamp("2024-05-20 08:30")]}
    )
    table = build._table(fresh, {"feed": "feed", "latest_period": "latest period", "last_loaded_at": "last load"})
    assert table["rows"] == [["api_logs", "", "2024-05-20 08:30"]]
    assert not present(pd.NaT) and not present(np.datetime64("NaT")) and present(pd.Timestamp("2024-05-20"))
