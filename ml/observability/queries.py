"""Small read helpers shared by the alerts and the health report."""

from __future__ import annotations

from typing import Any

import duckdb


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every schema.table the connection sees (a monitor mart not built yet is simply absent)."""
    rows = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def records(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The rows of a query as dicts by column name."""
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def current_tests(have: set[str]) -> str:
    """SQL condition: the test is still in the project (observability.dbt_tests, replaced by every dbt run).
    Unit tests are not in dbt's graph, so they are always kept."""
    if "observability.dbt_tests" in have:
        return "(test_type = 'unit' or test_unique_id in (select unique_id from observability.dbt_tests))"
    return "true"


def ranked_test_results(have: set[str]) -> str:
    """SQL: every recorded result of the project's current tests (skipped ones aside), `rn` = 1 for the latest
    result of each test. Use it as a CTE."""
    return f"""
        select *, row_number() over (partition by test_unique_id order by detected_at desc) as rn
        from observability.elementary_test_results
        where status <> 'skipped' and {current_tests(have)}
    """
