"""Load weekly call files and label files into the raw schema (same contract as ml/ingest.py for API logs).

* Append-only; every row keeps its file, line and load id; values stay text until staging judges them.
* The raw table follows the source: a column seen for the first time (e.g. `manual_spam_count`) is added to
  `raw.calls_weekly` as text, and every load records its header in `raw.load_columns`, so the schema-change
  monitor (`fct_source_schema_changes`) reports it even before any model uses it. Older rows keep null there,
  and staging knows from `raw.load_columns` that their file did not carry the column (not "zero").
* A file missing a required column, with a duplicated header, or with a name that does not say its week
  (`calls_<monday>.csv`) raises `IngestError` naming the file and the column; the batch is rolled back.
* Exact re-deliveries (same bytes) are recorded as `skipped_redelivery` and append nothing.
* Reading goes through DuckDB's CSV reader (all columns as text), so a 10M-row week loads in seconds.
  Line numbers are the record order of the scan (header = line 1), or, when blank lines sit between records
  (DuckDB skips them), each record's physical line; the files carry no multi-line fields.
"""

from __future__ import annotations

import csv
import mmap
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ml.contracts import CALL_COLUMNS, LABEL_COLUMNS
from ml.ingest import LOADS_DDL, IngestError, LoadResult, landing_files, load_files
from ml.logs import log_event

