"""`python -m ml detect`: the project's SQL detector on any table, without writing a dbt model.

    python -m ml detect INPUT... --time-col TS --value-col V [--series-col C ...] [--grain hour|day]
                        [--agg mean|sum] [--method robust_seasonal|iqr|zscore] [--label-col L] --out OUT.csv
                        [--time-unit auto|s|ms|us|ns|index] [--time-format FMT ...] [--columns C,...]
                        [--flag-missing] [--counts]

The inputs (CSV files, also tab-separated or gzip/zstd compressed, Parquet files, folders of them (every such file
below, other files left out with a word), or `duckdb:PATH::schema.table`;
column names match regardless of case) are read into a scratch DuckDB file, bucketed to the grain (UTC) and put
on a spine per series (a gap is a bucket with no value, not a zero). The detector is
the very macro the marts use (`detect_anomalies`, macros/anomaly/), compiled by dbt against the `detect` target
(an in-memory DuckDB: the warehouse is never opened; the compiled SQL is kept for the next run with the same code)
and run in the scratch file. Rules for messy input:

* several rows in one bucket (duplicate timestamps included) are aggregated with --agg (mean by default);
* an empty value, NaN, +-Infinity or a missing-value word (NA, N/A, #N/A, NULL, None, <NA>, in any case) is a
  missing value; any other non-numeric value is an error naming the file, the column, the row and the value;
  so is a missing column, an unreadable file or an unparseable time;
* numeric times are Unix epochs (seconds; milli-, micro- or nanoseconds when the largest is above 1e11, 1e14 or
  1e17, or as --time-unit says); text times are ISO 8601, converted to UTC when they carry an offset and taken
  as UTC when they do not, whatever the machine's time zone; a date or timestamp column (Parquet, DuckDB) is read
  as it is, and so are typed numbers;
* text times in another form are read with --time-format (a strptime format such as %d/%m/%Y %H:%M; %z for an
  offset); given more than once, the formats are tried in that order and a value takes the first that reads it
  (inputs from several systems in one run);
* numeric times that would all fall before 1971 as Unix seconds are not taken as epochs: whole numbers from 0 up are
  period numbers (a row index, as in Yahoo's S5 files), read at --grain from 1970-01-01T00:00Z, and without
  --grain they are an error, as are fractions (--time-unit says how to read them instead);
* every other column is ignored; the label column (--label-col: numbers, or booleans as 1/0) is never given to
  the detector: it is carried to the output and used only to print the evaluation (docs/anomaly_detection.md)
  after the run.

Output (CSV or Parquet by extension): one row per series and bucket with series_id, bucket_ts (ISO 8601, UTC),
value, expected_value, lower_bound, upper_bound, score, is_anomaly (0/1), direction (up, down, or missing for a
bucket without data, which is not flagged unless --flag-missing), explanation, and label when given.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ml.dbt import dbt_args
from ml.logs import log_event
from ml.settings import PROJECT_DIR

METHODS = ("robust_seasonal", "iqr", "zscore")
SPLIT = "-- @@ sentinel detect split @@"
# the daily defaults (dbt vars) are made for API request counts: log space (ln(1 + value), which a negative value
# leaves undefined and so never judged), bounds floored at zero, the Poisson noise and a minimum absolute change.
# An arbitrary table gets raw values and none of the floors, as hourly data do (anomaly_grain_options)
DAY_OPTIONS_FOR_ANY_TABLE = "{'poisson_floor': false, 'min_abs_change': 0, 'log_transform': false}"


class DetectError(Exception):
    """Bad input or settings, with a message that names the file and the column."""


@dataclass
class DetectConfig:
    inputs: list[str]
    time_col: str
    value_col: str
    out: Path
    series_cols: list[str] = field(default_factory=list)
    grain: str | None = None
    agg: str = "mean"
    method: str = "robust_seasonal"
    label_col: str | None = None
    columns: list[str] | None = None  # names for the columns of header-less CSV files
    flag_missing: bool = False
    counts: bool = False  # day grain: the marts' count settings (log space, zero, Poisson and absolute floors)
    time_unit: str = "auto"  # numeric times: auto, s, ms, us, ns, or index (period numbers at --grain)
    # text times in a strptime format (e.g. %d/%m/%Y %H:%M) instead of ISO 8601; several are tried in order
    time_format: str | list[str] | None = None


@dataclass
class DetectSummary:
    rows_read: int
    series: int
    buckets: int
    flagged: int
    grain: str
    seconds: float
    evaluation: dict[str, dict[str, float]] | None = None


def _say(msg: str) -> None:
    print(msg, flush=True)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


@dataclass
class _Source:
    spec: str
    kind: str  # csv | parquet | duckdb
    path: Path
    table: str | None = None


def _kind(p: Path) -> str | None:
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.removesuffix(".gz").removesuffix(".zst").endswith((".csv", ".tsv", ".txt")):  # DuckDB unpacks them
        return "csv"
    return None


def _sources(inputs: list[str], output: Path) -> list[_Source]:
    out = []
    output = output.resolve()
    for spec in inputs:
        if spec.startswith("duckdb:"):
            path, sep, table = spec[len("duckdb:") :].partition("::")
            if not sep or not table:
                raise DetectError(f"{spec}: a DuckDB input is duckdb:PATH::schema.table")
            out.append(_Source(spec, "duckdb", Path(path), table))
            continue
        p = Path(spec)
        if p.is_dir():  # a folder: every CSV and Parquet file below it, in name order
            # (the output of an earlier run written into the folder is not an input)
            files = sorted(
                f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".") and f.resolve() != output
            )
            found = [_Source(str(f), kind, f) for f in files if (kind := _kind(f))]
            if not found:
                raise DetectError(f"{spec}: a folder with no .csv, .tsv, .txt or .parquet file below it")
            if len(found) < len(files):
                _say(f"      {spec}: {len(files) - len(found)} file(s) below it are not CSV or Parquet, left out")
            out.extend(found)
            continue
        if not p.is_file():
            raise DetectError(f"{spec}: no such file")
        if p.resolve() == output:
            raise DetectError(f"{spec}: this is also the output (--out)")
        kind = _kind(p)
        if kind is None:
            raise DetectError(
                f"{spec}: expected a .csv, .tsv or .txt file (gzip or zstd compressed too), a .parquet file, "
                "a folder of them, or duckdb:PATH::schema.table"
            )
        out.append(_Source(spec, kind, p))
    if not out:
        raise DetectError("no input given")
    return out


def _series_names(sources: list[_Source]) -> dict[str, str]:
    """Without --series-col each input is one series, named by its path relative to the inputs' common parent
    (a DuckDB table: `PATH::schema.table`)."""
    root = Path(os.path.commonpath([str(s.path.resolve().parent) for s in sources]))
    names = {}
    for s in sources:
        rel = str(s.path.resolve().relative_to(root))
        names[s.spec] = f"{rel}::{s.table}" if s.kind == "duckdb" else rel
    return names


def _relation(con: duckdb.DuckDBPyConnection, src: _Source, i: int, columns: list[str] | None) -> str:
    """A temporary table of one input (a CSV's columns as text), in file order, plus its row number."""
    table = f"input_{i}"
    try:
        if src.kind == "csv":
            if columns:
                rel = (
                    f"read_csv({_sql_str(str(src.path))}, header = false, all_varchar = true, "
                    f"names = [{', '.join(_sql_str(c) for c in columns)}])"
                )
            else:
                (has_header,) = con.execute("select HasHeader from sniff_csv(?)", [str(src.path)]).fetchone()
                rel = (
                    f"read_csv({_sql_str(str(src.path))}, header = {str(bool(has_header)).lower()}, all_varchar = true)"
                )
        elif src.kind == "parquet":
            rel = f"read_parquet({_sql_str(str(src.path))})"
        else:
            alias = f"src_{i}"
            con.execute(f"attach {_sql_str(str(src.path))} as {alias} (read_only)")
            rel = f"{alias}.{src.table}"
        # read once into a table: the checks and the insert below scan it six times, a CSV view parsed the file
        # each time (every AIOps file at once, 3.9M rows: 5.0 to 8.2 s instead of 11.8 to 12.4 s)
        con.execute(f"create temp table {table} as select *, row_number() over () as _row from {rel}")
    except duckdb.Error as exc:
        raise DetectError(f"{src.spec}: cannot read it: {str(exc).splitlines()[0][:300]}") from exc
    return table


def _require(con: duckdb.DuckDBPyConnection, table: str, src: _Source, cols: list[str]) -> dict[str, str]:
    """The input's column types by name in lower case (DuckDB matches names regardless of case, so do we); an
    error naming a column of `cols` it does not have."""
    have = con.execute(f"select column_name, column_type from (describe {table})").fetchall()
    types = {name.lower(): typ for name, typ in have}
    for c in cols:
        if c.lower() not in types:
            shown = ", ".join(name for name, _ in have if name != "_row")
            raise DetectError(f"{src.spec}: no column {c!r} (columns: {shown[:300]})")
    return types


def _text(col: str) -> str:
    return f"trim(cast({_ident(col)} as varchar))"


# the words exports write for a missing value (R, SQL clients, pandas), matched regardless of case; NaN and
# Infinity are numbers to DuckDB and become missing where they are used
MISSING_WORDS = ("na", "n/a", "#n/a", "null", "none", "<na>")


def _missing(col: str) -> str:
    """The value of `col` is empty or a missing-value word."""
    words = ", ".join(_sql_str(w) for w in MISSING_WORDS)
    return f"(nullif({_text(col)}, '') is null or lower({_text(col)}) in ({words}))"


# Typed columns (Parquet, DuckDB tables) are read as they are: only text needs the checks and casts below, and
# a round trip through text cost 4.8 of the 5.8 s it took to read 4.3M rows of Parquet
NUMBER_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
    "FLOAT", "DOUBLE",
)  # fmt: skip
TIME_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE")


