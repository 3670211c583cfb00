"""Small DuckDB read helpers shared by the alerts, the health report and the API."""

from __future__ import annotations

from typing import Any

import duckdb


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every schema.table the connection sees (a mart not built yet is simply absent)."""
    rows = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    """The rows of a query as dicts by column name."""
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
