from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pandas as pd

from ml.api_logs.generator import GeneratorConfig, generate


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.csv")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    cfg = GeneratorConfig(end=date(2024, 2, 20))
    generate(cfg, tmp_path / "a", tmp_path / "gt_a", progress_every=0)
    generate(cfg, tmp_path / "b", tmp_path / "gt_b", progress_every=0)
    generate(GeneratorConfig(seed=7, end=date(2024, 2, 20)), tmp_path / "c", tmp_path / "gt_c", progress_every=0)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_reference_extract_is_realistic_and_fully_labelled(tmp_path: Path) -> None:
    summary = generate(GeneratorConfig(), tmp_path / "landing", tmp_path / "gt", progress_every=0)
    files = sorted((tmp_path / "landing").glob("api_requests_*.csv"))
    assert {f.name[13:23] for f in files} >= {"2024-02-01", "2024-04-14"}
    df = pd.concat(pd.read_csv(f, dtype=str, keep_default_na=False) for f in files)
    assert list(df.columns) == ["date", "country", "os", "count"]
    counts = pd.to_numeric(df["count"], errors="coerce")
    per_country = df.assign(n=counts).groupby(df["country"].str.strip().str.upper())["n"].sum()
    assert per_country.max() / per_country[per_country > 0].min() > 1_000  # heavy-tailed volumes
    assert df["os"].str.strip().str.lower().nunique() >= 3
    incidents = pd.read_csv(tmp_path / "gt" / "api_incidents.csv")
    expected_types = {"spike", "outage", "os_incident", "level_shift", "subtle", "missing_day", "series_stopped"}
    assert set(incidents["incident_type"]) == expected_types
    assert {"history", "detection"} <= set(incidents["period"])
    assert summary["incidents"] == len(incidents)
    # the day of a pipeline gap has no file at all
    gap = incidents.loc[incidents["incident_type"] == "missing_day", "start_date"].iloc[0]
    assert not (tmp_path / "landing" / f"api_requests_{gap}.csv").exists()


def test_every_defect_is_recorded_with_file_and_line(tmp_path: Path) -> None:
    generate(GeneratorConfig(), tmp_path / "landing", tmp_path / "gt", progress_every=0)
    defects = pd.read_csv(tmp_path / "gt" / "api_defects.csv")
    kinds = set(defects["defect_type"])
    assert {
        "exact_duplicate_row",
        "redelivered_file",
        "country_lowercase",
        "country_spaces",
        "country_alias",
        "country_unknown",
        "country_empty",
        "os_case",
        "os_spaces",
        "count_negative",
        "count_non_numeric",
        "count_empty",
        "date_out_of_range",
        "count_decimal",
        "count_exponent",
        "count_underscore",
        "count_int64_max",
        "count_above_bound",
    } <= kinds
    # the count defects sit on the line named, with the value named (count is the last column)
    counts = defects[defects["defect_type"].isin(["count_decimal", "count_int64_max", "count_above_bound"])]
    assert len(counts) >= 3
    for _, d in counts.iterrows():
        line = (tmp_path / "landing" / d["file_name"]).read_text().splitlines()[int(d["line_number"]) - 1]
        assert line.rsplit(",", 1)[1] == d["detail"].split("'")[1], (d["file_name"], d["line_number"])
    for _, d in defects[defects["line_number"].notna()].sample(20, random_state=0).iterrows():
        lines = (tmp_path / "landing" / d["file_name"]).read_text().splitlines()
        assert int(d["line_number"]) <= len(lines)
    junk = defects[defects["defect_type"] == "count_non_numeric"].iloc[0]
    line = (tmp_path / "landing" / junk["file_name"]).read_text().splitlines()[int(junk["line_number"]) - 1]
    assert line.endswith(",n/a")


def test_scales_by_configuration_not_code(tmp_path: Path) -> None:
    from ml.api_logs.generator import DEFAULT_OS

    cfg = GeneratorConfig(
        countries=tuple(sorted({"IN", "US", "BR", "DE", "FR", "JP", "NG", "EG", "SA", "MX"})),
        os_values=(*DEFAULT_OS, "HarmonyOS"),
        inject_defects=False,
    )
    summary = generate(cfg, tmp_path / "landing", tmp_path / "gt", progress_every=0)
    # Android, iOS, Web and HarmonyOS in all 10 countries; KaiOS only in its markets among them (IN, NG, EG)
    assert summary["series"] == 10 * 4 + 3
