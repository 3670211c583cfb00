"""Load landing files into the raw DuckDB schema: one reader for every feed, append-only, traceable,
all-or-nothing per batch.

A feed is a `Source`: its raw table, the columns its files must carry (`ml/contracts.py`), whether its file
names say the week, and whether a new column is added to raw (calls) or refused (API logs, labels).

* Every row keeps its file, line number and load id; values stay text so nothing is lost before staging
  decides (non-numeric counts, odd spellings, bad dates are judged in dbt and quarantined with a reason). An
  empty field is loaded as the empty text it was; null in raw means the row's file did not carry the column.
* Every load records its header in `raw.load_columns`, so the schema-change monitor
  (`fct_source_schema_changes`) compares deliveries. A column seen for the first time in a weekly call file
  (e.g. `manual_spam_count`) is added to `raw.calls_weekly` as text; older rows keep null there.
* A file whose exact bytes were already loaded (a re-delivery) is recorded in `raw.loads` as
  `skipped_redelivery` and appends no rows, so it is never counted twice.
* A load delivered by mistake is retracted, not deleted (`python -m ml retract`, `retract_load`): a row in
  `raw.load_retractions` says so, its rows stay in raw and are quarantined `retracted_load` by staging, and the
  next build judges again the days they touched. `--restore` takes a retraction back.
* A file with a wrong header, a ragged or non-UTF-8 line, or a name that does not say its week
  (`calls_<monday>.csv`) raises `IngestError` naming the file, and the line or column; the whole batch is rolled
  back, so nothing is loaded half-way.
* A file is CSV, plain (`.csv`, `.CSV`) or gzipped (`.csv.gz`, as exports come): both engines read it as it is,
  and its name, checksum and lines are those of the file delivered (the lines, of its text).
* Reading goes through DuckDB's CSV reader (all columns as text), so a 10M-row week loads in seconds. Line
  numbers are the record order of the scan (header = line 1), or, when blank lines sit between records (DuckDB
  skips them), each record's physical line; the files carry no multi-line fields.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import re
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ml.contracts import API_LOG_COLUMNS, CALL_COLUMNS, LABEL_COLUMNS
from ml.errors import IngestError
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
create table if not exists raw.load_retractions (  -- python -m ml retract: the latest action on a load counts
    load_id varchar not null,
    action varchar not null,            -- retracted | restored
    reason varchar,
    recorded_at timestamp not null
);
"""
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# A delivery may add at most this many new columns to raw (schema evolution is for a feature or two, and every
# new name widens the append-only raw table for good; thousands held the write lock for minutes).
MAX_NEW_COLUMNS = 10


@dataclass(frozen=True)
class Source:
    name: str  # raw.loads.source
    table: str  # raw table
    required: tuple[str, ...]  # the contract's columns, in order (ml/contracts.py)
    evolving: bool  # new columns are added to the raw table (calls) or refused (API logs, labels)
    file_prefix: str | None = None  # files are named <prefix>_<ISO date>.csv, the date saying the week
    weekly: bool = False  # the week in the name is a Monday and lands in `_week_start`

    @property
    def pattern(self) -> re.Pattern | None:
        return (
            re.compile(rf"^{self.file_prefix}_(\d{{4}}-\d{{2}}-\d{{2}})\.(?i:csv)(?:\.gz)?$")
            if self.file_prefix
            else None
        )

    def ddl(self) -> str:
        week = "    _week_start date not null,\n" if self.weekly else ""
        columns = "".join(f"    {c} varchar,\n" for c in self.required)
        return (
            f"{LOADS_DDL}create table if not exists {self.table} (\n{columns}{week}"
            "    _load_id varchar not null,\n    _file_name varchar not null,\n"
            "    _line_number bigint not null,\n    _loaded_at timestamp not null\n);\n"
        )


API_LOGS = Source("api_logs", "raw.api_requests", API_LOG_COLUMNS, evolving=False)
CALLS = Source("calls", "raw.calls_weekly", CALL_COLUMNS, evolving=True, file_prefix="calls", weekly=True)
LABELS = Source("call_labels", "raw.call_labels", LABEL_COLUMNS, evolving=False, file_prefix="labels")


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


