"""Synthetic weekly call aggregates per number, independent spam labels, and a ground truth.

What it writes (see docs/spam_classifier.md and ../shared/design/calls.md):
* `landing/calls/calls_<monday>.csv`, one file per week: `id, country, call_count, unique_call_count,
  total_duration, answered_call_count, rejected_call_count, missed_call_count, weekdays_call_count,
  weekend_call_count, overtime_call_count, out_of_work_call_count` and, from `feature_start_week` on,
  `manual_spam_count` (the app starts collecting it: older files do not have the column).
* `landing/call_labels/labels_<monday>.csv`: labels from an independent source (moderation review, honeypot
  hits, operator traceback) for a subset of number-weeks, delivered in the week they arrive (1-4 weeks late),
  with `label_noise` of them wrong. Labels never come from the reports that make `manual_spam_count`.
* `ground_truth/calls_numbers.csv` (true class and archetype per number) and `calls_defects.csv` (every
  injected data-quality defect with its file and line).

Classes overlap on purpose: aggressive-but-legitimate businesses, low-volume scammers that look like
consumers, spam numbers nobody reports (40-70 %), legitimate numbers with a false report. The report count of
reported spam follows the FTC Do-Not-Call shape (../shared/benchmarks/spam: 93 % of reported numbers have
exactly one report, tail to hundreds). Deterministic per seed; vectorised, so it scales to tens of millions of
numbers per week (memory is about 1 GiB per 5M numbers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ml.contracts import CALL_COLUMNS, LABEL_COLUMNS
from ml.logs import log_event, timed
from ml.settings import DEFAULT_SEED

REFERENCE_WEEK = date(2024, 4, 8)  # the reference extract: 2024-04-08..2024-04-15

NEW_COLUMN = "manual_spam_count"

# country -> (share of legitimate numbers, spam-prevalence multiplier)
COUNTRIES: dict[str, tuple[float, float]] = {
    "IN": (0.24, 1.6),
    "BR": (0.12, 1.3),
    "US": (0.10, 1.5),
    "ID": (0.08, 1.0),
    "NG": (0.05, 1.4),
    "EG": (0.05, 1.0),
    "PK": (0.05, 1.1),
    "MX": (0.05, 1.2),
    "DE": (0.05, 0.5),
    "GB": (0.04, 0.7),
    "SA": (0.04, 0.8),
    "TR": (0.04, 0.9),
    "KE": (0.03, 1.2),
    "ZA": (0.03, 1.1),
    "PH": (0.03, 1.0),
}

# archetype -> (class, share within class, call-count median, log-sd across numbers)
ARCHETYPES: dict[str, tuple[str, float, float, float]] = {
    "consumer": ("legit", 0.90, 10.0, 0.6),
    "business": ("legit", 0.08, 400.0, 1.0),
    "aggressive_business": ("legit", 0.02, 800.0, 0.8),
    "robocaller": ("spam", 0.55, 150.0, 1.3),
    "low_volume_scammer": ("spam", 0.30, 20.0, 0.6),
    "wangiri": ("spam", 0.15, 300.0, 0.8),
}
# archetype -> uniform ranges (low, high): unique/call, answered/call, rejected share of unanswered,
# weekend share, working-hours share; and median seconds per answered call
BEHAVIOUR: dict[str, dict[str, tuple[float, float]]] = {
    "consumer": {"uniq": (0.3, 0.7), "ans": (0.6, 0.75), "rej": (0.2, 0.4), "wkend": (0.2, 0.35), "work": (0.4, 0.6)},
    "business": {
        "uniq": (0.6, 0.95),
        "ans": (0.45, 0.6),
        "rej": (0.2, 0.4),
        "wkend": (0.02, 0.15),
        "work": (0.8, 0.95),
    },
    "aggressive_business": {
        "uniq": (0.85, 0.99),
        "ans": (0.2, 0.4),
        "rej": (0.4, 0.6),
        "wkend": (0.05, 0.2),
        "work": (0.7, 0.9),
    },
    "robocaller": {
        "uniq": (0.9, 1.0),
        "ans": (0.05, 0.15),
        "rej": (0.4, 0.7),
        "wkend": (0.02, 0.1),
        "work": (0.8, 0.95),
    },
    "low_volume_scammer": {  # looks like a consumer in call statistics: only reports give it away
        "uniq": (0.5, 0.9),
        "ans": (0.45, 0.7),
        "rej": (0.2, 0.45),
        "wkend": (0.12, 0.3),
        "work": (0.45, 0.7),
    },
    "wangiri": {"uniq": (0.95, 1.0), "ans": (0.02, 0.08), "rej": (0.2, 0.4), "wkend": (0.02, 0.1), "work": (0.8, 0.95)},
}
SECONDS_PER_ANSWERED = {
    "consumer": 150.0,
    "business": 110.0,
    "aggressive_business": 60.0,
    "robocaller": 11.0,
    "low_volume_scammer": 90.0,
    "wangiri": 1.5,
}
# archetype -> probability that a number is ever reported by users (manual_spam_count >= 1 in a week it is seen)
REPORT_PROPENSITY = {
    "consumer": 0.002,
    "business": 0.03,
    "aggressive_business": 0.15,
    "robocaller": 0.45,
    "low_volume_scammer": 0.6,
    "wangiri": 0.5,
}
# defect -> what staging must do with the damaged row (tests/python/test_spam_pipeline.py checks it)
EXPECTED_OUTCOME = {
    "null_count": "quarantined: missing_count",
    "negative_count": "quarantined: negative_count",
    "broken_answer_identity": "quarantined: broken_answer_identity",
    "unique_above_calls": "quarantined: unique_above_calls",
    "unknown_country": "quarantined: unknown_country",
    "duplicate_exact": "deduplicated",
    "duplicate_conflicting": "quarantined: conflicting_duplicate",
    # added rows (see _inject_count_defects), not in DEFECT_KINDS
    "call_count_decimal": "quarantined: non_integer_count",
    "call_count_int64_max": "quarantined: implausible_count",
}
# counts a bare try_cast(... as bigint) used to stage: 12.7 as 13, and 2^63-1, which overflowed ln(1 + x) in the
# feature model and failed every later run (issue 15)
COUNT_DEFECTS = {"call_count_decimal": "12.7", "call_count_int64_max": str(2**63 - 1)}
DEFECT_KINDS = (
    "null_count",
    "negative_count",
    "broken_answer_identity",
    "unique_above_calls",
    "unknown_country",
    "duplicate_exact",
    "duplicate_conflicting",
)


@dataclass(frozen=True)
class CallsConfig:
    seed: int = DEFAULT_SEED
    numbers_per_week: int = 200_000  # active numbers per week (about)
    weeks: int = 8
    last_week: date = REFERENCE_WEEK  # Monday of the last week written
    feature_start_week: int = 3  # 1-based week in which manual_spam_count first appears (default: last 6 weeks)
    spam_rate: float = 0.02
    label_rate_spam: float = 0.5  # share of spam number-weeks that an independent source labels
    label_rate_legit: float = 0.06  # reviews go mostly to suspicious numbers: spam is over-represented in labels
    label_noise: float = 0.02  # share of delivered labels that are wrong, either way (1-5 % in practice)
    defect_rate: float = 0.0005  # share of rows per file that get one injected defect
    drift_weeks: int = 0  # the last N weeks get a behaviour shift (monitoring and retraining tests)

    def __post_init__(self) -> None:
        if self.last_week.weekday() != 0:
            raise ValueError(f"last_week must be a Monday, got {self.last_week} ({self.last_week:%A})")
        if not 1 <= self.feature_start_week <= self.weeks + 1:
            raise ValueError(f"feature_start_week must be in 1..{self.weeks + 1}, got {self.feature_start_week}")
        if not 0 <= self.label_noise < 0.5:
            raise ValueError(f"label_noise must be in [0, 0.5), got {self.label_noise}")

    @property
    def week_starts(self) -> list[date]:
        return [self.last_week - timedelta(weeks=self.weeks - 1 - i) for i in range(self.weeks)]

    @property
    def as_of(self) -> date:
        """The extract is taken the day after the last week ends: labels arriving later are not delivered."""
        return self.last_week + timedelta(days=7)


def _number_ids(idx: np.ndarray) -> np.ndarray:
    """Distinct 10-digit ids: a bijection of the index on [0, 9e9) (multiplier coprime with 9e9)."""
    return 1_000_000_000 + (idx.astype(np.int64) * 2_654_435_761) % 9_000_000_000


def _population(cfg: CallsConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Every number that is active in at least one week, with its persistent traits and active weeks."""
    w = cfg.weeks
    n_legit = int(round(cfg.numbers_per_week * (1 - cfg.spam_rate) / 0.85))  # legit active 85 % of weeks
    # spam numbers rotate: each lives a geometric number of weeks (mean 2) from a start week
    spam_start = rng.integers(-2, w, size=10 * max(1, int(cfg.numbers_per_week * cfg.spam_rate)))
    spam_life = rng.geometric(0.5, size=spam_start.size)
    active_spam_weeks = np.clip(spam_start + spam_life, 0, w) - np.clip(spam_start, 0, w)
    keep_mean = active_spam_weeks.sum() / w
    n_spam = int(round(spam_start.size * min(1.0, cfg.numbers_per_week * cfg.spam_rate / max(keep_mean, 1))))
    spam_start, spam_life = spam_start[:n_spam], spam_life[:n_spam]
    n = n_legit + n_spam
    # archetypes and countries as integer codes (string work on tens of millions of rows is the slow part)
    names = list(ARCHETYPES)
    arche = np.empty(n, dtype=np.int8)
    for c, size, offset in (("legit", n_legit, 0), ("spam", n_spam, n_legit)):
        idx = [i for i, a in enumerate(names) if ARCHETYPES[a][0] == c]
        shares = np.array([ARCHETYPES[names[i]][1] for i in idx])
        arche[offset : offset + size] = np.array(idx, dtype=np.int8)[
            rng.choice(len(idx), size=size, p=shares / shares.sum())
        ]
    codes = list(COUNTRIES)
    share = np.array([COUNTRIES[c][0] for c in codes])
    spam_share = share * np.array([COUNTRIES[c][1] for c in codes])
    country = np.empty(n, dtype=np.int8)
    country[:n_legit] = rng.choice(len(codes), size=n_legit, p=share / share.sum())
    country[n_legit:] = rng.choice(len(codes), size=n_spam, p=spam_share / spam_share.sum())
    # active weeks as a bit mask (weeks <= 62)
    legit_active = rng.random((n_legit, w)) < 0.85
    weeks = np.arange(w)
    spam_active = (weeks[None, :] >= spam_start[:, None]) & (weeks[None, :] < (spam_start + spam_life)[:, None])
    active = np.vstack([legit_active, spam_active])
    mask = (active * (1 << weeks)).sum(axis=1).astype(np.int64)
    order = rng.permutation(n)  # ids do not reveal the class
    table = lambda values: np.array(values)[arche]  # noqa: E731  per-archetype constant -> per number
    pop = pd.DataFrame(
        {
            "id": _number_ids(order),
            "arch": arche,
            "is_spam": np.arange(n) >= n_legit,
            "country_code": country,
            "active_mask": mask,
        }
    )
    pop["median_calls"] = np.exp(
        np.log(table([ARCHETYPES[a][2] for a in names]))
        + rng.normal(0, 1, n) * table([ARCHETYPES[a][3] for a in names])
    )
    for key in ("uniq", "ans", "rej", "wkend", "work"):
        lo, hi = table([BEHAVIOUR[a][key][0] for a in names]), table([BEHAVIOUR[a][key][1] for a in names])
        pop[key] = lo + (hi - lo) * rng.random(n)
    pop["sec_per_answer"] = table([SECONDS_PER_ANSWERED[a] for a in names]) * np.exp(rng.normal(0, 0.4, n))
    pop["reported"] = rng.random(n) < table([REPORT_PROPENSITY[a] for a in names])
    return pop[pop["active_mask"] > 0].reset_index(drop=True)