def _is_number(typ: str) -> bool:
    return typ in NUMBER_TYPES or typ.startswith("DECIMAL")


def _typed(what: str, typ: str) -> bool:
    """The value column (`what` = "value") or the label column ("label") holds what it should already: numbers, or
    for a label also booleans. Such a column is cast as it is and needs no check."""
    return _is_number(typ) or (what == "label" and typ == "BOOLEAN")


def _value_expr(col: str, typ: str = "VARCHAR") -> str:
    return f"cast({_ident(col)} as double)" if _typed("value", typ) else f"try_cast({_text(col)} as double)"


def _label_expr(col: str, typ: str = "VARCHAR") -> str:
    """The label as a number: numbers as they are, booleans (a Parquet bool column, true/false text) as 1/0."""
    if _typed("label", typ):
        return f"cast({_ident(col)} as double)"
    return f"coalesce(try_cast({_text(col)} as double), cast(try_cast({_text(col)} as boolean) as double))"


def _bad_rows(con: duckdb.DuckDBPyConnection, table: str, col: str, condition: str) -> tuple[int, list]:
    """How many rows of an input meet `condition` (a defect), and the first three: (row number, text of col)."""
    rows = con.execute(
        f"select _row, {_text(col)}, count(*) over () from {table} where {condition} order by _row limit 3"
    ).fetchall()
    return (rows[0][2] if rows else 0), [(r, v) for r, v, _ in rows]


