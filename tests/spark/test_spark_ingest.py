"""Ingestion on Spark (`ml/spark_ingest.py`) against ingestion on DuckDB (`ml/ingest.py`), on a real local Spark
session: `make spark-test` runs these after the project's build on Spark (they need PySpark and Java, which
`make test` does not install).

Each case loads the same landing folder with both engines (Spark with the load ids DuckDB gave) and requires every
raw table to hold the same rows: values as delivered, files, physical lines, load ids, re-deliveries, headers.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from ml.contracts import CALL_COLUMNS, LABEL_COLUMNS
from ml.errors import IngestError
from ml.ingest import ingest_landing, retract_load
from ml.settings import Paths
from ml.spark import session
from ml.spark_ingest import RAW_TABLES, ingest_landing_spark, list_loads_spark, replayed_load_ids, retract_load_spark

API_HEADER = "date,country,os,count"
CALL_ROW = "1000000001,IN,10,5,900,6,2,2,8,2,5,5"


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory):
    return session(Paths(tmp_path_factory.mktemp("spark-home")))


@pytest.fixture
def home(tmp_path: Path, spark) -> Paths:
    """A state with empty landing folders, and Spark's raw tables dropped (the session is shared)."""
    for table in RAW_TABLES:
        spark.sql(f"drop table if exists {table}")
    p = Paths(tmp_path)
    for folder in (p.landing_api_logs, p.landing_calls, p.landing_call_labels):
        folder.mkdir(parents=True)
    return p


