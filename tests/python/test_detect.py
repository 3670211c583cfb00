"""`python -m ml detect`: the SQL detector on any table, its output shape and every bad-input rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.anomaly.benchmarks import aiops_key, nab_key
from ml.anomaly.detect import METHODS, DetectConfig, DetectError, bucket, run_detect
from ml.settings import PROJECT_DIR, benchmarks_dir

OUTPUT_COLUMNS = [
    "series_id",
    "bucket_ts",
    "value",
    "expected_value",
    "lower_bound",
    "upper_bound",
    "score",
    "is_anomaly",
    "direction",
    "explanation",
]


def hourly_frame(days: int = 35, spike_at: int = 24 * 30 + 5, seed: int = 0) -> pd.DataFrame:
    """Five-minute points with a daily cycle, noise and one hour of x6 traffic."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days * 24 * 12, freq="5min")
    hour = ts.hour.to_numpy()
    value = 100 + 40 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 3, len(ts))
    spike = (np.arange(len(ts)) // 12) == spike_at
    value[spike] *= 6
    return pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": value, "label": spike.astype(int)})


def run(tmp_path: Path, inputs: list[Path | str], **kw) -> pd.DataFrame:
    out = tmp_path / kw.pop("out", "out.csv")
    cfg = DetectConfig(
        inputs=[str(i) for i in inputs],
        time_col=kw.pop("time_col", "timestamp"),
        out=out,
        value_col=kw.pop("value_col", "value"),
        **kw,
    )
    run_detect(cfg)
    return pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)


@pytest.fixture(scope="module")
def two_series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("detect_in")
    (root / "group-a").mkdir()
    (root / "group-b").mkdir()
    a, b = root / "group-a" / "series-01.csv", root / "group-b" / "series-02.csv"
    hourly_frame(seed=1).to_csv(a, index=False)
    hourly_frame(seed=2, spike_at=24 * 31).to_csv(b, index=False)
    return a, b


def test_one_row_per_series_and_bucket_named_by_relative_path(tmp_path: Path, two_series) -> None:
    df = run(tmp_path, list(two_series))
    assert list(df.columns) == OUTPUT_COLUMNS
    assert set(df["series_id"]) == {"group-a/series-01.csv", "group-b/series-02.csv"}
    assert df.groupby("series_id").size().tolist() == [35 * 24, 35 * 24]  # 5-minute points -> hour buckets
    assert not df.duplicated(["series_id", "bucket_ts"]).any()
    assert df["bucket_ts"].iloc[0] == "2024-01-01T00:00:00Z"
    flagged = df[df["is_anomaly"] == 1]
    spike = df[(df["series_id"] == "group-a/series-01.csv") & (df["bucket_ts"] == "2024-01-31T05:00:00Z")]
    assert spike["is_anomaly"].item() == 1 and spike["direction"].item() == "up"
    assert spike["value"].item() > spike["upper_bound"].item()
    assert len(flagged) / len(df) < 0.03  # a clean daily cycle is not flagged


def test_a_folder_is_its_csv_and_parquet_files(tmp_path: Path, two_series, capsys) -> None:
    """A folder stands for the data files below it, named as when they are listed one by one; other files are
    left out with a word, and the output of an earlier run written into the folder is not read again."""
    listed = run(tmp_path, list(two_series), out="listed.csv")
    folder = tmp_path / "in"
    for f in two_series:
        (folder / f.parent.name).mkdir(parents=True)
        (folder / f.parent.name / f.name).write_bytes(f.read_bytes())
    (folder / "README.md").write_text("not data")
    for _ in range(2):  # the second run finds the first one's output in the folder
        pd.testing.assert_frame_equal(run(folder, [folder], out="group-a/detected.csv"), listed)
    assert "1 file(s) below it are not CSV or Parquet, left out" in capsys.readouterr().out
    with pytest.raises(DetectError, match="also the output"):
        run(folder, [folder / "group-a" / "detected.csv"], out="group-a/detected.csv")
    (folder / "empty").mkdir()
    with pytest.raises(DetectError, match="a folder with no .csv"):
        run(tmp_path, [folder / "empty"])


