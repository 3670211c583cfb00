"""Load landing files into the raw DuckDB schema: append-only, traceable, all-or-nothing per batch.

* Every row keeps its file, line number and load id; values stay text so nothing is lost before staging
  decides (non-numeric counts, odd spellings, bad dates are judged in dbt and quarantined with a reason).
* A file whose exact bytes were already loaded (a re-delivery) is recorded in `raw.loads` as
  `skipped_redelivery` and appends no rows, so it is never counted twice.
* A file with a wrong header or an unreadable line raises `IngestError` naming the file and line; the whole
  batch is rolled back, so nothing is loaded half-way.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ml.contracts import API_LOG_COLUMNS
from ml.logs import log_event, timed
from ml.settings import Paths

LOADS_DDL = """
create schema if not exists raw;
create table if not exists raw.loads (
    load_id varchar primary key,
    source varchar not null,
    file_name varchar not null,
    file_sha256 varchar not null,
    file_rows bigint not null,
    rows_appended bigint not null,
    status varchar not null,            -- loaded | skipped_redelivery
    duplicate_of_load_id varchar,
    loaded_at timestamp not null
);
create table if not exists raw.load_columns (  -- header of each loaded file, every feed
    load_id varchar not null,
    column_name varchar not null,
    ordinal integer not null
);
"""

DDL = (
    LOADS_DDL
    + """
create table if not exists raw.api_requests (
    date varchar,
    country varchar,
    os varchar,
    count varchar,
    _load_id varchar not null,
    _file_name varchar not null,
    _line_number bigint not null,
    _loaded_at timestamp not null
);
"""
)


class IngestError(ValueError):
    """A landing file cannot be loaded; the message names the file and the line."""


@dataclass
class LoadResult:
    files_loaded: int = 0
    files_skipped: int = 0
    rows_appended: int = 0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_api_log_csv(path: Path) -> pd.DataFrame:
    """Parse one CSV strictly: exact header, four fields per line, UTF-8. Values are kept as text."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # a byte-order mark is not part of the header
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise IngestError(f"{path.name}: line 1: empty file, expected header {','.join(API_LOG_COLUMNS)}")
            got = tuple(h.strip().lower() for h in header)
            if got != API_LOG_COLUMNS:
                raise IngestError(
                    f"{path.name}: line 1: wrong header {_clip(','.join(header))!r} ({len(header)} columns), "
                    f"expected {','.join(API_LOG_COLUMNS)!r}"
                )
            rows, lines = [], []
            for row in reader:
                if len(row) != len(API_LOG_COLUMNS):
                    if not row:  # a blank line carries no data; tolerate it like every CSV reader does
                        continue
                    raise IngestError(
                        f"{path.name}: line {reader.line_num}: unreadable line, expected {len(API_LOG_COLUMNS)} "
                        f"fields, got {len(row)}: {','.join(row)[:80]!r}"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path.name}: not UTF-8 text near byte {exc.start}: {exc.reason}") from exc
    except csv.Error as exc:
        raise IngestError(f"{path.name}: line {reader.line_num}: unreadable line: {exc}") from exc
    df = pd.DataFrame(rows, columns=list(API_LOG_COLUMNS), dtype="string")
    df["_line_number"] = pd.Series(lines, dtype="int64")
    return df


def _clip(text: str, n: int = 200) -> str:
    """At most `n` characters of delivered text in a message (a 100,000-column header made one of 689,000)."""
    return text if len(text) <= n else f"{text[:n]}... ({len(text) - n} more characters)"


def landing_files(landing: Path) -> list[Path]:
    """The CSV files of a landing folder, in name order; `.CSV` counts too (exports from Windows tools)."""
    if not landing.is_dir():
        return []
    return sorted(p for p in landing.iterdir() if p.is_file() and p.suffix.lower() == ".csv")


def landing_state(p: Paths) -> dict[str, dict[str, str]]:
    """Per feed, every landing CSV with its size and modification time (a re-delivery changes them)."""
    out = {}
    for feed, folder in (
        ("api_logs", p.landing_api_logs),
        ("calls", p.landing_calls),
        ("call_labels", p.landing_call_labels),
    ):
        out[feed] = {f.name: f"{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in landing_files(folder)}
    return out


def record_ingested(p: Paths, state: dict[str, dict[str, str]]) -> None:
    """Remember which landing files an ingestion saw (taken before it started), so the landing sensor starts from
    what is already loaded instead of re-running the pipeline for every file `make run` loaded."""
    path = p.home / "landing" / ".ingested.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True))
    os.replace(tmp, path)


def ingested(p: Paths) -> dict[str, dict[str, str]]:
    """The landing files the last ingestion saw ({} before the first)."""
    path = p.home / "landing" / ".ingested.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _data_lines(path: Path) -> int:
    """Lines after the header (what a skipped re-delivery would have added)."""
    with path.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)