def _write(folder: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _both(p: Paths, spark) -> None:
    """Ingest the landing with DuckDB, then with Spark (DuckDB's load ids), and require equal raw tables."""
    with duckdb.connect(str(p.warehouse)) as con:
        ingest_landing(con, p)
    ingest_landing_spark(p, spark, replayed_load_ids(p.warehouse))
    with duckdb.connect(str(p.warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        for table in RAW_TABLES:
            duck_columns = [r[0] for r in con.execute(f"describe {table}").fetchall()]
            s = spark.table(table)
            assert s.columns == duck_columns, table  # the same columns, in the same order
            arrow = s.toArrow()  # noqa: F841 (read by name below)
            # Spark's timestamps are instants: as DuckDB's naive UTC for the comparison
            cols = ", ".join(
                f"cast({c} as timestamp) as {c}" if f.type.__class__.__name__ == "TimestampType" else f'"{c}"'
                for c, f in zip(duck_columns, arrow.schema, strict=True)
            )
            spark_rows = f"select {cols} from arrow"
            for a, b in ((f"select * from {table}", spark_rows), (spark_rows, f"select * from {table}")):
                extra = con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0]
                assert extra == 0, f"{table}: {extra} rows differ"


def test_every_raw_table_matches_duckdb_edge_cases_included(home: Paths, spark) -> None:
    api = home.landing_api_logs
    _write(api, "api_requests_2024-04-01.csv", [API_HEADER, "2024-04-01,IN,Android,100", "2024-04-01,in ,ios,n/a"])
    # blank lines between records (physical lines are kept), an empty field, a quoted comma and quote
    odd = [API_HEADER, "", "2024-04-02,US,,7", "", "", '2024-04-02,"A, ""B""",ios,']
    _write(api, "api_requests_2024-04-02.csv", odd)
    # a byte-order mark, Windows line ends, an upper-case extension
    bom = b"\xef\xbb\xbf" + f"{API_HEADER}\r\n2024-04-03,BR,ios,5\r\n".encode()
    (api / "api_requests_2024-04-03.CSV").write_bytes(bom)
    shutil.copy(api / "api_requests_2024-04-01.csv", api / "api_requests_2024-04-01_resent.csv")  # a re-delivery
    # gzipped, with a byte-order mark and blank lines: Spark unpacks it by its suffix, in one piece
    packed = "\ufeff" + "\n".join([API_HEADER, "2024-04-06,IN,ios,4", "", "2024-04-06,US,ios,8", ""]) + "\n"
    (api / "api_requests_2024-04-06.csv.gz").write_bytes(gzip.compress(packed.encode()))
    # a name Spark's file URI percent-encodes (it read as another name, and the file's rows were lost)
    _write(api, "api_requests 2024-04-05 (v+1)%20é.csv", [API_HEADER, "2024-04-05,IN,ios,3"])
    calls = home.landing_calls
    _write(calls, "calls_2024-03-04.csv", [",".join(CALL_COLUMNS), CALL_ROW])
    # a new column in the second week: added at the end of raw, as text; older rows keep null there
    evolved = [",".join((*CALL_COLUMNS, "manual_spam_count")), CALL_ROW + ",3", CALL_ROW + ","]
    _write(calls, "calls_2024-03-11.csv", evolved)
    labels = [",".join(LABEL_COLUMNS), "1000000001,2024-03-04,spam,user,"]
    _write(home.landing_call_labels, "labels_2024-03-11.csv", labels)
    _both(home, spark)
    assert spark.table("raw.calls_weekly").columns[-1] == "manual_spam_count"
    lines = spark.sql("select _line_number from raw.api_requests where _file_name like '%04-02%' order by 1").collect()
    assert [r[0] for r in lines] == [3, 6]
    # a later batch: only the new file is loaded, on either engine
    _write(api, "api_requests_2024-04-04.csv", [API_HEADER, "2024-04-04,IN,Android,90"])
    _both(home, spark)
    assert spark.table("raw.loads").where("status = 'skipped_redelivery'").count() == 1
    assert spark.table("raw.loads").count() == 10  # 7 API files, 2 call weeks, 1 label file
    packed_lines = spark.sql("select _line_number from raw.api_requests where _file_name like '%.gz' order by 1")
    assert [r[0] for r in packed_lines.collect()] == [2, 4]
    odd_name = spark.table("raw.api_requests").where("_file_name = 'api_requests 2024-04-05 (v+1)%20é.csv'")
    assert odd_name.count() == 1


def test_line_numbers_stay_true_when_spark_splits_a_file_into_many_byte_ranges(home: Paths, spark) -> None:
    """Spark reads a large file in byte ranges, in parallel; each row's line must still be its physical line."""
    rows = [f"2024-04-01,C{i:04d},ios,{i}" + ("\n" if i % 97 == 0 else "") for i in range(3000)]
    _write(home.landing_api_logs, "api_requests_2024-04-01.csv", [API_HEADER, *rows])
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")  # about 100 KB: some 25 ranges
    try:
        _both(home, spark)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    got = spark.sql("select count(*), max(_line_number) from raw.api_requests").first()
    assert tuple(got) == (3000, 3000 + 1 + 3000 // 97 + 1)


@pytest.mark.parametrize(
    ("bad_name", "bad_bytes", "message"),
    [
        ("b_long.csv", f"{API_HEADER}\n2024-04-01,IN,ios,1\n2024-04-01,IN,ios,1,9\n".encode(), "line 3: has 5 fields"),
        ("b_short.csv", f"{API_HEADER}\n\n2024-04-01,IN\n".encode(), "line 3: has 2 fields, expected 4"),
        ("b_latin1.csv", f"{API_HEADER}\n2024-04-01,Côte,ios,1\n".encode("latin-1"), "not UTF-8 text near byte"),
        ("b_header.csv", b"day,country,os,requests\n2024-04-01,IN,ios,1\n", "line 1: missing required column"),
    ],
)
def test_a_bad_file_names_its_line_and_nothing_of_the_batch_is_loaded(home: Paths, spark, bad_name, bad_bytes, message):
    _write(home.landing_api_logs, "a_good.csv", [API_HEADER, "2024-04-01,IN,Android,100"])
    (home.landing_api_logs / bad_name).write_bytes(bad_bytes)
    with pytest.raises(IngestError, match=rf"{bad_name.replace('.', '[.]')}: .*{message}"):
        ingest_landing_spark(home, spark)
    assert spark.table("raw.api_requests").count() == 0
    assert spark.table("raw.loads").count() == 0
    assert spark.table("raw.load_columns").count() == 0
    assert not spark.catalog.tableExists("raw._staged_api_logs")  # the staging table goes too


def test_a_load_is_retracted_and_restored_on_spark_as_on_duckdb(home: Paths, spark) -> None:
    """`python -m ml retract --engine spark`: the same plan as on DuckDB, one row in Spark's raw.load_retractions."""
    spark.sql("drop table if exists raw.load_retractions")
    _write(home.landing_api_logs, "api_requests_2024-04-01.csv", [API_HEADER, "2024-04-01,IN,Android,100"])
    _both(home, spark)
    done = retract_load_spark(spark, "api_requests_2024-04-01.csv", "a test file")
    with duckdb.connect(str(home.warehouse)) as con:
        duck = retract_load(con, "api_requests_2024-04-01.csv", "a test file")
    assert (done.load_id, done.action, done.rows) == (duck.load_id, "retracted", 1)
    with pytest.raises(IngestError, match="already retracted.*a test file"):
        retract_load_spark(spark, done.load_id, "again")
    assert (
        list_loads_spark(spark)
        .splitlines()[1]
        .endswith(f"{done.load_id}  1 row  retracted {done.recorded_at:%Y-%m-%d %H:%M}: a test file")
    )
    assert retract_load_spark(spark, done.load_id, None, restore=True).action == "restored"
    rows = spark.sql("select load_id, action, reason from raw.load_retractions order by recorded_at").collect()
    assert [tuple(r) for r in rows] == [(done.load_id, "retracted", "a test file"), (done.load_id, "restored", None)]
    assert spark.table("raw.api_requests").count() == 1  # nothing deleted
