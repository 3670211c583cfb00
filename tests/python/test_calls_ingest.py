"""Loading weekly call and label files: schema evolution, clear errors, nothing half-loaded, no double counting."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from ml.contracts import CALL_COLUMNS
from ml.errors import IngestError
from ml.ingest import CALLS, LABELS, ingest_source

ROW = "1000000001,IN,10,5,900,6,2,2,8,2,5,5"


def _write(folder: Path, name: str, header: list[str], rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(",".join(header) + "\n" + "".join(r + "\n" for r in rows))
    return p


def test_a_new_source_column_is_added_and_recorded_old_rows_stay_null(tmp_path: Path) -> None:
    """Null in raw says the row's file did not carry the column; an empty field stays the empty text it was."""
    con = duckdb.connect()
    _write(tmp_path, "calls_2024-03-04.csv", list(CALL_COLUMNS), [ROW])
    ingest_source(con, CALLS, tmp_path)
    _write(tmp_path, "calls_2024-03-11.csv", [*CALL_COLUMNS, "manual_spam_count"], [ROW + ",3", ROW + ","])
    res = ingest_source(con, CALLS, tmp_path)
    assert (res.files_loaded, res.rows_appended) == (1, 2)
    rows = con.execute(
        "select _file_name, _line_number, manual_spam_count from raw.calls_weekly order by _file_name, _line_number"
    ).fetchall()
    assert rows == [
        ("calls_2024-03-04.csv", 2, None),
        ("calls_2024-03-11.csv", 2, "3"),
        ("calls_2024-03-11.csv", 3, ""),
    ]
    headers = con.execute(
        "select l.file_name, count(*) from raw.load_columns c join raw.loads l using (load_id) group by 1 order by 1"
    ).fetchall()
    assert headers == [("calls_2024-03-04.csv", 12), ("calls_2024-03-11.csv", 13)]


def test_a_missing_required_column_is_named_and_the_batch_is_rolled_back(tmp_path: Path) -> None:
    con = duckdb.connect()
    _write(tmp_path, "calls_2024-03-04.csv", list(CALL_COLUMNS), [ROW])
    broken = [c for c in CALL_COLUMNS if c != "missed_call_count"]
    _write(tmp_path, "calls_2024-03-11.csv", broken, ["1,IN,1,1,1,1,0,1,0,1,0"])
    with pytest.raises(
        IngestError, match=r"calls_2024-03-11\.csv: line 1: missing required column\(s\) missed_call_count"
    ):
        ingest_source(con, CALLS, tmp_path)
    assert con.execute("select count(*) from raw.calls_weekly").fetchall() == [(0,)]  # the good file too
    assert con.execute("select count(*) from raw.loads").fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("calls_latest.csv", "file name must look like"),
        ("calls_2024-03-05.csv", "named after its Monday; 2024-03-05 is a Tuesday"),
        ("calls_2024-02-30.csv", "is not a date"),
    ],
)
def test_the_file_name_must_say_the_week(tmp_path: Path, name: str, message: str) -> None:
    _write(tmp_path, name, list(CALL_COLUMNS), [ROW])
    with pytest.raises(IngestError, match=message):
        ingest_source(duckdb.connect(), CALLS, tmp_path)


def test_label_files_do_not_evolve_silently_and_redeliveries_are_skipped(tmp_path: Path) -> None:
    con = duckdb.connect()
    header = ["id", "week_start", "label", "label_source", "labelled_at"]
    _write(tmp_path, "labels_2024-03-11.csv", header, ["1000000001,2024-03-04,spam,honeypot,2024-03-12"])
    assert ingest_source(con, LABELS, tmp_path).rows_appended == 1
    shutil.copy(tmp_path / "labels_2024-03-11.csv", tmp_path / "labels_2024-03-18.csv")
    again = ingest_source(con, LABELS, tmp_path)
    assert (again.files_loaded, again.files_skipped, again.rows_appended) == (0, 1, 0)
    _write(tmp_path, "labels_2024-03-25.csv", [*header, "reviewer"], ["1,2024-03-18,spam,honeypot,2024-03-26,bob"])
    with pytest.raises(IngestError, match="unexpected column\\(s\\) reviewer"):
        ingest_source(con, LABELS, tmp_path)


