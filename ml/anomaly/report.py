"""The text of `make run`'s answer: the evaluation table and the anomalies of the detection period (`format_*`
return it; the CLIs print it)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from ml.anomaly.uncertainty import RESAMPLES, series_margins
from ml.text import fit


def _table(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda x: f"{x:.3f}")


EVALUATION_LEGEND = (
    "Ranked by Fc (harmonic mean of point precision and event recall) within each data set and event type.\n"
    "  events: labelled events scored; tp / fp: events detected / false-alarm runs (tolerance 1 bucket);\n"
    "  ev_f1: event F1; pt_p / pt_r: point precision / recall; flag%: flagged buckets / scored buckets;\n"
    "  series: series scored after one common warm-up (evaluation.fct_eval_series lists the skipped ones).\n"
    "  always / never: baselines that flag every bucket with a value / nothing."
)


NO_GROUND_TRUTH = (
    "  The extract has no ground truth (it was not generated: no ground_truth/api_incidents.csv), so it is not\n"
    "  scored; the labelled benchmarks are."
)


def evaluation_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """
        select dataset, event_type as events_of, fc_rank as rank, detector, n_series as series,
               n_events as events, events_detected as tp, false_alarms as fp, fc,
               event_f1 as ev_f1, point_precision as pt_p, point_recall as pt_r, 100 * flag_rate as "flag%"
        from evaluation.fct_detector_evaluation
        order by dataset = 'synthetic' desc, dataset, event_type = 'all' desc, event_type, fc_rank, detector
        """
    ).df()


def format_evaluation(con: duckdb.DuckDBPyConnection) -> str:
    out: list[str] = []
    df = evaluation_table(con)
    out.append("\n=== Detector evaluation (evaluation.fct_detector_evaluation) ===")
    out.append(EVALUATION_LEGEND)
    if "synthetic" not in set(df["dataset"]):
        out.append(NO_GROUND_TRUTH)
    out.append(_table(df))
    out.append(format_margins(series_margins(con)))
    return "\n".join(out) + "\n"


MARGINS_TITLE = "\n=== Margin over the best peer, by series resampling ==="
MARGINS_LEGEND = (
    "How much the ranking depends on which series are in a set: the default's margin over the best peer, with a\n"
    f"  95 % interval from {RESAMPLES:,} paired resamples of the scored series (evaluation.fct_eval_series_scores);\n"
    "  p>0 / p>=0.10: share of resamples where the margin is above 0 / at least 0.10 (issue 13's target)."
)


def format_margins(margins: pd.DataFrame) -> str:
    if margins.empty:
        return f"{MARGINS_TITLE}\n(no scored series)"
    table = margins.assign(
        interval=[f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(margins["ci_low"], margins["ci_high"], strict=True)],
        margin=[f"{m:+.3f}" for m in margins["margin"]],
    )[["dataset", "score", "series", "robust_seasonal", "best_peer", "peer_score", "margin", "interval"]]
    table["p>0"] = margins["p_above_0"]
    table["p>=0.10"] = margins["p_at_least_0_10"]
    return "\n".join([MARGINS_TITLE, MARGINS_LEGEND, _table(table)])


def answer(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """
        select start_date, end_date, level, country, os, direction,
               round(100 * peak_deviation_pct, 1) as deviation_pct,
               round(peak_value) as value, round(peak_expected_value) as expected,
               case when on_holiday then coalesce(calendar_label, 'holiday') else '' end as holiday,
               coalesce(contributors, '') as contributors, peak_explanation as why
        from marts.fct_api_anomaly_detection_summary
        order by start_date, level, series_key
        """
    ).df()


SERIES = {"total": "total", "country": "{country}, all OS", "os": "{os}, all countries", "country_os": "{country} {os}"}


def format_incidents(df: pd.DataFrame) -> str:
    """One block per incident: when, which series, direction and size (counts as integers, a missing day said
    so), then its contributors and the detector's reason, within 120 columns."""
    blocks = []
    for r in df.itertuples(index=False):
        days = str(r.start_date)[:10] + ("" if r.end_date == r.start_date else f" .. {str(r.end_date)[:10]}")
        series = SERIES.get(r.level, "{country} {os}").format(country=r.country, os=r.os)
        expected = "unknown" if pd.isna(r.expected) else f"{int(r.expected):,}"
        if r.direction == "missing" or pd.isna(r.value):
            size = f"missing (no row; expected {expected})"
        elif pd.isna(r.deviation_pct):  # nothing expected: a new series (or one back after a gap), or a 0 level
            size = f"{r.direction}: {int(r.value):,} requests, none expected"
        else:
            size = f"{r.direction} {r.deviation_pct:+.1f} %: {int(r.value):,} requests, expected {expected}"
        head = f"{days:<24} {r.level:<10} {series:<22} {size}" + (f" [{r.holiday}]" if r.holiday else "")
        lines = [head] + [f"    contributors: {r.contributors}"] * bool(r.contributors) + [f"    why: {r.why}"]
        blocks.append(fit("\n".join(lines)))
    return "\n".join(blocks)


