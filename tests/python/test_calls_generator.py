"""The weekly call generator: deterministic, realistic shapes, the new column only in later weeks, labels apart."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ml.calls.generator import NEW_COLUMN, CallsConfig, generate_calls
from ml.contracts import CALL_COLUMNS


def _gen(tmp: Path, **kw) -> tuple[dict, Path]:
    cfg = CallsConfig(numbers_per_week=20_000, **kw)
    return generate_calls(cfg, tmp / "calls", tmp / "labels", tmp / "gt"), tmp


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.csv")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    _gen(tmp_path / "a")
    _gen(tmp_path / "b")
    _gen(tmp_path / "c", seed=7)
    for sub in ("calls", "labels"):
        assert _digest(tmp_path / "a" / sub) == _digest(tmp_path / "b" / sub)
        assert _digest(tmp_path / "a" / sub) != _digest(tmp_path / "c" / sub)


def test_weekly_files_have_both_shapes_and_counts_obey_their_identities(tmp_path: Path) -> None:
    summary, root = _gen(tmp_path, defect_rate=0.0)
    files = sorted((root / "calls").glob("calls_*.csv"))
    assert [f.name[6:16] for f in files] == [(date(2024, 4, 8) - timedelta(weeks=7 - i)).isoformat() for i in range(8)]
    for i, f in enumerate(files):
        df = pd.read_csv(f)
        expected = list(CALL_COLUMNS) + ([NEW_COLUMN] if i + 1 >= 3 else [])
        assert list(df.columns) == expected, f.name
        assert (
            df["answered_call_count"] + df["rejected_call_count"] + df["missed_call_count"] == df["call_count"]
        ).all()
        assert (df["weekdays_call_count"] + df["weekend_call_count"] == df["call_count"]).all()
        assert (df["overtime_call_count"] + df["out_of_work_call_count"] == df["call_count"]).all()
        assert (df["unique_call_count"] <= df["call_count"]).all() and (df["call_count"] >= 1).all()
        assert df["id"].is_unique
    assert summary["rows"] == sum(len(pd.read_csv(f)) for f in files)


def test_classes_overlap_the_way_calls_md_describes(tmp_path: Path) -> None:
    _, root = _gen(tmp_path, defect_rate=0.0)
    truth = pd.read_csv(root / "gt" / "calls_numbers.csv")
    week = pd.read_csv(root / "calls" / "calls_2024-04-08.csv").merge(truth, on=["id", "country"])
    spam = week[week["true_class"] == "spam"]
    legit = week[week["true_class"] == "legit"]
    assert 0.012 < len(spam) / len(week) < 0.035  # about 2 %
    zero_share = (spam[NEW_COLUMN] == 0).mean()
    assert 0.4 <= zero_share <= 0.7  # most spam is never reported in a week
    reported = spam.loc[spam[NEW_COLUMN] > 0, NEW_COLUMN]
    assert (reported == 1).mean() > 0.8 and reported.max() >= 10  # FTC shape: mostly one report, a long tail
    assert 0 < (legit[NEW_COLUMN] > 0).mean() < 0.02  # false reports exist but are rare
    # low-volume scammers call about as much as consumers: volume alone cannot separate the classes
    med = week.groupby("archetype")["call_count"].median()
    assert med["low_volume_scammer"] < 3 * med["consumer"]
    assert spam["call_count"].max() > 15 * spam["call_count"].median()  # heavy tail (1e4+ at full scale)
    # business numbers answer less than consumers, spam least
    rate = (week["answered_call_count"] / week["call_count"]).groupby(week["archetype"]).median()
    assert rate["robocaller"] < rate["business"] < rate["consumer"]


def test_labels_are_independent_late_and_a_little_noisy(tmp_path: Path) -> None:
    summary, root = _gen(tmp_path)
    labels = pd.concat(pd.read_csv(f, dtype={"id": str}) for f in sorted((root / "labels").glob("labels_*.csv")))
    assert list(labels.columns) == ["id", "week_start", "label", "label_source", "labelled_at"]
    lag = pd.to_datetime(labels["labelled_at"]) - pd.to_datetime(labels["week_start"])
    assert (lag >= pd.Timedelta(days=7)).all()  # labels arrive at least a week late
    assert pd.to_datetime(labels["labelled_at"]).max() < pd.Timestamp("2024-04-15")  # nothing from the future
    assert "2024-04-08" not in set(labels["week_start"])  # the reference week is not labelled yet
    truth = pd.read_csv(root / "gt" / "calls_numbers.csv", dtype={"id": str})
    joined = labels.merge(truth, on="id")
    noise = (joined["label"] != joined["true_class"]).mean()
    assert 0.01 <= noise <= 0.05
    assert summary["labels_pending"] > 0
    # labels are not derived from reports: plenty of labelled spam has no report at all
    calls = pd.concat(
        pd.read_csv(f, dtype={"id": str}).assign(week_start=f.name[6:16]) for f in (root / "calls").glob("*.csv")
    )
    with_reports = joined.merge(calls[["id", "week_start", NEW_COLUMN]].dropna(), on=["id", "week_start"])
    spam_labelled = with_reports[with_reports["label"] == "spam"]
    assert (pd.to_numeric(spam_labelled[NEW_COLUMN], errors="coerce") == 0).mean() > 0.3


def test_defects_are_logged_with_their_line(tmp_path: Path) -> None:
    _, root = _gen(tmp_path, defect_rate=0.002)
    log = pd.read_csv(root / "gt" / "calls_defects.csv", dtype={"id": str})
    assert set(log["defect"]) >= {
        "null_count",
        "negative_count",
        "unknown_country",
        "duplicate_exact",
        "call_count_decimal",
        "call_count_int64_max",
    }
    counts = log[log["defect"].str.startswith("call_count_")]
    for _, d in pd.concat([log.head(20), counts]).iterrows():
        lines = (root / "calls" / d["file_name"]).read_text().splitlines()
        fields = lines[d["line_number"] - 1].split(",")
        assert fields[0] == d["id"]
        if d["defect"] == "call_count_decimal":
            assert fields[2] == "12.7"
        if d["defect"] == "call_count_int64_max":
            assert fields[2] == str(2**63 - 1)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="Monday"):
        CallsConfig(last_week=date(2024, 4, 9))
    with pytest.raises(ValueError, match="label_noise"):
        CallsConfig(label_noise=0.6)