def test_label_column_is_carried_but_never_read_by_the_detector(tmp_path: Path, two_series) -> None:
    plain = run(tmp_path, list(two_series), out="plain.csv")
    # the same files with scrambled labels, under the same relative names: the detection must not move
    moved = []
    for f in two_series:
        df = pd.read_csv(f)
        df["label"] = np.random.default_rng(5).integers(0, 2, len(df))
        (tmp_path / f.parent.name).mkdir()
        df.to_csv(tmp_path / f.parent.name / f.name, index=False)
        moved.append(tmp_path / f.parent.name / f.name)
    labelled = run(tmp_path, moved, out="labelled.parquet", label_col="label")
    assert "label" in labelled.columns
    cols = ["value", "expected_value", "lower_bound", "upper_bound", "score", "is_anomaly", "direction"]
    pd.testing.assert_frame_equal(
        plain[cols].reset_index(drop=True), labelled[cols].reset_index(drop=True), check_dtype=False
    )


def test_series_columns_day_grain_sum_and_duckdb_input(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-01", periods=80, freq="D")
    rows = [
        {"day": d.date().isoformat(), "country": c, "os": o, "n": 1000 + 10 * (d.day_of_week < 5), "junk": "x"}
        for d in days
        for c in ("DE", "FR")
        for o in ("iOS", "Android")
    ]
    frame = pd.DataFrame(rows)
    frame.loc[(frame["day"] == "2024-03-10") & (frame["country"] == "DE") & (frame["os"] == "iOS"), "n"] = 9000
    db = tmp_path / "in.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema s")
        con.execute("create table s.t as select * from frame")
    df = run(tmp_path, [f"duckdb:{db}::s.t"], time_col="day", value_col="n", series_cols=["country", "os"], agg="sum")
    assert df.groupby("series_id").size().to_dict() == {
        f"{c}/{o}": 80 for c in ("DE", "FR") for o in ("Android", "iOS")
    }
    hit = df[(df["series_id"] == "DE/iOS") & (df["bucket_ts"] == "2024-03-10T00:00:00Z")]
    assert hit["is_anomaly"].item() == 1


def test_data_coarser_than_the_grain_is_pointed_out(tmp_path: Path, capsys) -> None:
    """Weekly points on a daily spine leave six buckets in seven empty, and the windows see mostly gaps: the run
    says how many buckets are empty and asks about the grain, where before it said nothing."""
    f = tmp_path / "weekly.csv"
    weeks = pd.date_range("2022-01-03", periods=100, freq="7D")
    pd.DataFrame({"t": weeks.strftime("%Y-%m-%d"), "v": np.arange(100.0)}).to_csv(f, index=False)
    run(tmp_path, [f], time_col="t", value_col="v")
    said = capsys.readouterr().out
    assert "694 day buckets (mean per bucket; 85.6 % without a value)" in said
    assert "more than half the buckets are empty" in said
    daily = tmp_path / "daily.csv"
    pd.DataFrame({"t": pd.date_range("2022-01-03", periods=100).strftime("%Y-%m-%d"), "v": 1.0}).to_csv(daily)
    run(tmp_path, [daily], time_col="t", value_col="v", out="daily_out.csv")
    said = capsys.readouterr().out
    assert "0.0 % without a value" in said and "more than half" not in said