def test_a_ragged_line_is_reported_with_the_file_and_line(tmp_path: Path) -> None:
    """DuckDB's reader says "Error when sniffing file" for a short row, without a line: the message names it."""
    _write(tmp_path, "calls_2024-03-04.csv", list(CALL_COLUMNS), [ROW, ROW, "1000000002,IN,10", ROW])
    with pytest.raises(IngestError, match=r"calls_2024-03-04\.csv: line 4: has 3 fields, expected 12; unreadable"):
        ingest_source(duckdb.connect(), CALLS, tmp_path)


def test_upper_case_extension_and_a_byte_order_mark_are_loaded(tmp_path: Path) -> None:
    """`.CSV` in upper case was silently ignored, and a byte-order mark gave "missing required column id"."""
    con = duckdb.connect()
    _write(tmp_path, "calls_2024-03-04.CSV", list(CALL_COLUMNS), [ROW])
    tmp_path.joinpath("calls_2024-03-11.csv").write_bytes(
        b"\xef\xbb\xbf" + (",".join(CALL_COLUMNS) + "\n" + ROW + "\n").encode()
    )
    res = ingest_source(con, CALLS, tmp_path)
    assert (res.files_loaded, res.rows_appended) == (2, 2)
    rows = con.execute("select _file_name, id from raw.calls_weekly order by 1").fetchall()
    assert rows == [("calls_2024-03-04.CSV", "1000000001"), ("calls_2024-03-11.csv", "1000000001")]


def test_a_keyword_column_is_added_quoted_and_too_many_new_columns_are_refused(tmp_path: Path) -> None:
    """A new column named `select` crashed with a parser error and no file name; 3,000 new columns held the write
    lock for minutes and widened raw for good; a huge header gave a message of hundreds of kilobytes."""
    con = duckdb.connect()
    _write(tmp_path, "calls_2024-03-04.csv", [*CALL_COLUMNS, "select"], [ROW + ",7"])
    assert ingest_source(con, CALLS, tmp_path).rows_appended == 1
    assert con.execute('select "select" from raw.calls_weekly').fetchall() == [("7",)]
    wide = [f"extra_{i}" for i in range(3000)]
    _write(tmp_path, "calls_2024-03-11.csv", [*CALL_COLUMNS, *wide], [ROW + "," * 3000])
    with pytest.raises(IngestError, match=r"calls_2024-03-11\.csv: line 1: 3000 new columns .* at most 10") as err:
        ingest_source(con, CALLS, tmp_path)
    assert len(str(err.value)) < 400 and "and 2990 more" in str(err.value)
    assert "extra_0" not in {r[0] for r in con.execute("describe raw.calls_weekly").fetchall()}  # raw unchanged


def test_line_numbers_stay_true_after_blank_lines(tmp_path: Path) -> None:
    """DuckDB's reader skips blank lines, and the line was the record's order + 1: every row after a blank line
    named the line above its own, so a quarantined row pointed at the wrong line of the file."""
    rows = [ROW, "", ROW.replace("1000000001", "1000000002"), "", "", ROW.replace("1000000001", "1000000003"), ""]
    _write(tmp_path, "calls_2024-03-04.csv", list(CALL_COLUMNS), rows)
    con = duckdb.connect()
    assert ingest_source(con, CALLS, tmp_path).rows_appended == 3
    got = con.execute("select id, _line_number from raw.calls_weekly order by id").fetchall()
    assert got == [("1000000001", 2), ("1000000002", 4), ("1000000003", 7)]
    for line_id, line in got:  # each names the physical line that holds it
        assert (tmp_path / "calls_2024-03-04.csv").read_text().splitlines()[line - 1].startswith(line_id)