def _examples(rows: list) -> str:
    return ", ".join(f"row {r} {v[:40]!r}" for r, v in rows)


def _unreadable(col: str, what: str, typ: str) -> str | None:
    """The condition of a value of the value column (`what` = "value") or the label column ("label") that cannot be
    read: neither empty nor a missing-value word, and no number (or, for a label, true/false); None for a typed
    column, which holds nothing else."""
    if _typed(what, typ):
        return None
    parsed = _label_expr(col) if what == "label" else _value_expr(col)
    return f"not {_missing(col)} and {parsed} is null"


def _typed_time(typ: str) -> bool:
    """The time column holds times or numbers, not text."""
    return typ in TIME_TYPES or _is_number(typ)


def _time_text(col: str, typ: str) -> str:
    """The time column as the reader sees it: as it is when it is typed, else as text."""
    return _ident(col) if _typed_time(typ) else _text(col)


def _time_empty(col: str, typ: str) -> str:
    return f"{_ident(col)} is null" if _typed_time(typ) else f"nullif({_text(col)}, '') is null"


def _time_number(col: str, typ: str) -> str:
    return f"try_cast({_time_text(col, typ)} as double)"


def _scan(con: duckdb.DuckDBPyConnection, table: str, cfg: DetectConfig, types: dict[str, str]) -> dict:
    """What the checks need, in one pass over an input (they took one pass each: 5.5 s to read every AIOps file):
    the rows of the value and label columns that cannot be read, the empty times, and whether the times are
    numbers (their count, range and whole numbers) when they may be."""
    typ = types[cfg.time_col.lower()]
    aggs = {"time_empty": f"count(*) filter ({_time_empty(cfg.time_col, typ)})"}
    for what, col in (("value", cfg.value_col), ("label", cfg.label_col)):
        if col and (bad := _unreadable(col, what, types[col.lower()])):
            aggs[what] = f"count(*) filter ({bad})"
    if typ not in TIME_TYPES and not cfg.time_format:  # the times may be numbers: _time_expr reads the profile
        num = _time_number(cfg.time_col, typ)
        aggs |= {
            "n_num": f"count({num})",
            "n_all": "count(*)",
            "min": f"min({num})",
            "max": f"max({num})",
            "n_whole": f"count(*) filter ({num} = floor({num}))",
        }
    row = con.execute(f"select {', '.join(aggs.values())} from {table}").fetchone()
    return dict(zip(aggs, row, strict=True))


