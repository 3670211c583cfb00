"""Synthetic daily API-request extract (date, country, os, count) with a ground truth.

Writes one CSV per day into the landing folder, the way an upstream export would, and two ground-truth files
beside it (never in the landing folder): every injected incident and every injected data-quality defect.
Deterministic for a given seed; scales by countries x OS x days without code changes.

Volume model per series s = (country, os) and day d:
    mean = base_s * trend_s(d) * weekly_c(dow) * holiday_c(d) * incident_s(d)
    count ~ Poisson(mean * lognormal(0, sigma_s)),  sigma_s larger for small series
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ml.contracts import API_LOG_COLUMNS
from ml.logs import log_event, timed
from ml.settings import DEFAULT_SEED, PROJECT_DIR

# Markets of a caller-ID app, roughly by size (rank drives the heavy-tailed volume).
DEFAULT_COUNTRIES = tuple(
    [
        "IN",
        "ID",
        "BR",
        "NG",
        "EG",
        "SA",
        "PK",
        "BD",
        "US",
        "MX",
        "KE",
        "CO",
        "ZA",
        "AE",
        "MY",
        "TR",
        "IQ",
        "PH",
        "VN",
        "RU",
        "UA",
        "KZ",
        "GB",
        "DE",
        "FR",
        "IT",
        "ES",
        "JO",
        "KW",
        "QA",
        "OM",
        "BH",
        "MA",
        "DZ",
        "TN",
        "UZ",
        "AZ",
        "KG",
        "TJ",
        "IR",
        "AF",
        "CL",
        "AR",
        "PE",
        "SE",
        "NO",
        "DK",
        "NL",
        "BE",
        "PL",
        "PT",
        "IE",
        "CA",
        "AU",
        "NZ",
        "CN",
        "TW",
        "HK",
        "SG",
        "KR",
    ]
)
DEFAULT_OS = ("Android", "iOS", "Web", "KaiOS")
# KaiOS (feature phones) only exists in a few markets: the low-volume OS.
KAIOS_COUNTRIES = {"IN", "NG", "KE", "PK", "BD", "ID", "EG", "ZA", "TZ", "GH"}
OS_SHARE = {"Android": 0.78, "iOS": 0.18, "Web": 0.03, "KaiOS": 0.01}
FRI_SAT_WEEKEND = {"SA", "EG", "IQ", "JO", "KW", "QA", "OM", "BH", "AF", "IR"}

INCIDENT_LEVEL = {
    "spike": "country_os",
    "outage": "country",
    "os_incident": "os",
    "level_shift": "country_os",
    "subtle": "country_os",
    "missing_day": "total",
    "series_stopped": "country_os",
}


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = DEFAULT_SEED
    start: date = date(2024, 2, 1)
    end: date = date(2024, 4, 14)
    detection_start: date = date(2024, 4, 1)
    countries: tuple[str, ...] = tuple(DEFAULT_COUNTRIES)
    os_values: tuple[str, ...] = DEFAULT_OS
    top_volume: float = 3_000_000.0  # requests/day of the largest country
    tail_exponent: float = 2.2  # volume ~ rank ** -exponent: a long tail of tiny markets
    inject_incidents: bool = True
    inject_defects: bool = True
    cold_start_days: int = 25  # no history incident before the detector can judge
    holidays_csv: Path = field(default=PROJECT_DIR / "seeds" / "holiday_calendar_2024.csv")

    @property
    def days(self) -> list[date]:
        n = (self.end - self.start).days + 1
        return [self.start + timedelta(days=i) for i in range(n)]


@dataclass
class Incident:
    incident_id: str
    incident_type: str
    country: str
    os: str
    start_date: date
    end_date: date
    factor: float
    period: str
    description: str

    @property
    def level(self) -> str:
        return INCIDENT_LEVEL[self.incident_type]

    @property
    def series_key(self) -> str:
        return f"{self.country}/{self.os}"


def _holiday_factors(cfg: GeneratorConfig, countries: list[str], days: list[date]) -> np.ndarray:
    """Multiplicative holiday/season effect per (country, day), from the same calendar seed dbt uses."""
    effect = {"Ramadan": 0.93, "Eid al-Fitr": 0.72, "Nowruz": 0.75, "Lunar New Year": 0.65}
    out = np.ones((len(countries), len(days)))
    if not cfg.holidays_csv.exists():
        return out
    cidx = {c: i for i, c in enumerate(countries)}
    d0 = days[0]
    with cfg.holidays_csv.open() as f:
        for row in csv.DictReader(f):
            c = row["country_code"]
            if c not in cidx:
                continue
            s, e = date.fromisoformat(row["start_date"]), date.fromisoformat(row["end_date"])
            a, b = max((s - d0).days, 0), min((e - d0).days, len(days) - 1)
            if a <= b:
                out[cidx[c], a : b + 1] *= effect.get(row["holiday_name"], 0.85)
    return out


def _series(cfg: GeneratorConfig) -> pd.DataFrame:
    rows = []
    for rank, c in enumerate(cfg.countries, start=1):
        country_volume = cfg.top_volume * rank ** (-cfg.tail_exponent)
        for os_name in cfg.os_values:
            if os_name == "KaiOS" and c not in KAIOS_COUNTRIES:
                continue
            share = OS_SHARE.get(os_name, 0.01)
            rows.append({"country": c, "os": os_name, "base": max(country_volume * share, 8.0)})
    return pd.DataFrame(rows)


def _build_incidents(
    cfg: GeneratorConfig, series: pd.DataFrame, holidays: np.ndarray, rng: np.random.Generator
) -> list[Incident]:
    days = cfg.days
    hist = [d for d in days if d < cfg.detection_start and (d - cfg.start).days >= cfg.cold_start_days]
    det = [d for d in days if d >= cfg.detection_start]
    used: set[tuple[str, str, date]] = set()
    incidents: list[Incident] = []
    # Eid / Nowruz etc. would confound a test of the detector: keep incidents off the holidays.
    hol = holidays
    cidx = {c: i for i, c in enumerate(cfg.countries)}

    def overlaps(a: tuple[str, str], b: tuple[str, str]) -> bool:
        return all(x == "*" or y == "*" or x == y for x, y in zip(a, b, strict=True))

    def free(country: str, os_name: str, start: date, n: int) -> bool:
        """One incident at a time per scope: no overlap (with a day of margin) with another incident."""
        for i in range(n):
            d = start + timedelta(days=i)
            if d > cfg.end or any(overlaps((country, os_name), (c, o)) for c, o, ud in used if ud == d):
                return False
            if country != "*" and hol[cidx[country], (d - cfg.start).days] < 0.9:
                return False
        return True

    def take(
        itype: str,
        period_days: list[date],
        pick: Callable[[], tuple[str, str]],
        n_days: int,
        factor: float,
        desc: str,
        period: str,
    ) -> None:
        for _ in range(200):
            country, os_name = pick()
            start = period_days[int(rng.integers(0, len(period_days)))]
            if free(country, os_name, start, n_days + 1):
                end = start + timedelta(days=n_days - 1)
                for i in range(-1, n_days + 1):
                    used.add((country, os_name, start + timedelta(days=i)))
                incidents.append(
                    Incident(
                        f"inc_{len(incidents) + 1:03d}",
                        itype,
                        country,
                        os_name,
                        start,
                        end,
                        round(factor, 3),
                        period,
                        desc,
                    )
                )
                return

    big = series[series["base"] >= 300]
    mid = series[(series["base"] >= 3_000) & (series["base"] <= 60_000)]
    country_vol = series.groupby("country")["base"].sum()
    big_countries = country_vol[country_vol >= 5_000].index.tolist()

    def pick_big() -> tuple[str, str]:
        r = big.iloc[int(rng.integers(0, len(big)))]
        return r["country"], r["os"]

    def pick_mid() -> tuple[str, str]:
        r = mid.iloc[int(rng.integers(0, len(mid)))]
        return r["country"], r["os"]

    def pick_country() -> tuple[str, str]:
        return big_countries[int(rng.integers(0, len(big_countries)))], "*"

    for period, pdays in (("history", hist), ("detection", det)):
        if not pdays:
            continue
        for _ in range(3):
            f = float(rng.uniform(3, 10))
            take("spike", pdays, pick_big, int(rng.integers(1, 3)), f, f"bot/scraping spike x{f:.1f}", period)
        for _ in range(2):
            f = float(rng.uniform(0.05, 0.4))
            take("outage", pdays, pick_country, int(rng.integers(1, 4)), f, f"outage x{f:.2f}", period)
        if "iOS" in cfg.os_values and rng.random() < 0.5:
            take("os_incident", pdays, lambda: ("*", "iOS"), 2, 0.6, "bad iOS release x0.6", period)
        else:
            take("os_incident", pdays, lambda: ("*", "Android"), 1, 1.8, "Android retry storm x1.8", period)
        for _ in range(2):
            f = float(rng.uniform(1.3, 1.5)) * (1 if rng.random() < 0.5 else -1)
            factor = abs(f) if f > 0 else 1 / abs(f)
            take("subtle", pdays, pick_mid, 1, factor, f"subtle move x{factor:.2f}", period)
        f = float(rng.choice([0.5, 1.8]))
        # A level shift persists; the event is its first 4 days (detect once, then re-learn).
        take(
            "level_shift",
            pdays[: max(len(pdays) - 4, 1)],
            pick_mid,
            4,
            f,
            f"persistent level shift x{f}",
            period,
        )
    # A day missing for every series: one in history, one in the detection period.
    for period, pdays in (("history", hist), ("detection", det)):
        if pdays:
            take(
                "missing_day",
                pdays,
                lambda: ("*", "*"),
                1,
                0.0,
                "pipeline gap: no rows for any series",
                period,
            )
    # A series that stops delivering before the end of the extract (dead series alert).
    if det and len(det) > 6:
        kai = series[series["os"] == cfg.os_values[-1]]
        if len(kai):
            r = kai.iloc[len(kai) // 2]
            take(
                "series_stopped",
                det[4:-2],
                lambda: (r["country"], r["os"]),
                1,
                0.0,
                "series stops delivering",
                "detection",
            )
    return incidents


def generate(cfg: GeneratorConfig, landing: Path, ground_truth: Path, progress_every: int = 30) -> dict:
    """Write the extract into `landing` and the ground truth into `ground_truth`; return a summary."""
    rng = np.random.default_rng(cfg.seed)
    landing.mkdir(parents=True, exist_ok=True)
    ground_truth.mkdir(parents=True, exist_ok=True)
    days = cfg.days
    series = _series(cfg)
    n_s, n_d = len(series), len(days)
    with timed("generate_api_logs", series=n_s, days=n_d, seed=cfg.seed) as facts:
        countries = series["country"].to_numpy()
        os_arr = series["os"].to_numpy()
        base = series["base"].to_numpy()
        t = np.arange(n_d)
        growth = rng.normal(0.0008, 0.0015, n_s)  # per day: slow growth for most, decline for some
        trend = np.exp(np.outer(growth, t))
        dow = np.array([d.weekday() for d in days])  # Monday=0
        weekend_depth = rng.uniform(0.65, 0.9, len(cfg.countries))
        cidx = {c: i for i, c in enumerate(cfg.countries)}
        ci = np.array([cidx[c] for c in countries])
        weekly = np.ones((len(cfg.countries), n_d))
        for c, i in cidx.items():
            wk = (4, 5) if c in FRI_SAT_WEEKEND else (5, 6)
            weekly[i, np.isin(dow, wk)] = weekend_depth[i]
            weekly[i, dow == 0] *= 1.04  # Monday catch-up
        holidays = _holiday_factors(cfg, list(cfg.countries), days)
        season = weekly[ci] * holidays[ci]
        sigma = 0.03 + 0.25 / np.sqrt(base)
        mean = base[:, None] * trend * season
        incidents = _build_incidents(cfg, series, holidays, rng) if cfg.inject_incidents else []
        present = np.ones((n_s, n_d), dtype=bool)
        # A new series (a mid-sized market's Web app launches a month in): not an incident, but the
        # spine must not zero-fill before it starts and the detector must wait for its cold start.
        web = np.flatnonzero(os_arr == "Web")
        if len(web) > 20 and n_d > 60:
            present[web[20], :29] = False
        for inc in incidents:
            a, b = (inc.start_date - cfg.start).days, (inc.end_date - cfg.start).days
            rows = np.ones(n_s, dtype=bool)
            if inc.country != "*":
                rows &= countries == inc.country
            if inc.os != "*":
                rows &= os_arr == inc.os
            if inc.incident_type == "missing_day":
                present[:, a : b + 1] = False
            elif inc.incident_type == "series_stopped":
                present[rows, a:] = False
            elif inc.incident_type == "level_shift":
                mean[rows, a:] *= inc.factor
            else:
                mean[rows, a : b + 1] *= inc.factor
        noise = rng.lognormal(0.0, 1.0, (n_s, n_d)) ** sigma[:, None]
        counts = rng.poisson(mean * noise)
        defects: list[dict] = []
        n_rows = 0
        for j, d in enumerate(days):
            keep = present[:, j]
            df = pd.DataFrame(
                {
                    "date": d.isoformat(),
                    "country": countries[keep],
                    "os": os_arr[keep],
                    "count": counts[keep, j].astype(str),
                }
            )
            fname = f"api_requests_{d.isoformat()}.csv"
            if cfg.inject_defects and len(df):
                df = _inject_defects(df, fname, d, rng, defects)
                # a stream of its own, so adding these defects left every other value of the extract as it was
                df = _inject_count_defects(df, fname, np.random.default_rng([cfg.seed, j, 17]), defects)
            if df.empty:
                continue  # a pipeline gap: upstream delivered no file for this day
            df = df[list(API_LOG_COLUMNS)]  # the feed's contract (ml/contracts.py)
            df.to_csv(landing / fname, index=False)
            n_rows += len(df)
            if cfg.inject_defects and j in (10, 40) and len(df):
                redelivered = f"api_requests_{d.isoformat()}_redelivery.csv"
                df.to_csv(landing / redelivered, index=False)
                defects.append(
                    {
                        "defect_type": "redelivered_file",
                        "file_name": redelivered,
                        "line_number": None,
                        "detail": f"identical copy of {fname}",
                        "expected_outcome": "file skipped",
                    }
                )
            if progress_every and (j + 1) % progress_every == 0:
                log_event("generate_api_logs.progress", days_written=j + 1, of_days=n_d, rows=n_rows)
        inc_df = pd.DataFrame([{**inc.__dict__, "level": inc.level, "series_key": inc.series_key} for inc in incidents])
        inc_df.to_csv(ground_truth / "api_incidents.csv", index=False)
        defects_df = pd.DataFrame(
            defects, columns=["defect_type", "file_name", "line_number", "detail", "expected_outcome"]
        )
        defects_df["line_number"] = defects_df["line_number"].astype("Int64")
        defects_df.to_csv(ground_truth / "api_defects.csv", index=False)
        facts.update(rows=n_rows, files=n_d, incidents=len(incidents), defects=len(defects))
    return {"rows": n_rows, "series": n_s, "days": n_d, "incidents": len(incidents), "defects": len(defects)}


def _record(defects: list[dict], kind: str, fname: str, idx: int, detail: str, outcome: str) -> None:
    """One injected defect in the ground-truth log; `idx` is the row's 0-based position in the file's frame."""
    # +2: one header line, 1-based line numbers.
    defects.append(
        {"defect_type": kind, "file_name": fname, "line_number": idx + 2, "detail": detail, "expected_outcome": outcome}
    )


def _inject_defects(
    df: pd.DataFrame, fname: str, d: date, rng: np.random.Generator, defects: list[dict]
) -> pd.DataFrame:
    """Spelling defects mutate real rows (repairable); junk rows are added (quarantined); all recorded."""
    df = df.copy()
    n = len(df)

    def note(kind: str, idx: int, detail: str, outcome: str) -> None:
        _record(defects, kind, fname, idx, detail, outcome)

    repairs = [
        ("country_lowercase", "country", lambda v: v.lower(), "repaired: upper-cased"),
        ("country_spaces", "country", lambda v: f" {v} ", "repaired: trimmed"),
        ("os_case", "os", lambda v: v.upper(), "repaired: os alias"),
        ("os_spaces", "os", lambda v: f" {v.lower()} ", "repaired: os alias"),
    ]
    for kind, col, fn, outcome in repairs:
        i = int(rng.integers(0, n))
        old = df.at[i, col]
        df.at[i, col] = fn(old)
        note(kind, i, f"{old!r} -> {df.at[i, col]!r}", outcome)
    gb = np.flatnonzero(df["country"].to_numpy() == "GB")
    if len(gb):
        i = int(gb[0])
        df.at[i, "country"] = "UK"
        note("country_alias", i, "'GB' -> 'UK'", "repaired: alias UK -> GB")
    junk = [
        ("country_unknown", {"country": "XX"}, "quarantined: unknown_country"),
        ("country_empty", {"country": ""}, "quarantined: missing_country"),
        ("count_negative", {"count": "-" + str(int(rng.integers(1, 500)))}, "quarantined: negative_count"),
        ("count_non_numeric", {"count": "n/a"}, "quarantined: non_numeric_count"),
        ("count_empty", {"count": ""}, "quarantined: missing_count"),
        (
            "date_out_of_range",
            {"date": (d + timedelta(days=400)).isoformat()},
            "quarantined: date_out_of_range",
        ),
    ]
    extra = []
    for kind, override, outcome in junk:
        if rng.random() < 0.5:
            continue
        src = df.iloc[int(rng.integers(0, n))].to_dict()
        src.update(override)
        extra.append(src)
        note(kind, n + len(extra) - 1, str(override), outcome)
    dups = []
    for _ in range(int(rng.integers(0, 3))):
        i = int(rng.integers(0, n))
        dups.append(df.iloc[i].to_dict())
        note("exact_duplicate_row", n + len(extra) + len(dups) - 1, f"copy of line {i + 2}", "deduplicated")
    return pd.concat([df, pd.DataFrame(extra + dups, columns=df.columns)], ignore_index=True)


# Counts that a bare try_cast(... as bigint) used to stage: 12.7 as 13, 1e3 and 1_000 as 1000, and 2^63-1 as
# itself, which the detector reported as a +1.98e14 % anomaly (issue 15).
COUNT_DEFECTS = [
    ("count_decimal", "12.7", "quarantined: non_integer_count"),
    ("count_exponent", "1e3", "quarantined: non_integer_count"),
    ("count_underscore", "1_000", "quarantined: non_integer_count"),
    ("count_int64_max", str(2**63 - 1), "quarantined: implausible_count"),
    ("count_above_bound", "100000000001", "quarantined: implausible_count"),
]


def _inject_count_defects(df: pd.DataFrame, fname: str, rng: np.random.Generator, defects: list[dict]) -> pd.DataFrame:
    """Copies of real rows whose count is a number but not a plain, plausible integer (one file in ten each)."""
    extra = []
    for kind, count, outcome in COUNT_DEFECTS:
        if rng.random() >= 0.1:
            continue
        row = df.iloc[int(rng.integers(0, len(df)))].to_dict() | {"count": count}
        extra.append(row)
        _record(defects, kind, fname, len(df) + len(extra) - 1, f"count {count!r}", outcome)
    return pd.concat([df, pd.DataFrame(extra, columns=df.columns)], ignore_index=True) if extra else df