def _names(names: list[str], shown: int = 10) -> str:
    """A short list for an error message: the first names and how many more (a header can hold 100,000)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(n[:64] for n in names[:shown]) + more


def is_csv(path: Path) -> bool:
    """A landing CSV: `.csv` in any case (exports from Windows tools write `.CSV`), or that gzipped (`.csv.gz`;
    Spark picks the codec by the suffix `.gz` as written, so `.GZ` is not one)."""
    return path.suffix.lower() == ".csv" or (path.suffix == ".gz" and Path(path.stem).suffix.lower() == ".csv")


def is_gzipped(path: Path) -> bool:
    return path.suffix == ".gz"


# what unpacking a file named .gz raises when it is not gzip, is cut short or is corrupt
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def open_text(path: Path, errors: str = "strict") -> io.TextIOBase:
    """A landing file's text, unpacked when gzipped; a byte-order mark is not part of it (newline='' for csv)."""
    if is_gzipped(path):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig", errors=errors)
    return path.open(newline="", encoding="utf-8-sig", errors=errors)


def _text_bytes(path: Path) -> Iterator[bytes]:
    """A landing file's text as bytes, unpacked when gzipped, in 1 MB pieces (a weekly file can be gigabytes)."""
    with gzip.open(path, "rb") if is_gzipped(path) else path.open("rb") as f:
        yield from iter(lambda: f.read(1 << 20), b"")


def landing_files(landing: Path) -> list[Path]:
    """The CSV files of a landing folder (`is_csv`), in name order."""
    if not landing.is_dir():
        return []
    return sorted(p for p in landing.iterdir() if p.is_file() and is_csv(p))


def other_landing_files(landing: Path) -> list[Path]:
    """The files of a landing folder that are not CSV (a `.zip`, a spreadsheet), hidden files (`.DS_Store`)
    aside. They were ignored without a word: a folder of such exports loaded nothing, and `make run`, seeing no
    CSV, generated the reference extract into the user's folder beside them."""
    if not landing.is_dir():
        return []
    return sorted(p for p in landing.iterdir() if p.is_file() and not is_csv(p) and not p.name.startswith("."))


def check_landing(landing: Path) -> None:
    """Refuse a batch when its folder holds a file that is not CSV: loading the rest would look complete."""
    if other := other_landing_files(landing):
        raise IngestError(
            f"{_names([p.name for p in other])}: not a CSV file; the landing folders take CSV, plain (.csv) or "
            "gzipped (.csv.gz): unzip a .zip, save a spreadsheet as CSV, or move the file out; nothing of this batch "
            "was loaded"
        )


