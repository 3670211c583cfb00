"""Run and test history (Elementary-style), appended by dbt's on-run-end hook after every invocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ml.observability.alerts import JsonLinesSink, send_alerts
from ml.settings import PROJECT_DIR
from tests.python.conftest import run_ml


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("history") / "home"
    run_ml(home, "generate", "--calls-numbers", "2000")
    run_ml(home, "ingest")
    return home


def _history(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


# A load whose rows were appended. Load ids end in random hex, so min(load_id) over every load could pick one of
# the two skipped re-deliveries among the 75 API-log loads, which append no rows: the build then passed.
_AN_API_LOAD = "select min(load_id) from raw.loads where source = 'api_logs' and status = 'loaded'"


# The failing and the recovering build need only the reconciliation mart, its parents and its tests (the first
# two builds are whole: every model dropped and rebuilt, unit tests included)
RECONCILIATION = ("--select", "+fct_api_request_load_reconciliation")


def _build_fails(home: Path) -> str:
    env = {**os.environ, "SENTINEL_HOME": str(home)}
    cmd = [sys.executable, "-m", "ml", "build", *RECONCILIATION]
    proc = subprocess.run(cmd, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0, "the build should have failed"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_every_invocation_is_kept_through_full_refreshes_with_failures_and_recovery(tiny_home: Path) -> None:
    # reference=True: with dbt's unit tests, whose history is kept too (test_type 'unit')
    run_ml(tiny_home, "build", reference=True)
    run_ml(tiny_home, "build", "--full-refresh", reference=True)  # drops and rebuilds every model; the history stays
    with duckdb.connect(str(tiny_home / "warehouse.duckdb")) as con:  # a load claims one more row than it has
        con.execute(f"update raw.loads set file_rows = file_rows + 1 where load_id = ({_AN_API_LOAD})")
    assert "expect_column_sum_identity_fct_api_request_load_reconciliation" in _build_fails(tiny_home)
    sink = JsonLinesSink(tiny_home / "alerts.jsonl")
    with duckdb.connect(str(tiny_home / "warehouse.duckdb")) as con:
        failed_run = send_alerts(con, sink)  # the failure is alerted, with the rows the test returned
        con.execute(f"update raw.loads set file_rows = file_rows - 1 where load_id = ({_AN_API_LOAD})")
    (key,) = [k for k in failed_run.sent if "expect_column_sum_identity_fct_api_request_load_reconciliation" in k]
    (alert,) = [json.loads(line) for line in sink.path.read_text().splitlines() if json.loads(line)["key"] == key]
    assert alert["severity"] == "error" and key.endswith(":fail")
    assert alert["detail"]["sample_rows"] and "file_rows" in alert["detail"]["sample_rows"][0]
    run_ml(tiny_home, "build", *RECONCILIATION, reference=True)  # recovered
    with duckdb.connect(str(tiny_home / "warehouse.duckdb")) as con:
        assert key in send_alerts(con, sink).resolved

    invocations = [
        inv
        for inv, _ in _history(
            tiny_home,
            "select invocation_id, min(generated_at) from observability.dbt_run_results group by 1 order by 2",
        )
    ]
    assert len(invocations) == 4
    full_refresh = dict(
        _history(tiny_home, "select invocation_id, bool_or(full_refresh) from observability.dbt_run_results group by 1")
    )
    assert [full_refresh[i] for i in invocations] == [False, True, False, False]
    rows = _history(
        tiny_home,
        "select invocation_id, status, failures from observability.elementary_test_results "
        "where model_unique_id = 'model.sentinel.fct_api_request_load_reconciliation' "
        "and test_short_name = 'expect_column_sum_identity'",
    )
    by_run: dict[str, list[tuple[str, int]]] = {}
    for inv, status, failures in rows:
        by_run.setdefault(inv, []).append((status, failures))
    assert all(
        by_run[i] and {s for s, _ in by_run[i]} == {"pass"} for i in (invocations[0], invocations[1], invocations[3])
    )
    failed = [f for s, f in by_run[invocations[2]] if s == "fail"]
    assert failed and failed[0] >= 1  # the failing run is kept as failing, with its failing-row count
    # one row per node and invocation; every status known; the code version stamped
    assert _history(
        tiny_home,
        "select count(*) - count(distinct model_execution_id) from observability.dbt_run_results",
    ) == [(0,)]
    assert _history(
        tiny_home,
        "select count(*) filter (where status not in ('pass', 'fail', 'warn', 'error', 'skipped')), "
        "count(*) filter (where code_version = 'unknown'), count(distinct test_type) "
        "from observability.elementary_test_results",
    ) == [(0, 0, 3)]
    # a unit test is recorded against the model it tests (its unique id names it), not one of its inputs
    ((misattached, unit_results),) = _history(
        tiny_home,
        "select count(*) filter (where model_unique_id not like "
        "'model.sentinel.' || split_part(test_unique_id, '.', 3) || '%'), count(*) "
        "from observability.elementary_test_results where test_type = 'unit'",
    )
    assert unit_results > 0 and misattached == 0