def load_files(
    con: duckdb.DuckDBPyConnection,
    source: str,
    files: list[Path],
    load: Callable[[Path, str, datetime], int],
    count_rows: Callable[[Path], int] = _data_lines,
) -> LoadResult:
    """The bookkeeping every loader shares, in one transaction: each file not seen before gets a load id and
    `load(path, load_id, loaded_at)` appends its rows (returning how many); a file whose exact bytes were already
    loaded under another name is recorded as `skipped_redelivery` with `count_rows(path)` and appends nothing;
    a file already recorded under its own name is ignored. Any error rolls the whole batch back."""
    result = LoadResult()
    with timed(f"ingest_{source}", files=len(files)) as facts:
        known = dict(con.execute("select file_sha256, load_id from raw.loads where status = 'loaded'").fetchall())
        seen = {r[0] for r in con.execute("select file_name || ':' || file_sha256 from raw.loads").fetchall()}
        con.execute("begin transaction")
        try:
            for path in files:
                sha = _sha256(path)
                if f"{path.name}:{sha}" in seen:
                    continue  # exactly this file was already processed by an earlier batch
                now = datetime.now(UTC).replace(tzinfo=None)
                load_id = f"{source}_{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
                if sha in known:
                    con.execute(
                        "insert into raw.loads values (?, ?, ?, ?, ?, 0, 'skipped_redelivery', ?, ?)",
                        [load_id, source, path.name, sha, count_rows(path), known[sha], now],
                    )
                    result.files_skipped += 1
                    log_event(f"ingest_{source}.skipped_redelivery", file=path.name, duplicate_of=known[sha])
                    continue
                n = load(path, load_id, now)
                con.execute(
                    "insert into raw.loads values (?, ?, ?, ?, ?, ?, 'loaded', null, ?)",
                    [load_id, source, path.name, sha, n, n, now],
                )
                known[sha] = load_id
                result.files_loaded += 1
                result.rows_appended += n
                log_event(f"ingest_{source}.file", file=path.name, rows=n, load_id=load_id)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        facts.update(files_loaded=result.files_loaded, files_skipped=result.files_skipped, rows=result.rows_appended)
    return result


def ingest_api_logs(con: duckdb.DuckDBPyConnection, landing: Path) -> LoadResult:
    """Load every API-log landing file not yet loaded (by content hash) in one transaction."""
    con.execute(DDL)

    def load(path: Path, load_id: str, now: datetime) -> int:
        df = read_api_log_csv(path)
        df["_load_id"] = load_id
        df["_file_name"] = path.name
        df["_loaded_at"] = now
        con.register("incoming", df)
        con.execute(
            "insert into raw.api_requests select date, country, os, count, _load_id, _file_name, "
            "_line_number, _loaded_at from incoming"
        )
        con.unregister("incoming")
        # the header, as every feed records it (the strict reader above accepted exactly the contract's)
        con.executemany(
            "insert into raw.load_columns values (?, ?, ?)",
            [[load_id, c, i + 1] for i, c in enumerate(API_LOG_COLUMNS)],
        )
        return len(df)

    # a re-delivery is still parsed: a broken file is an error even when its bytes were seen before
    return load_files(con, "api_logs", landing_files(landing), load, count_rows=lambda p: len(read_api_log_csv(p)))


def load_ground_truth(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> int:
    """Replace raw.api_ground_truth_incidents with the generator's incident file (absent for real extracts)."""
    con.execute("create schema if not exists raw")
    src = ground_truth / "api_incidents.csv"
    con.execute(
        """
        create or replace table raw.api_ground_truth_incidents (
            incident_id varchar, incident_type varchar, country varchar, os varchar, start_date date,
            end_date date, factor double, period varchar, description varchar, level varchar, series_key varchar
        )"""
    )
    if not src.exists():
        return 0
    con.execute(
        "insert into raw.api_ground_truth_incidents select incident_id, incident_type, country, os, start_date, "
        "end_date, factor, period, description, level, series_key from read_csv(?, header = true, "
        "types = {'start_date': 'date', 'end_date': 'date'})",
        [str(src)],
    )
    return con.execute("select count(*) from raw.api_ground_truth_incidents").fetchone()[0]