def landing_state(p: Paths) -> dict[str, dict[str, str]]:
    """Per feed, every landing CSV with its size and modification time (a re-delivery changes them)."""
    out = {}
    for feed, folder in (
        ("api_logs", p.landing_api_logs),
        ("calls", p.landing_calls),
        ("call_labels", p.landing_call_labels),
    ):
        files = landing_files(folder) + other_landing_files(folder)  # a new non-CSV file runs the job, which says why
        out[feed] = {f.name: f"{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files}
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


# --- reading one file -------------------------------------------------------------------------------------------


def read_header(path: Path) -> list[str]:
    try:
        with open_text(path) as f:
            header = next(csv.reader(f), None)
    except GZIP_ERRORS as exc:
        raise IngestError(f"{path.name}: not a readable gzip file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path.name}: not UTF-8 text near byte {exc.start}: {exc.reason}") from exc
    if not header:
        raise IngestError(f"{path.name}: line 1: empty file, expected a header")
    return [h.strip().lower() for h in header]


def week_of(source: Source, path: Path) -> date | None:
    pattern = source.pattern
    if pattern is None:
        return None
    m = pattern.match(path.name)
    if not m:
        raise IngestError(f"{path.name}: file name must look like {pattern.pattern} (it says the week)")
    try:
        week = date.fromisoformat(m.group(1))
    except ValueError as exc:
        raise IngestError(f"{path.name}: {m.group(1)!r} in the file name is not a date") from exc
    if source.weekly and week.weekday() != 0:
        raise IngestError(f"{path.name}: a weekly file is named after its Monday; {week} is a {week:%A}")
    return week


def check_header(source: Source, path: Path, header: list[str], raw_columns: list[str]) -> list[str]:
    """Validate the header; return the columns to add to the raw table (schema evolution)."""
    dupes = sorted(h for h, n in Counter(header).items() if n > 1)  # header.count per name took minutes at 100k
    if dupes:
        raise IngestError(f"{path.name}: line 1: duplicated column(s) {_names(dupes)}")
    missing = [c for c in source.required if c not in header]
    if missing:
        # a spreadsheet's export in a locale with a decimal comma separates fields by ';': one column, all names
        other = [d for d in (";", "\t", "|") if len(header) == 1 and header[0].count(d) >= len(source.required) - 1]
        hint = f" (the header is one field holding {other[0]!r}: the files must be comma-separated)" if other else ""
        raise IngestError(f"{path.name}: line 1: missing required column(s) {_names(missing)}{hint}")
    bad = [h for h in header if not _IDENT.match(h)]
    if bad:
        raise IngestError(f"{path.name}: line 1: column name(s) {_names(bad)} are not plain identifiers")
    new = [h for h in header if h not in raw_columns]
    if new and not source.evolving:
        raise IngestError(f"{path.name}: line 1: unexpected column(s) {_names(new)} for {source.table}")
    if len(new) > MAX_NEW_COLUMNS:
        raise IngestError(
            f"{path.name}: line 1: {len(new)} new columns ({_names(new)}); a delivery may add at most "
            f"{MAX_NEW_COLUMNS} (MAX_NEW_COLUMNS in ml/ingest.py)"
        )
    return new


def utf8_error(path: Path) -> str:
    """'not UTF-8 text near byte N: <reason>' for a file that is not UTF-8 (N in its text, unpacked when gzipped),
    'not a readable gzip file: ...' for a .gz that does not unpack, else ''."""
    decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
    try:
        for chunk in _text_bytes(path):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return f"not UTF-8 text near byte {offset + exc.start}: {exc.reason}"
            offset += len(chunk)
    except GZIP_ERRORS as exc:
        return f"not a readable gzip file: {exc}"
    return ""


def _diagnose(path: Path, n_fields: int) -> str:
    """Where DuckDB's reader failed, which it does not say ("Error when sniffing file", "Invalid unicode"):
    'not UTF-8 text near byte N' for a file that is not UTF-8, else 'line N: has K fields, expected M; ' for the
    first line whose field count is off, else ''."""
    if not_utf8 := utf8_error(path):
        return f"{not_utf8}; "
    with open_text(path) as f:
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
    try:
        if not _blank_line_before_a_record(_text_bytes(path)):
            return None
    except GZIP_ERRORS as exc:
        raise IngestError(f"{path.name}: not a readable gzip file: {exc}") from exc
    with open_text(path, errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        return [reader.line_num for row in reader if row]


def _blank_line_before_a_record(chunks: Iterator[bytes]) -> bool:
    """Whether a blank line stands between records: one only at the end (no record follows) is none."""
    carry, blank = b"", False
    for chunk in chunks:
        data = carry + chunk
        if not blank:
            found = [i for i in (data.find(b"\n\n"), data.find(b"\n\r\n")) if i >= 0]
            if found:
                blank, data = True, data[min(found) :]
        if blank and data.strip():
            return True
        carry = data[-2:]  # a line end split between two pieces
    return False


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
    header = read_header(path)
    raw_cols = _raw_columns(con, source.table)
    for col in check_header(source, path, header, raw_cols):
        try:  # quoted: a column may be called `select`
            con.execute(f'alter table {source.table} add column "{col}" varchar')
        except duckdb.Error as exc:
            raise IngestError(
                f"{path.name}: line 1: cannot add column {col!r}: {str(exc).splitlines()[0][:200]}"
            ) from exc
        log_event("ingest.new_source_column", table=source.table, column=col, file=path.name, load_id=load_id)
    # DuckDB reads an empty field as null; raw keeps the empty text that was delivered
    select = ", ".join(f'coalesce("{c}", \'\') as "{c}"' for c in header)
    week = week_of(source, path)
    extra = f", cast('{week.isoformat()}' as date) as _week_start" if source.weekly else ""
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
                              strict_mode = true, null_padding = false, compression = ?)
            ) {join}
            """,
            [load_id, path.name, now, str(path), "gzip" if is_gzipped(path) else "none"],
        )
    except duckdb.Error as exc:
        where = _diagnose(path, len(header))
        raise IngestError(f"{path.name}: {where}unreadable: {str(exc).splitlines()[0][:300]}") from exc
    finally:
        if lines is not None:
            con.unregister("_record_lines")
    con.executemany(
        "insert into raw.load_columns values (?, ?, ?)", [[load_id, c, i + 1] for i, c in enumerate(header)]
    )
    return con.execute(f"select count(*) from {source.table} where _load_id = ?", [load_id]).fetchall()[0][0]


# --- a batch of files -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One landing file of a batch, as the batch will record it: a new load of its rows, or (`duplicate_of` set) a
    re-delivery of bytes already loaded, recorded and appending nothing."""

    path: Path
    sha256: str
    load_id: str
    loaded_at: datetime
    duplicate_of: str | None = None