def _check_values(
    con: duckdb.DuckDBPyConnection, table: str, src: _Source, col: str, what: str, typ: str, n_bad: int
) -> None:
    """An error naming the first rows of the value or label column that cannot be read, when there are (n_bad)."""
    if not n_bad:
        return
    problem = "value(s) that are neither numbers nor true/false" if what == "label" else "non-numeric value(s)"
    _, rows = _bad_rows(con, table, col, _unreadable(col, what, typ))
    hint = ""
    if all(re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", v) for _, v in rows):
        hint = " (thousands separators? the reader takes plain numbers: 12841.5, not 12,841.5)"
    elif all(re.fullmatch(r"[+-]?\d+,\d+", v) for _, v in rows):
        hint = " (decimal commas? the reader takes a point: 1.5, not 1,5)"
    raise DetectError(f"{src.spec}: column {col!r} ({what}) has {n_bad} {problem}: {_examples(rows)}{hint}")


EPOCH_UNITS = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))  # (largest value above, units per second): ns, us, ms
TIME_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}  # --time-unit: units per second
GRAIN_SECONDS = {"hour": 3600, "day": 86400}
FIRST_YEAR = 365 * 86400  # 1971-01-01 as Unix seconds: real times below it are taken for something else


def _epoch(c: str, per_second: float) -> str:
    """`c` as a count of 1 / per_second seconds since 1970-01-01T00:00Z (per_second < 1: periods longer)."""
    return f"cast(to_timestamp(cast({c} as double) / {per_second!r}) at time zone 'UTC' as timestamp)"