def coverage(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """What the answer rests on, from the metric mart (the dashboard's definitions): the detection period's
    series-days (every level) and how many the detector judged, and the raw rows of the extract and how many
    were rejected at load, by reason."""
    days, judged = con.execute(
        """
        select coalesce(sum(m.value), 0), coalesce(sum(m.value) filter (where m.breakdown = 'judged'), 0)
        from marts.fct_kpi_metrics_daily as m
        inner join intermediate.int_api_detection_period as p
            on m.metric_date between p.detection_start and p.detection_end
        where m.metric_name = 'api_series_days'
        """
    ).fetchone()
    unjudged = con.execute(
        """
        select m.level, m.country, m.os, sum(m.value) as days
        from marts.fct_kpi_metrics_daily as m
        inner join intermediate.int_api_detection_period as p
            on m.metric_date between p.detection_start and p.detection_end
        where m.metric_name = 'api_series_days' and m.breakdown = 'not_judged'
        group by 1, 2, 3
        order by 4 desc, 1, 2, 3
        """
    ).fetchall()
    (raw,) = con.execute("select coalesce(sum(raw_rows), 0) from marts.fct_api_request_load_reconciliation").fetchone()
    reasons = con.execute(
        "select breakdown, sum(value) from marts.fct_kpi_metrics_daily where metric_name = 'api_quarantined_rows' "
        "group by 1 order by 2 desc, 1"
    ).fetchall()
    return {
        "series_days": int(days),
        "judged": int(judged),
        "not_judged": [
            (SERIES.get(level, "{country} {os}").format(country=c, os=o), int(n)) for level, c, o, n in unjudged
        ],
        "raw_rows": int(raw),
        "rejected": {reason: int(n) for reason, n in reasons},
    }


def format_coverage(c: dict) -> str:
    """Two lines: how much of the period was judged, and how much of the extract was rejected (with why)."""
    days, judged = c["series_days"], c["judged"]
    lines = [
        f"judged: {judged:,} of {days:,} series-days of the period (every level)"
        + (f"; {days - judged:,} not judged: cold start, too little history yet" if judged < days else "")
    ]
    if 0 < judged < days:  # which series are new (or back after a gap): a small one moves no parent, and was unnamed
        lines.append(f"not judged yet: {_series_days(c['not_judged'])}")
    rejected = sum(c["rejected"].values())
    if rejected:
        lines.append(
            f"rejected at load: {rejected:,} of {c['raw_rows']:,} raw rows ({_by_reason(c['rejected'])}): "
            "marts.fct_api_requests_quarantined"
        )
    return "\n".join(fit(line) for line in lines + _hints(c["rejected"]))


def _series_days(series: list[tuple[str, int]], shown: int = 8) -> str:
    """`BR, all OS (8 days), BR Android (8 days), ... and 3 more series`: the most days first."""
    named = ", ".join(f"{name} ({n:,} day{'s' * (n != 1)})" for name, n in series[:shown])
    return named + (f" and {len(series) - shown:,} more series" if len(series) > shown else "")


def _by_reason(rejected: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in rejected.items())


def _hints(rejected: dict[str, int]) -> list[str]:
    """One line per rejection reason that has a hint."""
    return [f"{reason}: {REASON_HINTS[reason]}" for reason in rejected if reason in REASON_HINTS]


# What to do about a rejection reason whose fix is not plain from its name (docs/anomaly_detection.md has them all)
REASON_HINTS = {
    "invalid_date": "a date is read as ISO 8601 (2024-03-25), or with points or slashes and a four-digit year "
    "(25.03.2024, 03/25/2024), day or month first as the file's dates (or the feed's) make plain",
    "ambiguous_date": "dates such as 03/04/2024 read either day-first or month-first, and no date of their file, nor "
    "of the feed, has a part above 12 that would say which (or both orders occur); write them as ISO 8601 "
    "(2024-04-03)",
    "date_with_time": "the API-log feed takes one count per day and country x OS, and these rows carry a time of "
    "day (hourly or partial-day counts); sum them per day first, or judge the file as it is with `python -m ml "
    "detect FILE --time-col date --value-col count --series-col country --series-col os --agg sum --out OUT.csv`",
    "retracted_load": "these rows came in files taken back with `python -m ml retract` (raw.load_retractions says "
    "when and why); `python -m ml retract LOAD --restore` brings a file back",
}


def rejected_feed(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why a run had nothing to detect on, when no API-log row passed validation: the rows rejected, by reason.
    The dbt tests that fail then (an empty detection period) do not say it."""
    counts = con.execute(
        "select rejection_reason, count(*) filter (where row_status = 'quarantined'), "
        "count(*) filter (where row_status = 'staged'), count(*) from intermediate.int_api_requests_validated "
        "group by 1 order by 2 desc, 1"
    ).fetchall()
    raw, staged = sum(n for *_, n in counts), sum(s for _, _, s, _ in counts)
    if not raw or staged:
        return None
    rejected = {reason: q for reason, q, _, _ in counts if reason}
    lines = [
        f"no API-log row passed validation: {sum(rejected.values()):,} of {raw:,} raw rows were rejected at load "
        f"({_by_reason(rejected)}), so there was nothing to detect on; each row and its reason is in "
        "intermediate.int_api_requests_validated"
    ]
    return "\n".join(fit(line) for line in lines + _hints(rejected))


def format_answer(con: duckdb.DuckDBPyConnection, source: Path) -> str:
    """The detection-period answer; `source` is the DuckDB file `con` reads (the published snapshot, or the
    warehouse for `python -m ml answer`), named where the answer says where the full tables are."""
    out: list[str] = []
    period = con.execute("select detection_start, detection_end from intermediate.int_api_detection_period").fetchone()
    df = answer(con)
    out.append(
        f"\n=== Anomalies in the detection period {period[0]} .. {period[1]} (highest level explaining each move) ==="
    )
    c = coverage(con)
    out.append(format_coverage(c))
    if len(df):
        out.append(format_incidents(df))
    elif c["judged"] == 0:  # "no anomalies" would claim what nobody looked at
        out.append("nothing could be judged in this period, so no anomaly can be reported (see the lines above)")
    else:
        out.append("no anomalies in the judged series-days")
    out.append(
        f"\nFull tables in {source}:\n"
        "  marts.fct_api_request_anomalies            every day x level x series: value, expected, Q1, Q3, IQR, k,\n"
        "                                             bounds, deviation, direction, flag, explanation\n"
        "  marts.fct_api_anomaly_incidents            incidents (highest explaining level) over the whole extract\n"
        "  marts.fct_api_anomaly_detection_summary    the incidents of the detection period (above)\n"
        "  marts.fct_api_requests_quarantined         every rejected raw row with its reason\n"
        "  marts.fct_api_request_load_reconciliation  raw = staged + quarantined + duplicates, per load\n"
        "  evaluation.fct_detector_evaluation         the detector comparison table"
    )
    return "\n".join(out) + "\n"