# Gives a new load its id and time: (source, file, sha256) -> (load id, loaded at, naive UTC)
LoadIds = Callable[[Source, Path, str], tuple[str, datetime]]


def new_load_id(source: Source, path: Path, sha256: str) -> tuple[str, datetime]:
    """A fresh load id (`<feed>_<UTC time>_<random>`) and the time of the load."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return f"{source.name}_{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}", now


def plan_batch(
    source: Source, files: list[Path], loads: list[tuple[str, str, str, str]], load_ids: LoadIds = new_load_id
) -> list[Delivery]:
    """What a batch does with each landing file, in name order, given the feed's earlier loads (file name, sha256,
    status, load id): a file already recorded under its own name is left out; a file whose exact bytes were loaded
    before, under another name or earlier in this batch, is a re-delivery of that load; any other is a new load.
    Every engine's ingestion (DuckDB here, Spark in `ml/spark_ingest.py`) records the same plan."""
    known = {sha: load_id for _, sha, status, load_id in loads if status == "loaded"}
    seen = {f"{name}:{sha}" for name, sha, _, _ in loads}
    plan = []
    for path in files:
        sha = _sha256(path)
        if f"{path.name}:{sha}" in seen:
            continue  # exactly this file was already processed by an earlier batch
        load_id, loaded_at = load_ids(source, path, sha)
        plan.append(Delivery(path, sha, load_id, loaded_at, known.get(sha)))
        known.setdefault(sha, load_id)
    return plan


def ingest_source(
    con: duckdb.DuckDBPyConnection, source: Source, landing: Path, load_ids: LoadIds = new_load_id
) -> LoadResult:
    """Load every file of `source` from `landing` not yet seen, in name order, in one transaction: each new file
    gets a load id and appends its rows; a file whose exact bytes were already loaded under another name is
    recorded as `skipped_redelivery` (with the rows of the load it repeats) and appends nothing; a file already
    recorded under its own name is ignored (`plan_batch`). Any error rolls the whole batch back."""
    con.execute(source.ddl())
    check_landing(landing)
    files = landing_files(landing)
    for path in files:
        week_of(source, path)  # every name must say its week before anything is loaded
    result = LoadResult()
    with timed(f"ingest_{source.name}", files=len(files)) as facts:
        loads = con.execute("select file_name, file_sha256, status, load_id from raw.loads").fetchall()
        rows_of = dict(con.execute("select load_id, file_rows from raw.loads where status = 'loaded'").fetchall())
        con.execute("begin transaction")
        try:
            for d in plan_batch(source, files, loads, load_ids):
                name = d.path.name
                if d.duplicate_of:
                    con.execute(
                        "insert into raw.loads values (?, ?, ?, ?, ?, 0, 'skipped_redelivery', ?, ?)",
                        [d.load_id, source.name, name, d.sha256, rows_of[d.duplicate_of], d.duplicate_of, d.loaded_at],
                    )
                    result.files_skipped += 1
                    log_event(f"ingest_{source.name}.skipped_redelivery", file=name, duplicate_of=d.duplicate_of)
                    continue
                n = rows_of[d.load_id] = _load_file(con, source, d.path, d.load_id, d.loaded_at)
                con.execute(
                    "insert into raw.loads values (?, ?, ?, ?, ?, ?, 'loaded', null, ?)",
                    [d.load_id, source.name, name, d.sha256, n, n, d.loaded_at],
                )
                result.files_loaded += 1
                result.rows_appended += n
                log_event(f"ingest_{source.name}.file", file=name, rows=n, load_id=d.load_id)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        facts.update(files_loaded=result.files_loaded, files_skipped=result.files_skipped, rows=result.rows_appended)
    return result