def _time_expr(
    con: duckdb.DuckDBPyConnection, table: str, src: _Source, col: str, cfg: DetectConfig, typ: str, scan: dict
) -> tuple[str, bool]:
    """A UTC timestamp expression for the time column (a date or timestamp column, epoch numbers, period numbers,
    ISO 8601 text or text in cfg.time_format), and whether the column was read as period numbers."""
    c, unit, grain = _time_text(col, typ), cfg.time_unit, cfg.grain
    if scan["time_empty"]:
        _, rows = _bad_rows(con, table, col, _time_empty(col, typ))
        raise DetectError(
            f"{src.spec}: column {col!r} (time) is empty in {scan['time_empty']} row(s), first at row {rows[0][0]}"
        )
    if typ in TIME_TYPES:
        # a time as it is (--time-format and --time-unit are for text and numbers); without an offset, UTC
        return f"cast(cast({c} as timestamptz) at time zone 'UTC' as timestamp)", False
    if cfg.time_format:
        formats = [cfg.time_format] if isinstance(cfg.time_format, str) else cfg.time_format
        # a value takes the first format that reads it. Not DuckDB's own list form, try_strptime(c, [f1, f2]):
        # in DuckDB 2.0.0 an offset (%z) read on one row is applied to the next row read by a format without one
        # (test_several_time_formats_are_tried_in_order)
        parse = ", ".join(f"cast(try_strptime({c}, {_sql_str(f)}) as timestamptz)" for f in formats)
        return _parsed_times(con, table, src, col, f"coalesce({parse})"), False
    num = _time_number(col, typ)
    n_num, n_all, mn, mx, n_whole = (scan[k] for k in ("n_num", "n_all", "min", "max", "n_whole"))
    numeric = bool(n_all) and n_num == n_all
    if unit != "auto" and not numeric:
        _, rows = _bad_rows(con, table, col, f"{num} is null")
        raise DetectError(f"{src.spec}: column {col!r} (time) has values that are not numbers: {_examples(rows)}")
    if unit in TIME_UNITS:
        return _epoch(c, TIME_UNITS[unit]), False
    shown = f"numbers from {mn:g} to {mx:g}" if numeric else ""
    if unit == "index" or (numeric and mx < FIRST_YEAR and n_whole == n_all and mn >= 0):
        # a row index, not a time: the periods carry no unit, so the grain must be given
        if grain is None:
            raise DetectError(
                f"{src.spec}: column {col!r} (time) holds {shown}, which look like period numbers, not Unix times "
                "(as seconds they would all fall in 1970): say what they count with --grain hour or --grain day, "
                "or read them as Unix times with --time-unit s (or ms, us, ns)"
            )
        if n_whole != n_all:
            raise DetectError(f"{src.spec}: column {col!r} (time): --time-unit index needs whole numbers, not {shown}")
        return _epoch(c, 1 / GRAIN_SECONDS[grain]), True
    if numeric:
        if mx < FIRST_YEAR:
            raise DetectError(
                f"{src.spec}: column {col!r} (time) holds {shown}: as Unix seconds they would all fall before 1971; "
                "say how to read them with --time-unit (s, ms, us, ns, or index for period numbers)"
            )
        # the unit from the magnitude: seconds below 1e11 (the year 5138), else milli-, micro- or nanoseconds
        return _epoch(c, next((per for limit, per in EPOCH_UNITS if mx > limit), 1.0)), False
    return _parsed_times(con, table, src, col, f"try_cast({c} as timestamptz)"), False


def _parsed_times(con: duckdb.DuckDBPyConnection, table: str, src: _Source, col: str, parse: str) -> str:
    """`parse` (text to a timestamp, null where it fails) in UTC; an error naming the first rows it fails on.
    A time without an offset is UTC: the connection's TimeZone is."""
    parsed = f"cast(cast({parse} as timestamptz) at time zone 'UTC' as timestamp)"
    try:
        n, rows = _bad_rows(con, table, col, f"{parsed} is null")
    except duckdb.Error as exc:  # a format DuckDB cannot read
        raise DetectError(f"--time-format: {str(exc).splitlines()[0][:200]}") from exc
    if n:
        raise DetectError(f"{src.spec}: column {col!r} (time) has values that are not times: {_examples(rows)}")
    return parsed


