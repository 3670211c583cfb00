"""Reads shared by the alerts and the health report: the rows failing tests returned, and the quarantine by
reason. (The latest result of each test is a dbt model, `marts.fct_dbt_test_status_latest`.)"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from ml.sql import records


def failing_rows(con: duckdb.DuckDBPyConnection, have: set[str], executions: list[str]) -> dict[str, list[dict]]:
    """The rows each test execution returned, as the run-history hook sampled them (test_result_rows)."""
    if not executions or "observability.test_result_rows" not in have:
        return {}
    out: dict[str, list[dict]] = {}
    for execution, row in con.execute(
        "select test_execution_id, result_row from observability.test_result_rows "
        f"where test_execution_id in ({', '.join('?' for _ in executions)})",
        executions,
    ).fetchall():
        out.setdefault(execution, []).append(json.loads(row))
    return out


def quarantine_by_reason(con: duckdb.DuckDBPyConnection, have: set[str]) -> list[dict[str, Any]]:
    """Rejected rows per feed and reason, from the quarantine marts that exist."""
    parts = []
    if "marts.fct_api_requests_quarantined" in have:
        parts.append("select 'api_logs' as feed, rejection_reason from marts.fct_api_requests_quarantined")
    if "marts.fct_calls_quarantined" in have:
        parts.append("select source_name as feed, rejection_reason from marts.fct_calls_quarantined")
    if not parts:
        return []
    return records(
        con,
        f"select feed, rejection_reason, count(*) as rows from ({' union all '.join(parts)}) "
        "group by all order by rows desc, feed, rejection_reason",
    )