def _binomial(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    return rng.binomial(n, np.clip(p, 0.0, 1.0))


def _week_rows(cfg: CallsConfig, pop: pd.DataFrame, week: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per number active in `week` (0-based), identities exact."""
    act = pop[(pop["active_mask"].to_numpy() >> week) & 1 == 1]
    n = len(act)
    drift = week >= cfg.weeks - cfg.drift_weeks
    wangiri = act["arch"].to_numpy() == list(ARCHETYPES).index("wangiri")
    spam = act["is_spam"].to_numpy()
    mean = act["median_calls"].to_numpy() * np.exp(rng.normal(0, 0.3, n))
    if drift:  # a campaign: spam calls less and talks longer, consumers call more (e.g. a holiday)
        mean = np.where(spam, mean * 0.5, mean * 1.6)
    calls = np.maximum(1, rng.poisson(mean))
    jitter = lambda col, sd: np.clip(act[col].to_numpy() + rng.normal(0, sd, n), 0.0, 1.0)  # noqa: E731
    uniq = np.clip(_binomial(rng, calls, jitter("uniq", 0.03)), 1, calls)
    ans_rate = jitter("ans", 0.03)
    if drift:
        ans_rate = np.where(spam, np.clip(ans_rate * 2.0, 0, 1), ans_rate)
    answered = _binomial(rng, calls, ans_rate)
    rejected = _binomial(rng, calls - answered, jitter("rej", 0.05))
    missed = calls - answered - rejected
    weekend = _binomial(rng, calls, jitter("wkend", 0.02))
    in_hours = _binomial(rng, calls, jitter("work", 0.03))
    sec = act["sec_per_answer"].to_numpy() * np.where(spam & drift, 1.8, 1.0)
    duration = np.round(answered * sec * np.exp(rng.normal(0, 0.2, n))).astype(np.int64)
    duration = np.where(wangiri, np.round(answered * rng.uniform(0, 3, n)).astype(np.int64), duration)
    # manual_spam_count: reported numbers get 1 report most weeks, a heavy tail scaled by volume (FTC shape)
    reported = act["reported"].to_numpy() & (rng.random(n) < np.where(spam, 0.85, 0.5))
    extra = np.where(
        rng.random(n) < 0.9,
        0,
        np.floor(rng.lognormal(np.log(2.0), 1.5, n) * np.sqrt(calls / 150.0)),
    ).astype(np.int64)
    reports = np.where(reported, 1 + np.minimum(extra, 2000), 0)
    return pd.DataFrame(
        {
            "id": act["id"].to_numpy(),
            "country": np.array(list(COUNTRIES), dtype=object)[act["country_code"].to_numpy()],
            "call_count": calls,
            "unique_call_count": uniq,
            "total_duration": duration,
            "answered_call_count": answered,
            "rejected_call_count": rejected,
            "missed_call_count": missed,
            "weekdays_call_count": calls - weekend,
            "weekend_call_count": weekend,
            "overtime_call_count": in_hours,
            "out_of_work_call_count": calls - in_hours,
            NEW_COLUMN: reports,
            "_spam": spam,
        }
    )


def _inject_defects(
    df: pd.DataFrame, cfg: CallsConfig, rng: np.random.Generator, file_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Damage a few rows the way real exports do (vectorised per kind); return the frame and the defect log."""
    n_def = int(round(len(df) * cfg.defect_rate))
    out = df.drop(columns="_spam")
    columns = ["file_name", "line_number", "id", "defect", "expected_outcome"]
    if n_def == 0:
        return out, pd.DataFrame(columns=columns)
    rows = rng.choice(len(out), size=n_def, replace=False)
    kinds = np.array(DEFECT_KINDS)[np.arange(n_def) % len(DEFECT_KINDS)]
    null_cols = rng.choice(["call_count", "answered_call_count", "total_duration"], size=n_def)
    for col in ("call_count", "answered_call_count", "total_duration"):
        hit = rows[(kinds == "null_count") & (null_cols == col)]
        if hit.size:
            out[col] = out[col].astype("Int64")  # nullable: the CSV gets an empty field
            out.loc[hit, col] = pd.NA
    hit = rows[kinds == "negative_count"]
    out.loc[hit, "missed_call_count"] = -np.maximum(1, df["missed_call_count"].to_numpy()[hit])
    hit = rows[kinds == "broken_answer_identity"]
    out.loc[hit, "answered_call_count"] = df["answered_call_count"].to_numpy()[hit] + 3
    hit = rows[kinds == "unique_above_calls"]
    out.loc[hit, "unique_call_count"] = df["call_count"].to_numpy()[hit] + 5
    out.loc[rows[kinds == "unknown_country"], "country"] = "XX"
    is_dup = np.isin(kinds, ["duplicate_exact", "duplicate_conflicting"])
    dups = out.iloc[rows[is_dup]].copy()
    conflicting = kinds[is_dup] == "duplicate_conflicting"
    dups.loc[dups.index[conflicting], "total_duration"] = dups["total_duration"].to_numpy()[conflicting] + 60
    out = pd.concat([out, dups], ignore_index=True)  # duplicates land at the end of the file, in this order
    line = rows + 2  # header is line 1
    line[is_dup] = len(df) + 2 + np.arange(is_dup.sum())
    log = pd.DataFrame({"file_name": file_name, "line_number": line, "id": df["id"].to_numpy()[rows], "defect": kinds})
    log["expected_outcome"] = log["defect"].map(EXPECTED_OUTCOME)
    return out, log[columns]


def _inject_count_defects(
    text: pd.DataFrame, cfg: CallsConfig, week: int, file_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Append copies of real rows under new numbers whose call_count is not a plain, plausible integer. A random
    stream of their own, so the rest of the extract (and everything trained on it) is as it was without them."""
    rng = np.random.default_rng([cfg.seed, week, 17])
    junk = text.iloc[rng.choice(len(text), size=len(COUNT_DEFECTS), replace=False)].copy()
    junk["id"] = [f"{i}{k}" for k, i in enumerate(junk["id"].astype(str))]  # 11 digits: no real number
    junk["call_count"] = list(COUNT_DEFECTS.values())
    out = text.copy()
    out["call_count"] = out["call_count"].astype("string")
    out = pd.concat([out, junk.astype({"call_count": "string"})], ignore_index=True)
    log = pd.DataFrame(
        {
            "file_name": file_name,
            "line_number": len(text) + 2 + np.arange(len(junk)),  # header is line 1
            "id": junk["id"].to_numpy(),
            "defect": list(COUNT_DEFECTS),
        }
    )
    log["expected_outcome"] = log["defect"].map(EXPECTED_OUTCOME)
    return out, log


def _labels(cfg: CallsConfig, week_rows: pd.DataFrame, week_start: date, rng: np.random.Generator) -> pd.DataFrame:
    """Independent labels for a subset of this week's numbers, with delay and noise."""
    spam = week_rows["_spam"].to_numpy()
    take = rng.random(len(week_rows)) < np.where(spam, cfg.label_rate_spam, cfg.label_rate_legit)
    sub_spam = spam[take]
    n = int(take.sum())
    truth = np.where(sub_spam, "spam", "legit")
    flip = rng.random(n) < cfg.label_noise
    label = np.where(flip, np.where(sub_spam, "legit", "spam"), truth)
    source = np.where(
        sub_spam,
        rng.choice(["honeypot", "moderation_review", "operator_traceback"], size=n, p=[0.4, 0.4, 0.2]),
        rng.choice(["moderation_review", "operator_traceback"], size=n, p=[0.8, 0.2]),
    )
    delay_days = 7 + np.minimum(np.floor(rng.exponential(6.0, n)), 21).astype(int)
    labelled_at = pd.to_datetime(week_start) + pd.to_timedelta(delay_days, unit="D")
    return pd.DataFrame(
        {
            "id": week_rows["id"].to_numpy()[take].astype(str),
            "week_start": week_start.isoformat(),
            "label": label,
            "label_source": source,
            "labelled_at": labelled_at.strftime("%Y-%m-%d"),
            "_noisy": flip,
        }
    )


def _write_csv(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, path: Path) -> None:
    con.register("out_frame", df)
    con.execute(f"copy (select * from out_frame) to '{path}' (header, delimiter ',', quote '\"')")
    con.unregister("out_frame")


def generate_calls(cfg: CallsConfig, landing: Path, labels_landing: Path, ground_truth: Path) -> dict:
    """Write the weekly call files, the label files and the ground truth; return a summary."""
    for d in (landing, labels_landing, ground_truth):
        d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    summary = {"files": cfg.weeks, "rows": 0, "defects": 0, "labels_delivered": 0, "labels_pending": 0}
    with timed("generate_calls", numbers_per_week=cfg.numbers_per_week, weeks=cfg.weeks, seed=cfg.seed) as facts:
        pop = _population(cfg, rng)
        truth = pd.DataFrame(
            {
                "id": pop["id"].to_numpy(),
                "country": np.array(list(COUNTRIES), dtype=object)[pop["country_code"].to_numpy()],
                "true_class": np.where(pop["is_spam"].to_numpy(), "spam", "legit"),
                "archetype": np.array(list(ARCHETYPES), dtype=object)[pop["arch"].to_numpy()],
            }
        )
        _write_csv(con, truth, ground_truth / "calls_numbers.csv")
        del truth
        defects, labels = [], []
        for week, week_start in enumerate(cfg.week_starts):
            t0 = time.perf_counter()
            rows = _week_rows(cfg, pop, week, rng)
            labels.append(_labels(cfg, rows, week_start, rng))
            if week + 1 < cfg.feature_start_week:
                rows = rows.drop(columns=NEW_COLUMN)
            name = f"calls_{week_start.isoformat()}.csv"
            text, log = _inject_defects(rows, cfg, rng, name)
            if cfg.defect_rate > 0:
                text, count_log = _inject_count_defects(text, cfg, week, name)
                log = pd.concat([log, count_log], ignore_index=True)
            contract = [*CALL_COLUMNS, *([NEW_COLUMN] if NEW_COLUMN in text.columns else [])]  # ml/contracts.py
            _write_csv(con, text[contract], landing / name)
            defects.append(log)
            summary["rows"] += len(text)
            log_event(
                "generate_calls.progress",
                week=week_start.isoformat(),
                rows=len(text),
                has_manual_spam_count=NEW_COLUMN in text.columns,
                seconds=round(time.perf_counter() - t0, 2),
            )
        all_labels = pd.concat(labels, ignore_index=True)
        arrival = pd.to_datetime(all_labels["labelled_at"]).dt.date
        delivered = all_labels[arrival < cfg.as_of].copy()
        delivered["file_week"] = pd.to_datetime(delivered["labelled_at"]).dt.to_period("W-SUN").dt.start_time.dt.date
        for file_week, part in delivered.groupby("file_week"):
            part[list(LABEL_COLUMNS)].to_csv(labels_landing / f"labels_{file_week.isoformat()}.csv", index=False)
        all_labels.rename(columns={"_noisy": "is_noisy"}).to_csv(ground_truth / "calls_labels_all.csv", index=False)
        pd.concat(defects, ignore_index=True).to_csv(ground_truth / "calls_defects.csv", index=False)
        summary.update(
            defects=int(sum(len(d) for d in defects)),
            labels_delivered=len(delivered),
            labels_pending=len(all_labels) - len(delivered),
            numbers=len(pop),
            spam_numbers=int(pop["is_spam"].sum()),
        )
        facts.update(summary)
    con.close()
    return summary