def load_points(con: duckdb.DuckDBPyConnection, cfg: DetectConfig) -> tuple[int, int]:
    """Every input into one table `points(series_id, ts, value, label)`; returns the rows and the inputs read (a
    folder counts its files)."""
    sources = _sources(cfg.inputs, cfg.out)
    names = _series_names(sources)
    if cfg.time_unit not in ("auto", "index", *TIME_UNITS):
        raise DetectError(f"--time-unit must be one of auto, {', '.join(TIME_UNITS)}, index")
    if cfg.time_format and cfg.time_unit != "auto":
        raise DetectError("--time-format reads text times and --time-unit numbers: give one of them")
    con.execute("create or replace table points (series_id varchar, ts timestamp, value double, label double)")
    as_periods = 0
    for i, src in enumerate(sources):
        table = _relation(con, src, i, cfg.columns)
        needed = [cfg.time_col, cfg.value_col, *cfg.series_cols, *([cfg.label_col] if cfg.label_col else [])]
        types = _require(con, table, src, needed)
        value_type, time_type = types[cfg.value_col.lower()], types[cfg.time_col.lower()]
        label_type = types[cfg.label_col.lower()] if cfg.label_col else "VARCHAR"
        scan = _scan(con, table, cfg, types)
        _check_values(con, table, src, cfg.value_col, "value", value_type, scan.get("value", 0))
        if cfg.label_col:
            _check_values(con, table, src, cfg.label_col, "label", label_type, scan.get("label", 0))
        ts, periods = _time_expr(con, table, src, cfg.time_col, cfg, time_type, scan)
        as_periods += periods
        series = (
            "concat_ws('/', " + ", ".join(f"coalesce(cast({_ident(c)} as varchar), '')" for c in cfg.series_cols) + ")"
            if cfg.series_cols
            else _sql_str(names[src.spec])
        )
        value = _value_expr(cfg.value_col, value_type)
        label = _label_expr(cfg.label_col, label_type) if cfg.label_col else "null"
        con.execute(
            f"insert into points select {series}, {ts}, case when isfinite({value}) then {value} end, {label} "
            f"from {table}"
        )
        con.execute(f"drop table {table}")  # one input's text in memory at a time
    (n,) = con.execute("select count(*) from points").fetchone()
    if n == 0:
        raise DetectError("the inputs hold no rows")
    if as_periods:
        _say(
            f"      {cfg.time_col!r} of {as_periods} input(s) read as {cfg.grain} numbers from 1970-01-01T00:00Z "
            "(period numbers, not Unix times; --time-unit s reads them as seconds)"
        )
    return n, len(sources)


def choose_grain(con: duckdb.DuckDBPyConnection) -> str:
    """hour when the typical step between a series' timestamps is under a day, else day."""
    (step,) = con.execute(
        "select median(epoch(ts) - epoch(prev)) from (select ts, lag(ts) over (partition by series_id order by ts) "
        "as prev from (select distinct series_id, ts from points)) where prev is not null"
    ).fetchone()
    return "hour" if step is not None and step < 86400 else "day"


def bucket(con: duckdb.DuckDBPyConnection, grain: str, agg: str) -> int:
    """`detect_input(series_id, bucket_ts, value, label)`: one row per series and bucket on a spine. A bucket's
    rows are added in time order (then value), so every run gives the same last bit whatever order the threads
    meet them in (test_the_same_input_gives_the_same_buckets_every_run)."""
    fn = {"mean": "avg", "sum": "sum"}[agg]
    step = "interval 1 hour" if grain == "hour" else "interval 1 day"
    con.execute(
        f"""
        create or replace table detect_input as
        with bucketed as (
            select series_id, date_trunc('{grain}', ts) as bucket_ts, {fn}(value order by ts, value) as value,
                   max(case when label > 0 then 1 else 0 end) as label
            from points group by series_id, date_trunc('{grain}', ts)
        ),
        spine as (
            select series_id, unnest(range(min(bucket_ts), max(bucket_ts) + {step}, {step})) as bucket_ts
            from bucketed group by series_id
        )
        select spine.series_id, spine.bucket_ts, bucketed.value, coalesce(bucketed.label, 0) as label
        from spine left join bucketed using (series_id, bucket_ts)
        """
    )
    (n,) = con.execute("select count(*) from detect_input").fetchone()
    return n


# what the compiled SQL depends on besides the inline call: the macros (the generic tests' folder holds macros too)
# and the project's vars and dispatch settings; dbt's and the adapter's versions are added to the key
COMPILE_INPUTS = ("macros", "tests/generic", "dbt_project.yml", "profiles.yml")