def _rows(n: int) -> str:
    return f"{n:,} row{'s' * (n != 1)}"


# --- taking a load back -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retraction:
    """One action on a load, as `raw.load_retractions` records it, with the load it names."""

    load_id: str
    source: str
    file_name: str
    rows: int
    action: str  # retracted | restored
    reason: str | None
    recorded_at: datetime

    def summary(self) -> str:
        what = (
            "its rows are quarantined `retracted_load` from the next build on"
            if self.action == "retracted"
            else "its rows count again from the next build on"
        )
        return (
            f"{self.action} load {self.load_id} ({self.source}: {self.file_name}, {_rows(self.rows)}): {what}; "
            "run `python -m orchestration run` (or `make run`) to rebuild the marts"
        )


# A load as `plan_retraction` reads it: (load id, source, file name, status, rows appended, duplicate of, loaded at)
LoadRow = tuple[str, str, str, str, int, str | None, datetime]


def plan_retraction(
    ref: str,
    loads: list[LoadRow],
    actions: list[tuple[str, str, str | None, datetime]],
    reason: str | None,
    restore: bool = False,
    now: datetime | None = None,
) -> Retraction:
    """The action that retracting (or, `restore`, restoring) `ref` records, given every load and every earlier
    action (load id, action, reason, recorded at). `ref` is a load id, or the name of a file loaded once; an
    `IngestError` says why anything else cannot be: no such load, a name loaded more than once (give the load
    id), a skipped re-delivery (it appended nothing: its original holds the rows), a load already retracted, or
    one that is not retracted to restore. Every engine records the same plan (`retract_load`, and
    `retract_load_spark` in `ml/spark_ingest.py`)."""
    matches = [r for r in loads if r[0] == ref] or [r for r in loads if r[2] == ref]
    if not matches:
        raise IngestError(f"no load has the id or file name {ref!r} (the loads are listed in raw.loads)")
    loaded = [r for r in matches if r[3] == "loaded"]
    if not loaded:
        load_id, _, name, _, _, original, _ = matches[0]
        raise IngestError(
            f"{name} ({load_id}) was a re-delivery of load {original}, and appended no rows: retract {original}"
        )
    if len(loaded) > 1:
        listed = ", ".join(f"{r[0]} (loaded {r[6]:%Y-%m-%d %H:%M:%S})" for r in sorted(loaded, key=lambda r: r[6]))
        raise IngestError(f"{ref} was loaded {len(loaded)} times, with different contents: give the load id: {listed}")
    load_id, source, name, _, rows, _, _ = loaded[0]
    last = max((a for a in actions if a[0] == load_id), key=lambda a: a[3], default=None)
    is_retracted = last is not None and last[1] == "retracted"
    if not restore and is_retracted:
        raise IngestError(f"load {load_id} ({name}) is already retracted, since {last[3]:%Y-%m-%d %H:%M:%S}: {last[2]}")
    if restore and not is_retracted:
        raise IngestError(f"load {load_id} ({name}) is not retracted: there is nothing to restore")
    if not restore and not (reason or "").strip():
        raise IngestError("say why the load is retracted (--reason): the reason is kept with the retraction")
    stamp = now or datetime.now(UTC).replace(tzinfo=None)
    action = "restored" if restore else "retracted"
    return Retraction(load_id, source, name, rows, action, (reason or "").strip() or None, stamp)


