from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from ml.errors import IngestError
from ml.ingest import API_LOGS, ingest_source, list_loads, retract_load

HEADER = "date,country,os,count\n"


def ingest_api_logs(con: duckdb.DuckDBPyConnection, landing: Path):
    return ingest_source(con, API_LOGS, landing)


def _write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(body)
    return p


def test_rows_are_traceable_and_redelivery_is_not_counted_twice(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _write(landing, "api_requests_2024-04-01.csv", HEADER + "2024-04-01,IN,Android,100\n2024-04-01,in ,ios,n/a\n")
    con = duckdb.connect()
    first = ingest_api_logs(con, landing)
    assert (first.files_loaded, first.rows_appended) == (1, 2)
    shutil.copy(landing / "api_requests_2024-04-01.csv", landing / "api_requests_2024-04-01_redelivery.csv")
    second = ingest_api_logs(con, landing)
    assert (second.files_loaded, second.files_skipped, second.rows_appended) == (0, 1, 0)
    assert ingest_api_logs(con, landing).files_skipped == 0  # already recorded, nothing new
    rows = con.execute("select country, count, _file_name, _line_number from raw.api_requests order by 4").fetchall()
    assert rows == [("IN", "100", "api_requests_2024-04-01.csv", 2), ("in ", "n/a", "api_requests_2024-04-01.csv", 3)]
    statuses = con.execute("select status, file_rows, rows_appended from raw.loads order by loaded_at").fetchall()
    assert sorted(statuses) == [("loaded", 2, 2), ("skipped_redelivery", 2, 0)]
    # the loaded file's header is recorded, as for the other feeds (the source-schema monitor compares them)
    header = con.execute(
        "select c.column_name from raw.load_columns c join raw.loads l using (load_id) "
        "where l.status = 'loaded' order by c.ordinal"
    ).fetchall()
    assert [h for (h,) in header] == ["date", "country", "os", "count"]


def test_a_load_is_retracted_by_name_or_id_with_a_reason_and_restored(tmp_path: Path) -> None:
    """`python -m ml retract`: a row in raw.load_retractions, the rows stay in raw; what it cannot name is refused."""
    landing = tmp_path / "landing"
    _write(landing, "api_requests_2024-04-01.csv", HEADER + "2024-04-01,IN,Android,100\n2024-04-01,IN,iOS,7\n")
    con = duckdb.connect()
    ingest_api_logs(con, landing)
    with pytest.raises(IngestError, match="say why"):
        retract_load(con, "api_requests_2024-04-01.csv", reason=" ")
    done = retract_load(con, "api_requests_2024-04-01.csv", reason="a test file")
    assert (done.action, done.file_name, done.rows, done.source) == (
        "retracted",
        "api_requests_2024-04-01.csv",
        2,
        "api_logs",
    )
    assert "quarantined `retracted_load`" in done.summary() and "python -m orchestration run" in done.summary()
    with pytest.raises(IngestError, match="already retracted.*a test file"):
        retract_load(con, done.load_id, reason="again")
    assert con.execute("select count(*) from raw.api_requests").fetchone()[0] == 2  # nothing deleted
    assert retract_load(con, done.load_id, reason=None, restore=True).action == "restored"
    with pytest.raises(IngestError, match="is not retracted"):
        retract_load(con, done.load_id, reason=None, restore=True)
    actions = con.execute("select load_id, action, reason from raw.load_retractions order by recorded_at").fetchall()
    assert actions == [(done.load_id, "retracted", "a test file"), (done.load_id, "restored", None)]
    with pytest.raises(IngestError, match="no load has the id or file name 'nope.csv'"):
        retract_load(con, "nope.csv", reason="x")
    # a re-delivery appended nothing: the load it repeats holds the rows
    shutil.copy(landing / "api_requests_2024-04-01.csv", landing / "api_requests_2024-04-01_again.csv")
    ingest_api_logs(con, landing)
    with pytest.raises(IngestError, match=f"re-delivery of load {done.load_id}.*retract {done.load_id}"):
        retract_load(con, "api_requests_2024-04-01_again.csv", reason="x")
    # --list says which loads are in use, which repeat another, and which are retracted, and why
    retract_load(con, done.load_id, reason="the wrong day")
    listed = list_loads(con).splitlines()
    assert listed[0].startswith("2 loads; the newest 2, newest first")
    assert "api_requests_2024-04-01_again.csv" in listed[1] and f"re-delivery of {done.load_id}" in listed[1]
    assert done.load_id in listed[2] and "2 rows  retracted" in listed[2] and listed[2].endswith(": the wrong day")
    assert len(list_loads(con, limit=1).splitlines()) == 2
    retract_load(con, done.load_id, reason=None, restore=True)
    # a name loaded twice with different contents (a corrected file under the same name): the load id decides
    (landing / "api_requests_2024-04-01_again.csv").unlink()
    _write(landing, "api_requests_2024-04-01.csv", HEADER + "2024-04-01,IN,Android,101\n")
    ingest_api_logs(con, landing)
    with pytest.raises(IngestError, match="loaded 2 times, with different contents: give the load id"):
        retract_load(con, "api_requests_2024-04-01.csv", reason="x")


def test_wrong_header_names_file_and_line_and_loads_nothing(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _write(landing, "a_good.csv", HEADER + "2024-04-01,IN,Android,100\n")
    _write(landing, "b_bad.csv", "day,country,os,requests\n2024-04-01,IN,Android,100\n")
    con = duckdb.connect()
    with pytest.raises(IngestError, match=r"b_bad\.csv: line 1: missing required column\(s\) date, count"):
        ingest_api_logs(con, landing)
    assert con.execute("select count(*) from raw.api_requests").fetchone()[0] == 0
    assert con.execute("select count(*) from raw.loads").fetchone()[0] == 0


def test_a_file_separated_by_semicolons_is_named_as_such(tmp_path: Path) -> None:
    """A spreadsheet's export with a decimal comma separates by ';': the error listed every column as missing."""
    landing = tmp_path / "landing"
    _write(landing, "c_semicolons.csv", "date;country;os;count\n2024-04-01;IN;Android;100\n")
    with pytest.raises(IngestError, match=r"c_semicolons\.csv: line 1: .*holding ';': the files must be comma-sep"):
        ingest_api_logs(duckdb.connect(), landing)
    _write(landing, "c_semicolons.csv", "day,country,os,requests\n")  # a plain wrong header gets no such hint
    with pytest.raises(IngestError, match=r"missing required column\(s\) date, count$"):
        ingest_api_logs(duckdb.connect(), landing)


def test_a_file_that_is_not_csv_is_named_and_the_batch_loads_nothing(tmp_path: Path) -> None:
    """A zipped export was ignored without a word: the folder loaded nothing (or only its CSV files), and
    `make run`, seeing no CSV, generated the reference extract into the user's folder beside it."""
    from ml.ingest import landing_state
    from ml.settings import Paths

    landing = tmp_path / "landing"
    _write(landing, "a_good.csv", HEADER + "2024-04-01,IN,Android,100\n")
    _write(landing, ".DS_Store", "")  # hidden files are not deliveries
    assert ingest_api_logs(duckdb.connect(), landing).rows_appended == 1
    shutil.make_archive(str(landing / "b_export"), "zip", root_dir=landing, base_dir="a_good.csv")
    con = duckdb.connect()
    with pytest.raises(IngestError, match=r"b_export\.zip: not a CSV file; .*gzipped \(\.csv\.gz\): unzip a \.zip"):
        ingest_api_logs(con, landing)
    assert con.execute("select count(*) from raw.loads").fetchone()[0] == 0
    # the landing sensor sees it, so its job runs and says why (a new CSV-only signature would not change)
    paths = Paths(tmp_path)
    paths.landing_api_logs.mkdir(parents=True)
    shutil.copy(landing / "b_export.zip", paths.landing_api_logs)
    assert list(landing_state(paths)["api_logs"]) == ["b_export.zip"]


def test_a_gzipped_export_loads_as_its_plain_twin(tmp_path: Path) -> None:
    """Exports often come gzipped; a `.csv.gz` was refused ("gunzip it first"). It loads the rows, values and
    physical lines its plain twin loads (a byte-order mark, blank lines, a quoted comma), under its own name, and
    a weekly file so named says its week. A .gz that does not unpack is named, and nothing of the batch loads."""
    import gzip

    from ml.contracts import CALL_COLUMNS
    from ml.ingest import CALLS

    body = "\ufeff" + HEADER + '2024-04-01,,Android,100\n\n2024-04-01,IN,,\n\n\n2024-04-02,"A, ""B""",ios,7\n'
    rows = []
    for folder, name, data in (
        ("plain", "api_requests_2024-04-01.csv", body.encode()),
        ("packed", "api_requests_2024-04-01.csv.gz", gzip.compress(body.encode())),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(data)
        con = duckdb.connect()
        ingest_api_logs(con, tmp_path / folder)
        rows.append(con.execute("select * exclude (_load_id, _loaded_at) from raw.api_requests order by 1").fetchall())
    assert [r[:-2] for r in rows[1]] == [r[:-2] for r in rows[0]]
    name = "api_requests_2024-04-01.csv.gz"
    assert [(r[-2], r[-1]) for r in rows[1]] == [(name, 2), (name, 4), (name, 7)]  # the plain file's lines
    assert [r[-1] for r in rows[0]] == [2, 4, 7]
    calls = tmp_path / "calls"
    calls.mkdir()
    row = "1000000001,IN,10,5,900,6,2,2,8,2,5,5"
    (calls / "calls_2024-03-04.csv.gz").write_bytes(gzip.compress(f"{','.join(CALL_COLUMNS)}\n{row}\n".encode()))
    con = duckdb.connect()
    assert ingest_source(con, CALLS, calls).rows_appended == 1
    assert str(con.execute("select _week_start from raw.calls_weekly").fetchone()[0]) == "2024-03-04"
    (tmp_path / "packed" / "b_cut.csv.gz").write_bytes(
        gzip.compress((HEADER + "2024-04-03,IN,ios,1\n" * 500).encode())[:-40]
    )
    (tmp_path / "packed" / "c_plain.csv.gz").write_bytes((HEADER + "2024-04-03,IN,ios,1\n").encode())  # not gzip
    for bad in ("b_cut.csv.gz", "c_plain.csv.gz"):
        con = duckdb.connect()
        with pytest.raises(IngestError, match=rf"{bad.replace('.', '[.]')}: not a readable gzip file"):
            ingest_api_logs(con, tmp_path / "packed")
        assert con.execute("select count(*) from raw.api_requests").fetchone()[0] == 0
        (tmp_path / "packed" / bad).unlink()


def test_unreadable_line_names_file_and_line_and_loads_nothing(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _write(landing, "a_good.csv", HEADER + "2024-04-01,IN,Android,100\n")
    _write(landing, "b_bad.csv", HEADER + "2024-04-01,IN,Android,100\n2024-04-01,IN,iOS\n")
    con = duckdb.connect()
    with pytest.raises(IngestError, match=r"b_bad\.csv: line 3: has 3 fields, expected 4; unreadable"):
        ingest_api_logs(con, landing)
    assert con.execute("select count(*) from raw.api_requests").fetchone()[0] == 0


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "latin1.csv").write_bytes(
        HEADER.encode() + "2024-04-01,CI,Android,1\n2024-04-01,Côte,iOS,2\n".encode("latin-1")
    )
    with pytest.raises(IngestError, match=r"latin1\.csv: not UTF-8 text near byte 58: invalid continuation"):
        ingest_api_logs(duckdb.connect(), landing)


def test_upper_case_extension_and_a_byte_order_mark_are_loaded(tmp_path: Path) -> None:
    """Spreadsheet exports: `.CSV` in upper case (silently ignored before) and a UTF-8 byte-order mark before the
    header (rejected as a wrong header before)."""
    landing = tmp_path / "landing"
    _write(landing, "api_requests_2024-04-01.CSV", HEADER + "2024-04-01,IN,Android,100\n")
    landing.joinpath("api_requests_2024-04-02.csv").write_bytes(
        b"\xef\xbb\xbf" + (HEADER + "2024-04-02,IN,Android,120\n").encode()
    )
    con = duckdb.connect()
    res = ingest_api_logs(con, landing)
    assert (res.files_loaded, res.rows_appended) == (2, 2)
    assert con.execute("select count, _file_name from raw.api_requests order by 2").fetchall() == [
        ("100", "api_requests_2024-04-01.CSV"),
        ("120", "api_requests_2024-04-02.csv"),
    ]


def test_a_huge_wrong_header_gives_a_short_message(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    extra = ",".join(f"c{i}" for i in range(100_000))
    _write(landing, "api_requests_2024-04-01.csv", HEADER.strip() + "," + extra + "\n1\n")
    with pytest.raises(IngestError, match=r"line 1: unexpected column\(s\) c0, c1, .* and 99990 more") as e:
        ingest_api_logs(duckdb.connect(), landing)
    assert len(str(e.value)) < 400  # was 689,000 characters


def test_empty_fields_stay_empty_text_and_lines_count_past_blank_ones(tmp_path: Path) -> None:
    """Raw keeps what was delivered: an empty field is '' (DuckDB's reader would make it null), a blank line
    between records does not shift the line numbers, and a re-delivery records the rows its first load had."""
    landing = tmp_path / "landing"
    _write(landing, "a.csv", HEADER + "2024-04-01,,Android,100\n\n2024-04-01,IN,,\n")
    con = duckdb.connect()
    assert ingest_api_logs(con, landing).rows_appended == 2
    rows = con.execute("select date, country, os, count, _line_number from raw.api_requests order by 5").fetchall()
    assert rows == [("2024-04-01", "", "Android", "100", 2), ("2024-04-01", "IN", "", "", 4)]
    shutil.copy(landing / "a.csv", landing / "b.csv")
    assert ingest_api_logs(con, landing).files_skipped == 1
    assert con.execute("select file_rows from raw.loads order by file_name").fetchall() == [(2,), (2,)]


def test_the_command_line_names_a_bad_file_without_a_stack_trace(tmp_path: Path, monkeypatch, capsys) -> None:
    from ml.__main__ import main

    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    _write(tmp_path / "landing" / "api_logs", "b_bad.csv", HEADER + "2024-04-01,IN\n")
    with pytest.raises(SystemExit, match=r"b_bad\.csv: line 2: has 2 fields, expected 4"):
        main(["ingest"])


def test_ingest_engine_spark_loads_the_spark_warehouse_not_duckdb(tmp_path: Path, monkeypatch, capsys) -> None:
    import ml.spark
    import ml.spark_ingest
    from ml.__main__ import main
    from ml.ingest import Ingested

    loaded = []
    monkeypatch.setenv("SENTINEL_HOME", str(tmp_path))
    monkeypatch.setattr(ml.spark, "session", lambda p: "a Spark session")
    monkeypatch.setattr(ml.spark_ingest, "ingest_landing_spark", lambda p, spark: loaded.append(spark) or Ingested())
    main(["ingest", "--engine", "spark"])
    assert loaded == ["a Spark session"] and "ground truth: 0 incidents" in capsys.readouterr().out
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_benchmark_epochs_are_utc_whatever_the_session_time_zone(tmp_path: Path) -> None:
    """AIOps 2018 times are Unix epochs. They were turned into timestamps in the session's time zone, which DuckDB
    takes from the machine: on a machine in New York every point was five hours early."""
    from ml.anomaly.benchmarks import load_benchmarks

    split = tmp_path / "aiops2018-kpi" / "preliminary_train_split"
    split.mkdir(parents=True)
    (split / "kpi.csv").write_text("0,1.5,0\n1710054000,2.5,1\n")  # 1970-01-01 00:00 and 2024-03-10 07:00 UTC
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'America/New_York'")
        load_benchmarks(con, tmp_path)
        rows = con.execute("select ts, value, label from raw.benchmark_points order by ts").fetchall()
    assert [(str(ts), v, lab) for ts, v, lab in rows] == [
        ("1970-01-01 00:00:00", 1.5, 0),
        ("2024-03-10 07:00:00", 2.5, 1),
    ]