def _compile_key(inline: str, project_dir: Path = PROJECT_DIR) -> str:
    """A digest of everything the detector's compiled SQL depends on: the inline call, every file dbt reads macros
    and vars from (path and bytes), and the versions of dbt-core and dbt-duckdb."""
    from importlib.metadata import version

    digest = hashlib.sha256(f"{inline}\0{version('dbt-core')}\0{version('dbt-duckdb')}".encode())
    for name in COMPILE_INPUTS:
        top = project_dir / name
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file():
                digest.update(b"\0" + path.relative_to(project_dir).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@functools.cache
def compile_sql(method: str, grain: str, counts: bool, evaluate: bool) -> tuple[str, str | None, int, int]:
    """(detector SQL over `detect_input`, scoring SQL over `detect_scored` or None, warm-up periods, shortest
    series scored), compiled by dbt from the project's macros against the in-memory `detect` target. The result is
    kept in target/detect/sql_cache, keyed by `_compile_key`, so the next run with the same code skips dbt (about
    3 s); any change of a macro, a var or dbt's version is another key."""
    options = DAY_OPTIONS_FOR_ANY_TABLE if grain == "day" and not counts else f"anomaly_grain_options('{grain}')"
    inline = (
        f"{{% set o = {options} %}}{{% set n = anomaly_window_periods('{method}', o) %}}"
        f"{{{{ n }}}} {{{{ evaluation_min_series_periods('{grain}', n) }}}}\n{SPLIT}\n"
        f"{{{{ detect_anomalies('detect_input', series_cols=['series_id'], time_col='bucket_ts', value_col='value', "
        f"method='{method}', options=o) }}}}"
    )
    if evaluate:
        inline += f"\n{SPLIT}\n{{{{ score_detections('detect_scored') }}}}"
    # its own target path: the parse is reused from one call to the next, whatever SENTINEL_HOME is
    work = PROJECT_DIR / "target" / "detect"
    cached = work / "sql_cache" / f"{_compile_key(inline)}.sql"
    if cached.is_file():
        return _split_compiled(cached.read_text(), evaluate)
    from dbt.cli.main import dbtRunner

    args = dbt_args(
        "compile",
        "--inline",
        inline,
        "--log-level",
        "none",
        target="detect",
        target_path=work,
        log_path=work / "logs",
        quiet=True,
    )
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".lock", "w") as lock:  # two detects at once would write the same manifest: one at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        res = dbtRunner().invoke(args)
    if not res.success:
        raise DetectError(f"dbt could not compile the detector: {res.exception or 'see the dbt log'}")
    code = res.result.results[0].node.compiled_code
    cached.parent.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=cached.parent, suffix=".tmp", delete=False) as tmp:
        tmp.write(code)
    os.replace(tmp.name, cached)  # whole or not at all, for a run beside this one
    return _split_compiled(code, evaluate)


def _split_compiled(code: str, evaluate: bool) -> tuple[str, str | None, int, int]:
    parts = code.split(SPLIT)
    warmup, min_len = (int(x) for x in parts[0].split())
    return parts[1], (parts[2] if evaluate else None), warmup, min_len


def _evaluate(con: duckdb.DuckDBPyConnection, method: str, warmup: int, min_len: int, score_sql: str) -> dict:
    """The run's flags against the label column, scored as the evaluation marts score (score_detections)."""
    con.execute(
        f"""
        create or replace table detect_scored as
        with indexed as (
            select *, row_number() over (partition by series_id order by bucket_ts) as bucket_index,
                   count(*) over (partition by series_id) as series_periods
            from detected_out
        )
        select 'input' as dataset, d.detector, series_id as series_key, 'total' as series_level, bucket_index,
               case d.detector when 'always' then value is not null else is_anomaly = 1 end as is_flagged,
               label = 1 as is_labelled, case when label = 1 then 'labelled' end as event_type
        from indexed cross join (select '{method}' as detector union all select 'always') as d
        where bucket_index > {warmup} and series_periods >= {min_len}
        """
    )
    df = con.execute(f"select * from ({score_sql}) where event_type = 'all'").df()
    return {r["detector"]: r for r in df.to_dict("records")}


def run_detect(cfg: DetectConfig, scratch: Path | None = None) -> DetectSummary:
    if cfg.method not in METHODS:
        raise DetectError(f"--method must be one of {', '.join(METHODS)}")
    if cfg.out.suffix.lower() not in (".csv", ".parquet"):
        raise DetectError(f"{cfg.out}: the output must end in .csv or .parquet")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sentinel_detect_") as tmp:
        db = scratch or Path(tmp) / "detect.duckdb"
        con = duckdb.connect(str(db))
        try:
            # times without an offset are UTC, not the machine's zone (DuckDB's default for text cast to timestamptz)
            con.execute("set TimeZone = 'UTC'")
            return _run(con, cfg, t0)
        finally:
            con.close()