LOADS_FOR_RETRACTION = (
    "select load_id, source, file_name, status, rows_appended, duplicate_of_load_id, loaded_at from raw.loads"
)
RETRACTION_ACTIONS = "select load_id, action, reason, recorded_at from raw.load_retractions"


def format_loads(loads: list[LoadRow], actions: list[tuple[str, str, str | None, datetime]], limit: int = 30) -> str:
    """The newest `limit` loads of every feed, one line each, as `python -m ml retract --list` prints them: when,
    feed, file, load id, rows appended, and what became of it: in use, a re-delivery of another load, or retracted
    (since when, and why)."""
    latest: dict[str, tuple[str, str, str | None, datetime]] = {}
    for action in sorted(actions, key=lambda a: a[3]):
        latest[action[0]] = action
    newest = sorted(loads, key=lambda r: r[6], reverse=True)[:limit]
    lines = [f"{len(loads):,} loads; the newest {len(newest):,}, newest first (retract one by file name or load id):"]
    for load_id, source, name, status, rows, original, loaded_at in newest:
        action = latest.get(load_id)
        if status != "loaded":
            state = f"re-delivery of {original}"
        elif action is not None and action[1] == "retracted":
            state = f"retracted {action[3]:%Y-%m-%d %H:%M}: {action[2]}"
        else:
            state = "in use"
        lines.append(f"  {loaded_at:%Y-%m-%d %H:%M:%S}  {source:<11}  {name}  {load_id}  {_rows(rows)}  {state}")
    return "\n".join(lines)


def list_loads(con: duckdb.DuckDBPyConnection, limit: int = 30) -> str:
    """`format_loads` of the DuckDB warehouse."""
    con.execute(LOADS_DDL)
    return format_loads(con.execute(LOADS_FOR_RETRACTION).fetchall(), con.execute(RETRACTION_ACTIONS).fetchall(), limit)


def retract_load(con: duckdb.DuckDBPyConnection, ref: str, reason: str | None, restore: bool = False) -> Retraction:
    """Retract a load of the DuckDB warehouse (or restore it): one row appended to `raw.load_retractions`; its
    rows stay in raw. See `plan_retraction`."""
    con.execute(LOADS_DDL)
    with timed("retract_load", ref=ref, restore=restore) as facts:
        done = plan_retraction(
            ref,
            con.execute(LOADS_FOR_RETRACTION).fetchall(),
            con.execute(RETRACTION_ACTIONS).fetchall(),
            reason,
            restore,
        )
        con.execute(
            "insert into raw.load_retractions values (?, ?, ?, ?)",
            [done.load_id, done.action, done.reason, done.recorded_at],
        )
        facts.update(load_id=done.load_id, action=done.action, file=done.file_name, rows=done.rows)
    return done


# --- every feed, and the generator's ground truth ---------------------------------------------------------------


@dataclass
class Ingested:
    """What one ingestion loaded: a `LoadResult` per feed and the ground-truth rows (0 for a real extract)."""

    feeds: dict[str, LoadResult] = field(default_factory=dict)
    incidents: int = 0
    numbers: int = 0

    def summary(self) -> str:
        parts = [
            f"{name}: {r.files_loaded} files loaded ({r.rows_appended} rows), {r.files_skipped} re-deliveries skipped"
            for name, r in self.feeds.items()
        ]
        return "; ".join(parts) + f"; ground truth: {self.incidents} incidents, {self.numbers} numbers"


def feeds(p: Paths) -> tuple[tuple[Source, Path], ...]:
    """Every feed with its landing folder, in the order a batch loads them (either engine)."""
    return ((API_LOGS, p.landing_api_logs), (CALLS, p.landing_calls), (LABELS, p.landing_call_labels))


def ingest_landing(con: duckdb.DuckDBPyConnection, p: Paths) -> Ingested:
    """Load every feed's new landing files (API logs, weekly calls, labels) and the generator's ground truth."""
    out = Ingested()
    for source, folder in feeds(p):
        out.feeds[source.name] = ingest_source(con, source, folder)
    out.incidents = load_ground_truth(con, p.ground_truth)
    out.numbers = load_calls_ground_truth(con, p.ground_truth)
    return out


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