DDL = (
    LOADS_DDL
    + """
create table if not exists raw.calls_weekly (
    {base},
    _week_start date not null,
    _load_id varchar not null,
    _file_name varchar not null,
    _line_number bigint not null,
    _loaded_at timestamp not null
);
create table if not exists raw.call_labels (
    {labels},
    _load_id varchar not null,
    _file_name varchar not null,
    _line_number bigint not null,
    _loaded_at timestamp not null
);
""".format(
        base=",\n    ".join(f"{c} varchar" for c in CALL_COLUMNS),
        labels=",\n    ".join(f"{c} varchar" for c in LABEL_COLUMNS),
    )
)
CALLS_FILE = re.compile(r"^calls_(\d{4}-\d{2}-\d{2})\.(?i:csv)$")
LABELS_FILE = re.compile(r"^labels_(\d{4}-\d{2}-\d{2})\.(?i:csv)$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# A delivery may add at most this many new columns to raw (schema evolution is for a feature or two, and every
# new name widens the append-only raw table for good; thousands held the write lock for minutes).
MAX_NEW_COLUMNS = 10


def _names(names: list[str], shown: int = 10) -> str:
    """A short list for an error message: the first names and how many more (a header can hold 100,000)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(n[:64] for n in names[:shown]) + more


@dataclass(frozen=True)
class Source:
    name: str  # raw.loads.source
    table: str  # raw table
    pattern: re.Pattern
    required: tuple[str, ...]
    evolving: bool  # new columns are added to the raw table (calls) or rejected (labels)


CALLS = Source("calls", "raw.calls_weekly", CALLS_FILE, CALL_COLUMNS, evolving=True)
LABELS = Source("call_labels", "raw.call_labels", LABELS_FILE, LABEL_COLUMNS, evolving=False)


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # a byte-order mark is not part of the header
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path.name}: not UTF-8 text near byte {exc.start}: {exc.reason}") from exc
    if not header:
        raise IngestError(f"{path.name}: line 1: empty file, expected a header")
    return [h.strip().lower() for h in header]


def _week_of(source: Source, path: Path) -> date:
    m = source.pattern.match(path.name)
    if not m:
        raise IngestError(f"{path.name}: file name must look like {source.pattern.pattern} (it says the week)")
    try:
        week = date.fromisoformat(m.group(1))
    except ValueError as exc:
        raise IngestError(f"{path.name}: {m.group(1)!r} in the file name is not a date") from exc
    if source is CALLS and week.weekday() != 0:
        raise IngestError(f"{path.name}: a weekly file is named after its Monday; {week} is a {week:%A}")
    return week


def _check_header(source: Source, path: Path, header: list[str], raw_columns: list[str]) -> list[str]:
    """Validate the header; return the columns to add to the raw table (schema evolution)."""
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise IngestError(f"{path.name}: line 1: duplicated column(s) {_names(dupes)}")
    missing = [c for c in source.required if c not in header]
    if missing:
        raise IngestError(f"{path.name}: line 1: missing required column(s) {_names(missing)}")
    bad = [h for h in header if not _IDENT.match(h)]
    if bad:
        raise IngestError(f"{path.name}: line 1: column name(s) {_names(bad)} are not plain identifiers")
    new = [h for h in header if h not in raw_columns]
    if new and not source.evolving:
        raise IngestError(f"{path.name}: line 1: unexpected column(s) {_names(new)} for {source.table}")
    if len(new) > MAX_NEW_COLUMNS:
        raise IngestError(
            f"{path.name}: line 1: {len(new)} new columns ({_names(new)}); a delivery may add at most "
            f"{MAX_NEW_COLUMNS} (MAX_NEW_COLUMNS in ml/calls/ingest.py)"
        )
    return new


def _first_ragged_line(path: Path, n_fields: int) -> str:
    """'line N: has K fields, expected M; ' for the first line whose field count is off (DuckDB's reader says
    "Error when sniffing file" without a line), or '' when every line has the header's count."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            if row and len(row) != n_fields:
                return f"line {reader.line_num}: has {len(row)} fields, expected {n_fields}; "
    return ""


def _record_lines(path: Path) -> list[int] | None:
    """The physical line of each record when blank lines sit between records, else None (the common case, found
    by a byte scan). DuckDB's reader skips blank lines, so the record's order + 1 would name a line above the
    record's own after the first blank one."""
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            found = [i for i in (mm.find(b"\n\n"), mm.find(b"\n\r\n")) if i >= 0]
            if not found or not mm[min(found) :].strip():  # none, or only at the end (no record follows)
                return None
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        return [reader.line_num for row in reader if row]


def _raw_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def _load_file(con: duckdb.DuckDBPyConnection, source: Source, path: Path, load_id: str, now: datetime) -> int:
    header = _header(path)
    raw_cols = _raw_columns(con, source.table)
    for col in _check_header(source, path, header, raw_cols):
        try:  # quoted: a column may be called `select`
            con.execute(f'alter table {source.table} add column "{col}" varchar')
        except duckdb.Error as exc:
            raise IngestError(
                f"{path.name}: line 1: cannot add column {col!r}: {str(exc).splitlines()[0][:200]}"
            ) from exc
        log_event("ingest.new_source_column", table=source.table, column=col, file=path.name, load_id=load_id)
    select = ", ".join(f'"{c}"' for c in header)
    extra = f", cast('{_week_of(source, path).isoformat()}' as date) as _week_start" if source is CALLS else ""
    lines = _record_lines(path)
    if lines is not None:  # blank lines between records: each record's line, by its order
        con.register("_record_lines", pd.DataFrame({"_record": range(1, len(lines) + 1), "_line": lines}))
    line, join = ("_line", "join _record_lines using (_record)") if lines is not None else ("_record + 1", "")
    try:
        con.execute(
            f"""
            insert into {source.table} by name
            select {select}{extra}, ? as _load_id, ? as _file_name,
                   {line} as _line_number, cast(? as timestamp) as _loaded_at
            from (
                select *, row_number() over () as _record
                from read_csv(?, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"',
                              strict_mode = true, null_padding = false)
            ) {join}
            """,
            [load_id, path.name, now, str(path)],
        )
    except duckdb.Error as exc:
        where = _first_ragged_line(path, len(header))
        raise IngestError(f"{path.name}: {where}unreadable: {str(exc).splitlines()[0][:300]}") from exc
    finally:
        if lines is not None:
            con.unregister("_record_lines")
    con.executemany(
        "insert into raw.load_columns values (?, ?, ?)", [[load_id, c, i + 1] for i, c in enumerate(header)]
    )
    return con.execute(f"select count(*) from {source.table} where _load_id = ?", [load_id]).fetchall()[0][0]


def ingest_source(con: duckdb.DuckDBPyConnection, source: Source, landing: Path) -> LoadResult:
    """Load every not-yet-seen file of `source` from `landing`, in name order, in one transaction."""
    con.execute(DDL)
    files = landing_files(landing)
    for path in files:
        _week_of(source, path)  # every name must say its week before anything is loaded
    return load_files(con, source.name, files, lambda path, load_id, now: _load_file(con, source, path, load_id, now))


def ingest_calls(con: duckdb.DuckDBPyConnection, calls_landing: Path, labels_landing: Path) -> dict[str, LoadResult]:
    return {"calls": ingest_source(con, CALLS, calls_landing), "labels": ingest_source(con, LABELS, labels_landing)}


def load_calls_ground_truth(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> int:
    """raw.calls_ground_truth: true class per number (generator only; absent for a real extract)."""
    con.execute("create schema if not exists raw")
    con.execute(
        "create or replace table raw.calls_ground_truth (id varchar, country varchar, true_class varchar, "
        "archetype varchar)"
    )
    src = ground_truth / "calls_numbers.csv"
    if not src.exists():
        return 0
    con.execute(
        "insert into raw.calls_ground_truth select id, country, true_class, archetype "
        "from read_csv(?, header = true, all_varchar = true)",
        [str(src)],
    )
    return con.execute("select count(*) from raw.calls_ground_truth").fetchall()[0][0]