@pytest.mark.parametrize("method", METHODS)
def test_negative_daily_values_are_judged_in_raw_values(tmp_path: Path, method: str) -> None:
    """A daily measure can be negative (a balance, a temperature, a net change). The day grain ran the marts'
    count settings on every table: robust_seasonal took ln(1 + value), so no negative day was ever judged and a
    spike went unseen, and every method floored its lower bound at zero, above the upper one."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2023-01-01", periods=200, freq="D")
    value = -50 + 5 * (days.day_of_week < 5) + rng.normal(0, 1, len(days))
    value[150] += 25
    f = tmp_path / "balance.csv"
    pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "v": value}).to_csv(f, index=False)
    df = run(tmp_path, [f], time_col="day", value_col="v")
    judged = df.dropna(subset=["lower_bound", "upper_bound"])
    assert len(judged) > 150 and (judged["lower_bound"] <= judged["upper_bound"]).all()
    assert df["is_anomaly"].iloc[150] == 1 and df["direction"].iloc[150] == "up"
    assert df["is_anomaly"].mean() < 0.05


def test_duplicates_are_averaged_gaps_are_missing_and_non_finite_is_missing(tmp_path: Path) -> None:
    f = tmp_path / "messy.csv"
    frame = hourly_frame(days=30)
    dup = frame.iloc[[100]].copy()
    dup["value"] = frame["value"].iloc[100] + 12  # same timestamp twice: averaged with --agg mean
    frame = pd.concat([frame, dup])
    frame.loc[frame["timestamp"].str.startswith("2024-01-20 07"), "value"] = np.nan  # a gap hour
    frame.loc[frame["timestamp"] == "2024-01-21 03:00:00", "value"] = np.inf
    frame.to_csv(f, index=False)
    df = run(tmp_path, [f]).set_index("bucket_ts")
    raw = hourly_frame(days=30)
    first_hour = raw[raw["timestamp"].str.startswith("2024-01-01 08")]["value"].tolist()
    assert df.loc["2024-01-01T08:00:00Z", "value"] == pytest.approx(np.mean(first_hour + [first_hour[4] + 12]))
    gap = df.loc["2024-01-20T07:00:00Z"]
    assert np.isnan(gap["value"]) and gap["direction"] == "missing" and gap["is_anomaly"] == 0
    three = raw[raw["timestamp"].str.startswith("2024-01-21 03")]["value"].tolist()[1:]
    assert df.loc["2024-01-21T03:00:00Z", "value"] == pytest.approx(np.mean(three))  # inf dropped, not averaged


def test_epochs_in_seconds_milli_micro_and_nanoseconds_give_the_same_buckets(tmp_path: Path) -> None:
    """Exports write Unix times in any of four units; a microsecond epoch was read as milliseconds (the year
    55970, one bucket a day apart) without a word."""
    frame = hourly_frame(days=30)
    seconds = (pd.to_datetime(frame["timestamp"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    outs = []
    for unit, per_second in (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)):
        f = tmp_path / f"epoch_{unit}.csv"
        frame.assign(timestamp=seconds * per_second).to_csv(f, index=False)
        outs.append(run(tmp_path, [f], out=f"out_{unit}.csv").drop(columns="series_id"))
    assert outs[0]["bucket_ts"].iloc[0] == "2024-01-01T00:00:00Z" and len(outs[0]) == 30 * 24
    for out in outs[1:]:
        pd.testing.assert_frame_equal(out, outs[0])


def test_times_in_another_format_with_time_format(tmp_path: Path) -> None:
    """Day-first text times, or with an offset, or yyyymmdd numbers, read with a strptime format give the buckets
    their ISO 8601 form gives; a format DuckDB cannot use, or values it does not match, are errors."""
    frame = hourly_frame(days=30)
    iso = tmp_path / "iso.csv"
    frame.to_csv(iso, index=False)
    expected = run(tmp_path, [iso], out="iso_out.csv").drop(columns="series_id")
    ts = pd.to_datetime(frame["timestamp"])
    for name, text, fmt in [
        ("day_first", ts.dt.strftime("%d/%m/%Y %H:%M"), "%d/%m/%Y %H:%M"),
        ("offset", (ts + pd.Timedelta(hours=2)).dt.strftime("%Y%m%d %H%M%S +0200"), "%Y%m%d %H%M%S %z"),
    ]:
        f = tmp_path / f"{name}.csv"
        frame.assign(timestamp=text).to_csv(f, index=False)
        got = run(tmp_path, [f], time_format=fmt, out=f"{name}_out.csv").drop(columns="series_id")
        pd.testing.assert_frame_equal(got, expected)
    days = tmp_path / "yyyymmdd.csv"
    pd.DataFrame({"timestamp": [20240131, 20240201, 20240202], "value": [1, 2, 3]}).to_csv(days, index=False)
    got = run(tmp_path, [days], time_format="%Y%m%d", grain="day", out="days_out.csv")
    assert got["bucket_ts"].tolist() == ["2024-01-31T00:00:00Z", "2024-02-01T00:00:00Z", "2024-02-02T00:00:00Z"]
    with pytest.raises(DetectError, match="--time-format: .*%Q"):
        run(tmp_path, [days], time_format="%Q")
    with pytest.raises(DetectError, match="not times: row 1 '20240131'"):
        run(tmp_path, [days], time_format="%d/%m/%Y")
    with pytest.raises(DetectError, match="give one of them"):
        run(tmp_path, [days], time_format="%Y%m%d", time_unit="s")


def test_several_time_formats_are_tried_in_order(tmp_path: Path) -> None:
    """Exports of two systems in one run (and one file mixing them) give the buckets ISO 8601 gives, each value
    read by the first --time-format that fits; a value that fits none is still an error naming it. Before, one
    --time-format was taken per run (argparse kept the last one given), and the first file's times were errors."""
    frame = hourly_frame(days=30)
    iso = tmp_path / "iso.csv"
    frame.to_csv(iso, index=False)
    expected = run(tmp_path, [iso], out="iso_out.csv").drop(columns="series_id")
    ts = pd.to_datetime(frame["timestamp"])
    day_first = ts.dt.strftime("%d/%m/%Y %H:%M")
    offset = (ts + pd.Timedelta(hours=2)).dt.strftime("%Y%m%d %H%M%S +0200")
    formats = ["%d/%m/%Y %H:%M", "%Y%m%d %H%M%S %z"]
    a, b = tmp_path / "systems" / "a.csv", tmp_path / "systems" / "b.csv"
    a.parent.mkdir()
    frame.assign(timestamp=day_first).to_csv(a, index=False)
    frame.assign(timestamp=offset).to_csv(b, index=False)
    got = run(tmp_path, [a, b], time_format=formats, out="two_out.csv")
    for name in ("a.csv", "b.csv"):
        one = got[got["series_id"] == name].drop(columns="series_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(one, expected)
    mixed = tmp_path / "mixed.csv"
    frame.assign(timestamp=day_first.where(frame.index % 2 == 0, offset)).to_csv(mixed, index=False)
    got = run(tmp_path, [mixed], time_format=formats, out="mixed_out.csv").drop(columns="series_id")
    pd.testing.assert_frame_equal(got, expected)
    # the order decides a value both read: 01/02/2024 is the 1st of February day first, the 2nd of January not
    ambiguous = tmp_path / "ambiguous.csv"
    pd.DataFrame({"timestamp": ["01/02/2024", "02/02/2024", "13/02/2024"], "value": [1, 2, 3]}).to_csv(
        ambiguous, index=False
    )
    got = run(tmp_path, [ambiguous], time_format=["%d/%m/%Y", "%m/%d/%Y"], grain="day", out="amb_out.csv")
    days = got.dropna(subset=["value"])  # the spine holds the days between, without a value
    assert days["bucket_ts"].tolist() == ["2024-02-01T00:00:00Z", "2024-02-02T00:00:00Z", "2024-02-13T00:00:00Z"]
    with pytest.raises(DetectError, match="not times: row 3 '13/02/2024'"):
        run(tmp_path, [ambiguous], time_format=["%m/%d/%Y", "%Y%m%d"], grain="day")


def test_typed_columns_are_read_as_they_are(tmp_path: Path) -> None:
    """Parquet and DuckDB tables carry types: a timestamp (naive, or in another zone), epoch numbers, a date, float
    values with NaN and nulls, integer values, a boolean label. Each is read without the round trip through text
    (a 4.3M-row Parquet file took 5.8 s to read that way, 1.0 s now) and gives what the same data as CSV text gives."""
    frame = hourly_frame(days=30)
    frame["value"] = frame["value"].astype(object)
    frame.loc[[7, 300], "value"] = [np.nan, None]  # NaN and a null: both missing
    text = tmp_path / "text.csv"
    frame.to_csv(text, index=False)
    expected = run(tmp_path, [text], out="text_out.csv", label_col="label").drop(columns="series_id")
    ts = pd.to_datetime(frame["timestamp"])
    variants = {
        "naive": frame.assign(timestamp=ts, label=frame["label"].astype(bool)),
        "berlin": frame.assign(timestamp=ts.dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin")),
        "epoch": frame.assign(timestamp=(ts - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)),
    }
    for name, df in variants.items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
        got = run(tmp_path, [tmp_path / f"{name}.parquet"], out=f"{name}_out.csv", label_col="label")
        pd.testing.assert_frame_equal(got.drop(columns="series_id"), expected, obj=name)
    db = tmp_path / "typed.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("set TimeZone = 'America/New_York'")  # the zone of the writer: a timestamptz is an instant
        con.execute(  # the frame's times are UTC: the instants a UTC reader buckets as the text file's
            "create table t as select cast(timestamp as timestamp) at time zone 'UTC' as timestamp, value, label "
            "from frame"
        )
    got = run(tmp_path, [f"duckdb:{db}::t"], out="duckdb_out.csv", label_col="label")
    pd.testing.assert_frame_equal(got.drop(columns="series_id"), expected, obj="timestamptz")
    days = pd.DataFrame({"day": pd.date_range("2024-01-01", periods=90).date, "n": np.arange(90) % 7 + 100})
    days.to_parquet(tmp_path / "days.parquet", index=False)
    days.assign(day=days["day"].astype(str)).to_csv(tmp_path / "days.csv", index=False)
    typed = run(tmp_path, [tmp_path / "days.parquet"], time_col="day", value_col="n", out="days_p.csv")
    as_text = run(tmp_path, [tmp_path / "days.csv"], time_col="day", value_col="n", out="days_c.csv")
    pd.testing.assert_frame_equal(typed.drop(columns="series_id"), as_text.drop(columns="series_id"), obj="date")
    frame.assign(timestamp=ts.where(frame.index != 4)).to_parquet(tmp_path / "gap.parquet", index=False)
    with pytest.raises(DetectError, match="'timestamp' \\(time\\) is empty in 1 row\\(s\\), first at row 5"):
        run(tmp_path, [tmp_path / "gap.parquet"])


@pytest.mark.parametrize("method", METHODS)
def test_an_hourly_series_is_judged_from_its_third_day(tmp_path: Path, method: str) -> None:
    """Two days of history are enough at hour grain (min_periods: 48 values in a two-week window). A window
    needed half its length before, 168 hours: a series was silent for its first week, and this spike on day 5 of
    a short export went unjudged by every method."""
    f = tmp_path / "short.csv"
    hourly_frame(days=6, spike_at=24 * 4 + 5).to_csv(f, index=False)
    df = run(tmp_path, [f], method=method, out=f"{method}.csv")
    cold = df["explanation"].fillna("").str.startswith("cold start")
    assert cold.iloc[:48].all() and not cold.iloc[72:].any()
    spike = df[df["bucket_ts"] == "2024-01-05T05:00:00Z"]
    assert spike["is_anomaly"].item() == 1 and spike["direction"].item() == "up"


def test_the_same_input_gives_the_same_buckets_every_run() -> None:
    """A bucket's mean was added up in whatever order the threads met its rows: two runs on every AIOps file gave
    20 values apart in the last bit. In time order (then value, for duplicate times) it is the same every run."""
    con = duckdb.connect()
    con.execute("set threads = 2")  # the aggregation runs in parallel, as on any machine with two cores or more
    con.execute(
        "create table points as select 's' || (i % 20) as series_id, "
        "timestamp '2024-01-01' + to_seconds(i // 20 * 60) as ts, random() * 1e6 + 0.1 as value, "
        "cast(null as double) as label from range(1000000) t(i)"
    )
    runs = []
    for _ in range(3):
        bucket(con, "hour", "mean")
        runs.append(con.execute("select list(value order by series_id, bucket_ts) from detect_input").fetchone()[0])
    assert runs[0] == runs[1] == runs[2]


def test_missing_value_words_are_missing_values(tmp_path: Path) -> None:
    """R writes NA, SQL clients NULL, pandas <NA>: missing values, not an error. A word that is no number and no
    missing-value word still is one."""
    f = tmp_path / "words.csv"
    words = ["NA", "null", "None", "#N/A", "n/a", "<NA>", "NaN", "-Infinity"]
    rows = [f"2024-01-01 {h:02d}:00:00,{w}" for h, w in enumerate(["1", *words, " 3 ", "1e3"])]
    f.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    df = run(tmp_path, [f], grain="hour")
    assert df["value"].isna().tolist() == [False] + [True] * len(words) + [False, False]
    assert df["value"].dropna().tolist() == [1.0, 3.0, 1000.0]
    f.write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,n.a.\n")
    with pytest.raises(DetectError, match="1 non-numeric value\\(s\\): row 2 'n.a.'"):
        run(tmp_path, [f], grain="hour")


@pytest.mark.parametrize("grain", ["hour", "day"])
def test_period_numbers_are_read_at_the_grain_given(tmp_path: Path, grain: str) -> None:
    """Some exports number the periods instead of timing them (Yahoo's S5: 1, 2, ..., 1420). Read as Unix seconds,
    1,420 hours fell into one bucket of 1970-01-01 and nothing was judged, without a word."""
    hourly = hourly_frame(days=60 if grain == "hour" else 300).iloc[::12]  # one point an hour
    frame = (hourly if grain == "hour" else hourly.iloc[::24]).reset_index(drop=True)  # or one a day
    spike = 24 * 30 + 5 if grain == "hour" else 250
    if grain == "day":  # hourly_frame's own spike is at hour 24 * 30 + 5
        frame.loc[spike, "value"] *= 6
    f = tmp_path / "numbered.csv"
    frame.assign(timestamp=np.arange(1, len(frame) + 1)).to_csv(f, index=False)
    df = run(tmp_path, [f], grain=grain)
    assert len(df) == len(frame)  # one bucket per period
    step = pd.Timedelta(1, unit="h" if grain == "hour" else "D")
    assert pd.to_datetime(df["bucket_ts"]).iloc[0] == pd.Timestamp("1970-01-01", tz="UTC") + step
    assert df["is_anomaly"].iloc[spike] == 1 and df["direction"].iloc[spike] == "up"
    assert df["is_anomaly"].mean() < 0.03
    # the same said explicitly; and read as seconds when asked, all in one bucket
    pd.testing.assert_frame_equal(run(tmp_path, [f], grain=grain, time_unit="index", out="index.csv"), df)
    assert len(run(tmp_path, [f], grain=grain, time_unit="s", out="seconds.csv")) == 1


@pytest.mark.parametrize(
    ("content", "kw", "message"),
    [
        (b"\x00\x01\x02garbage\xff\xfe", {}, "cannot read it"),
        (b"timestamp,val\n2024-01-01 00:00:00,1\n", {}, "no column 'value'"),
        (b"timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,abc\n", {}, "'value' (value) has 1 non-numeric"),
        (b"timestamp;value\n2024-01-01 00:00:00;1,5\n", {}, "row 1 '1,5' (decimal commas? the reader takes a point"),
        (b'timestamp,value\n2024-01-01 00:00:00,"12,841"\n', {}, "row 1 '12,841' (thousands separators? the reader"),
        (b"timestamp,value\n2024-01-01 00:00:00,1\nnot a time,2\n", {}, "not times: row 2 'not a time'"),
        (b"timestamp,value\n2024-01-01 00:00:00,1\n,2\n", {}, "(time) is empty in 1 row"),
        (b"timestamp,value\n1,1\n2,2\n", {}, "holds numbers from 1 to 2, which look like period numbers"),
        (b"timestamp,value\n0.5,1\n1.5,2\n", {"grain": "hour"}, "as Unix seconds they would all fall before 1971"),
        (b"timestamp,value\n0.5,1\n1.5,2\n", {"grain": "hour", "time_unit": "index"}, "needs whole numbers"),
        (b"timestamp,value\n2024-01-01 00:00:00,1\n", {"time_unit": "s"}, "not numbers: row 1 '2024-01-01"),
    ],
)
def test_bad_input_names_the_file_and_column(tmp_path: Path, content: bytes, kw: dict, message: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    with pytest.raises(DetectError) as err:
        run(tmp_path, [f], **kw)
    assert str(f) in str(err.value) and message in str(err.value)


def test_missing_file_and_wrong_extension(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="no such file"):
        run(tmp_path, [tmp_path / "nope.csv"])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DetectError, match="expected a .csv, .tsv or .txt file"):
        run(tmp_path, [tmp_path / "x.json"])


def test_boolean_labels_and_compressed_or_tab_separated_files(tmp_path: Path) -> None:
    """Exports of labelled KPIs often hold the label as a boolean (a Parquet bool column, True/False text), come
    compressed or tab-separated, or capitalise their column names: each is read like the plain CSV."""
    frame = hourly_frame(seed=3)
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False)
    expected = run(tmp_path, [plain], out="plain_out.csv", label_col="label")
    assert expected["label"].sum() == 1  # the spike hour

    as_bool = frame.assign(label=frame["label"].astype(bool))
    upper = as_bool.rename(columns=str.title)  # Timestamp, Value, Label: names match regardless of case
    variants = {
        "bool.parquet": as_bool,
        "bool_text.csv": as_bool,
        "gzip.csv.gz": frame,
        "tabs.tsv": frame,
        "title_case.csv.zst": upper,
    }
    for name, df in variants.items():
        f = tmp_path / "in" / name
        f.parent.mkdir(exist_ok=True)
        if name.endswith(".parquet"):
            df.to_parquet(f, index=False)
        elif name.endswith(".zst"):
            duckdb.sql(f"copy (select * from df) to '{f}' (format csv, compression zstd)")
        else:
            df.to_csv(f, index=False, sep="\t" if name.endswith(".tsv") else ",")  # gzip by the name's suffix
        got = run(tmp_path, [f], out=f"{name}_out.csv", label_col="label")
        cols = ["bucket_ts", "value", "expected_value", "is_anomaly", "direction", "label"]
        pd.testing.assert_frame_equal(got[cols], expected[cols], check_dtype=False, obj=name)
    (tmp_path / "in" / "words.csv").write_text("timestamp,value,label\n2024-01-01 00:00:00,1,maybe\n")
    with pytest.raises(DetectError, match=r"\(label\) has 1 value\(s\) that are neither numbers nor true/false"):
        run(tmp_path, [tmp_path / "in" / "words.csv"], label_col="label")


@pytest.mark.slow
def test_the_cli_on_the_real_benchmarks(tmp_path: Path) -> None:
    """NAB (header, text times) and AIOps (no header, epoch seconds, a label column), as a user runs them."""
    root = benchmarks_dir()
    nab = root / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv"
    aiops = sorted((root / "aiops2018-kpi" / "preliminary_train_split").glob("*.csv"))[:2]
    assert nab.is_file() and aiops, f"the benchmarks are expected in {root}"

    def cli(*args: object, tz: str = "UTC") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ml", "detect", *map(str, args)],
            cwd=PROJECT_DIR,
            env={**os.environ, "TZ": tz},
            capture_output=True,
            text=True,
            timeout=300,
        )

    # a machine in New York: NAB's times carry no offset, so they are UTC whatever the machine's zone (they were
    # read as New York time: 5,161 hours instead of 5,160)
    out = cli(nab, "--time-col", "timestamp", "--value-col", "value", "--out", tmp_path / "nab.csv", tz="US/Eastern")
    assert out.returncode == 0, out.stderr[-2000:]
    nab_out = pd.read_csv(tmp_path / "nab.csv")
    assert len(nab_out) == 5160 and set(nab_out["series_id"]) == {"nyc_taxi.csv"}  # 30-minute points -> hours
    assert nab_out["bucket_ts"].iloc[0] == "2014-07-01T00:00:00Z"
    assert nab_out["bucket_ts"].iloc[-1] == "2015-01-31T23:00:00Z"
    assert "[4/4] wrote" in out.stdout
    out = cli(
        *aiops,
        "--time-col",
        "ts",
        "--value-col",
        "v",
        "--label-col",
        "label",
        "--columns",
        "ts,v,label",
        "--out",
        tmp_path / "aiops.parquet",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    df = pd.read_parquet(tmp_path / "aiops.parquet")
    assert set(df["series_id"]) == {p.name for p in aiops} and df["label"].sum() > 0
    assert "Fc" in out.stdout and "(always)" in out.stdout
    bad = cli(nab, "--time-col", "timestamp", "--value-col", "nope", "--out", tmp_path / "x.csv")
    assert bad.returncode != 0 and "no column 'nope'" in bad.stderr and "Traceback" not in bad.stderr
    # the time options reach the reader: NAB's times in another format (every --time-format given, not only the
    # last), and numbered hours
    frame = pd.read_csv(nab)
    day_first = tmp_path / "day_first.csv"
    frame.assign(timestamp=pd.to_datetime(frame["timestamp"]).dt.strftime("%d/%m/%Y %H:%M")).to_csv(day_first)
    out = cli(day_first, "--time-col", "timestamp", "--value-col", "value", "--time-format", "%d/%m/%Y %H:%M",
              "--time-format", "%Y%m%d", "--out", tmp_path / "day_first_out.csv")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert pd.read_csv(tmp_path / "day_first_out.csv")["bucket_ts"].tolist() == nab_out["bucket_ts"].tolist()
    numbered = tmp_path / "numbered.csv"
    pd.DataFrame({"t": range(100), "v": 1.0}).to_csv(numbered, index=False)
    out = cli(numbered, "--time-col", "t", "--value-col", "v", "--time-unit", "index", "--grain", "day",
              "--out", tmp_path / "numbered_out.csv")  # fmt: skip
    assert out.returncode == 0 and len(pd.read_csv(tmp_path / "numbered_out.csv")) == 100, out.stderr[-2000:]


# One NAB file (header, text times, 5-minute points) and one AIOps KPI (no header, epoch seconds, minute points),
# each scored by the evaluation, with flags from every method in the reference run; the series named as the
# benchmarks' loader names them.
EVALUATED_FILES = {
    "nab": (
        ("nab", "data", "realKnownCause", "machine_temperature_system_failure.csv"),
        nab_key,
        {"time_col": "timestamp", "value_col": "value"},
    ),
    "aiops": (
        ("aiops2018-kpi", "phase2_train_split", "6efa3a07-4544-34a0-b921-a155bd1a05e8.csv"),
        aiops_key,
        {"time_col": "ts", "value_col": "v", "columns": ["ts", "v", "label"]},
    ),
}


@pytest.mark.parametrize("method", METHODS)
def test_the_cli_flags_what_the_evaluation_scored(tmp_path: Path, warehouse, method: str) -> None:
    """A held-out set is scored through `python -m ml detect`, the published table through the evaluation marts:
    on a real file the two paths must flag the same hours in the same direction, or the table says nothing about
    the held-out score."""
    for dataset, (parts, series_key, kw) in EVALUATED_FILES.items():
        path = benchmarks_dir().joinpath(*parts)
        flags = run(tmp_path, [path], method=method, out=f"{dataset}.csv", **kw)
        flags = flags[flags["is_anomaly"] == 1]
        hours = pd.to_datetime(flags["bucket_ts"], utc=True).dt.tz_localize(None)
        got = set(zip(hours, flags["direction"], strict=True))
        expected = set(
            warehouse.execute(
                "select period_ts, direction from intermediate.int_eval_detector_flags "
                "where dataset = ? and detector = ? and series_key = ?",
                [dataset, method, series_key(path)],
            ).fetchall()
        )
        assert expected, f"the reference run has no {method} flags on {series_key(path)}"
        assert got == expected, (dataset, method, sorted(got ^ expected)[:5])


def test_the_compiled_detector_is_reused_until_its_code_changes(tmp_path: Path, monkeypatch) -> None:
    """A run with the code of an earlier run takes that run's compiled SQL instead of starting dbt (about 3 s of a
    4 s run on a small file); a change to any macro or to the project's vars is another key, so stale SQL is never
    taken."""
    import shutil

    import dbt.cli.main

    from ml.anomaly import detect

    first = detect.compile_sql("iqr", "day", False, False)
    detect.compile_sql.cache_clear()

    def no_dbt(*args, **kwargs):
        raise AssertionError("dbt was started although the compiled detector was kept")

    monkeypatch.setattr(dbt.cli.main, "dbtRunner", no_dbt)
    assert detect.compile_sql("iqr", "day", False, False) == first
    detect.compile_sql.cache_clear()

    project = tmp_path / "project"
    for name in ("macros", "tests/generic"):
        shutil.copytree(PROJECT_DIR / name, project / name)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    key = detect._compile_key("{{ detect_anomalies('t') }}", project)
    assert key == detect._compile_key("{{ detect_anomalies('t') }}", PROJECT_DIR)  # the same code, the same key
    assert key != detect._compile_key("{{ detect_anomalies('u') }}", project)
    macro = project / "macros" / "anomaly" / "anomaly_finalize.sql"
    macro.write_text(macro.read_text() + "\n")
    changed = detect._compile_key("{{ detect_anomalies('t') }}", project)
    assert changed != key
    config = project / "dbt_project.yml"
    config.write_text(config.read_text().replace("anomaly_k:", "anomaly_k_was:", 1))
    assert detect._compile_key("{{ detect_anomalies('t') }}", project) not in (key, changed)