def _run(con: duckdb.DuckDBPyConnection, cfg: DetectConfig, t0: float) -> DetectSummary:
    n_rows, n_inputs = load_points(con, cfg)
    grain = cfg.grain or choose_grain(con)
    _say(f"[1/4] read {n_rows:,} rows from {n_inputs:,} input(s) ({time.perf_counter() - t0:.1f} s)")
    n_buckets = bucket(con, grain, cfg.agg)
    (n_series, n_empty) = con.execute(
        "select count(distinct series_id), count(*) filter (where value is null) from detect_input"
    ).fetchone()
    empty = n_empty / max(n_buckets, 1)
    _say(
        f"[2/4] {n_series:,} series on {n_buckets:,} {grain} buckets ({cfg.agg} per bucket; "
        f"{100 * empty:.1f} % without a value)"
    )
    if empty > 0.5:  # weekly data at day grain, or a few points an hour apart: the windows see mostly gaps
        _say(f"      more than half the buckets are empty: is the data coarser than the {grain} grain (--grain)?")
    detect_sql, score_sql, warmup, min_len = compile_sql(cfg.method, grain, cfg.counts, evaluate=bool(cfg.label_col))
    t1 = time.perf_counter()
    flagged_dirs = "('up', 'down', 'missing')" if cfg.flag_missing else "('up', 'down')"
    con.execute(
        f"""
        create or replace table detected_out as
        select d.series_id, d.period_ts as bucket_ts, d.value, d.expected_value, d.lower_bound, d.upper_bound,
               d.score, case when d.direction in {flagged_dirs} then 1 else 0 end as is_anomaly, d.direction,
               d.explanation, i.label
        from ({detect_sql}) as d
        inner join detect_input as i on d.series_id = i.series_id and d.period_ts = i.bucket_ts
        """
    )
    (flagged,) = con.execute("select coalesce(sum(is_anomaly), 0) from detected_out").fetchone()
    _say(
        f"[3/4] {cfg.method} at {grain} grain: {flagged:,} flagged buckets of {n_buckets:,} "
        f"({100 * flagged / max(n_buckets, 1):.2f} %) in {time.perf_counter() - t1:.1f} s"
    )
    _write(con, cfg)
    _say(f"[4/4] wrote {cfg.out}")
    summary = DetectSummary(n_rows, n_series, n_buckets, int(flagged), grain, time.perf_counter() - t0)
    if cfg.label_col and score_sql:
        summary.evaluation = _evaluate(con, cfg.method, warmup, min_len, score_sql)
        for det, r in summary.evaluation.items():
            _say(
                f"      vs {cfg.label_col} ({det}): {int(r['n_series'])} series after a {warmup}-bucket warm-up, "
                f"{int(r['n_events'])} events, {int(r['events_detected'])} detected, {int(r['false_alarms'])} "
                f"false-alarm runs; Fc {r['fc']:.3f}, event F1 {r['event_f1']:.3f}, flag rate "
                f"{100 * r['flag_rate']:.2f} %"
            )
    log_event(
        "detect.done",
        method=cfg.method,
        grain=grain,
        rows=n_rows,
        series=n_series,
        buckets=n_buckets,
        flagged=int(flagged),
        seconds=round(summary.seconds, 3),
        out=str(cfg.out),
    )
    return summary


def _write(con: duckdb.DuckDBPyConnection, cfg: DetectConfig) -> None:
    cols = (
        "series_id, {ts}, value, expected_value, lower_bound, upper_bound, score, is_anomaly, direction, explanation"
        + (", label" if cfg.label_col else "")
    )
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    if cfg.out.suffix.lower() == ".csv":
        select = cols.format(ts="strftime(bucket_ts, '%Y-%m-%dT%H:%M:%SZ') as bucket_ts")
        fmt = "format csv, header true"
    else:
        select = cols.format(ts="bucket_ts")
        fmt = "format parquet"
    con.execute(
        f"copy (select {select} from detected_out order by series_id, detected_out.bucket_ts) "
        f"to {_sql_str(str(cfg.out))} ({fmt})"
    )
