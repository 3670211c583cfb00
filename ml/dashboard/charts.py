"""The dashboard's charts as Vega-Lite specs, written with Altair. Filters are Vega-Lite parameters bound to
form controls (country, OS, feed) or brushed on a timeline (date range): they run in the browser, so the
built pages stay static files. The data is inlined in each spec; every page reads only what it shows."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import altair as alt
import pandas as pd

from ml.pages import COLOURS

DIRECTION_COLOURS = alt.Scale(domain=["up", "down", "missing"], range=["#c62828", "#1565c0", "#6a1b9a"])
STATUS_COLOURS = alt.Scale(domain=list(COLOURS), range=list(COLOURS.values()))  # as on the health page


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Dates as ISO text (Vega parses them as UTC days), missing values as JSON null."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]) or out[col].map(lambda v: isinstance(v, date)).any():
            out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    return json.loads(out.to_json(orient="records", date_format="iso"))  # NaN, NaT and None -> null


def _spec(chart: alt.TopLevelMixin, **data: pd.DataFrame) -> dict[str, Any]:
    """The Vega-Lite spec, its data as top-level named datasets (the chart refers to them by name: passing
    rows through Altair would walk every value as a schema object, and turn missing values into NaN)."""
    spec = chart.to_dict(validate=False)
    spec["datasets"] = spec.get("datasets", {}) | {name: _rows(df) for name, df in data.items()}
    return spec


def _named(name: str) -> alt.NamedData:
    return alt.NamedData(name=name)


def _day(d: date) -> alt.DateTime:
    return alt.DateTime(year=d.year, month=d.month, date=d.day)


def kpi_health(series: pd.DataFrame, start: date, end: date) -> dict[str, Any]:
    """The KPI page's linked views: a timeline of total requests to brush a date range on (the detection period
    at first), a country x day heat map of deviations with the flags, and the drill-down to one series (total,
    an OS, a country or a country x OS, chosen with the country and OS controls) with its expected value and
    bounds."""
    data = _named("series")
    countries = sorted(c for c in series["country"].unique() if c != "*")
    systems = sorted(o for o in series["os"].unique() if o != "*")
    country = alt.param(
        name="country", value="All", bind=alt.binding_select(options=["All", *countries], name="Country ")
    )
    os_ = alt.param(name="os", value="All", bind=alt.binding_select(options=["All", *systems], name="OS "))
    dates = alt.selection_interval(name="dates", encodings=["x"], value={"x": [_day(start), _day(end)]})
    x_day = alt.X("series_date:T", title=None)

    overview = (
        alt.Chart(data, title="Total requests: drag on this timeline to choose the date range")
        .transform_filter("datum.level == 'total'")
        .mark_area(opacity=0.4, line=True)
        .encode(x=x_day, y=alt.Y("value:Q", title="requests"))
        .add_params(dates)
        .properties(width=1000, height=70)
    )
    heat_rows = "os == 'All' ? datum.level == 'country' : (datum.level == 'country_os' && datum.os == os)"
    heat_base = alt.Chart(data).transform_filter(heat_rows).transform_filter(dates)
    cells = (
        heat_base.transform_calculate(
            deviation="isValid(datum.deviation_pct) ? clamp(datum.deviation_pct, -1, 1) : null"
        )
        .mark_rect()
        .encode(
            x=alt.X("yearmonthdate(series_date):O", title=None, axis=alt.Axis(format="%d %b", labelAngle=-60)),
            y=alt.Y("country:N", title=None, sort="ascending"),
            color=alt.Color(
                "deviation:Q",
                title="vs expected",
                scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
                legend=alt.Legend(format="+.0%"),
            ),
            opacity=alt.condition("country == 'All' || datum.country == country", alt.value(1), alt.value(0.25)),
            tooltip=[
                alt.Tooltip("series_key:N", title="series"),
                alt.Tooltip("series_date:T", title="day"),
                alt.Tooltip("value:Q", format=",.0f"),
                alt.Tooltip("expected_value:Q", title="expected", format=",.0f"),
                alt.Tooltip("deviation_pct:Q", title="deviation", format="+.1%"),
                alt.Tooltip("direction:N"),
            ],
        )
    )
    flags = (
        heat_base.transform_filter("datum.is_anomaly")
        .mark_point(shape="circle", size=30, filled=True)
        .encode(
            x=alt.X("yearmonthdate(series_date):O"),
            y=alt.Y("country:N", sort="ascending"),
            color=alt.value("#111"),
            tooltip=[alt.Tooltip("series_key:N", title="flagged"), alt.Tooltip("direction:N")],
        )
    )
    heat = (cells + flags).properties(
        width=1000, title="Deviation from expected per country and day (dots: flagged; OS control: one OS)"
    )

    chosen = (
        alt.Chart(data)
        .transform_filter("datum.country == (country == 'All' ? '*' : country) && datum.os == (os == 'All' ? '*' : os)")
        .transform_filter(dates)
    )
    band = chosen.mark_area(opacity=0.2, color="#1565c0").encode(
        x=x_day, y=alt.Y("lower_bound:Q", title="requests"), y2="upper_bound:Q"
    )
    expected = chosen.mark_line(strokeDash=[4, 3], color="#1565c0").encode(x=x_day, y="expected_value:Q")
    actual = chosen.mark_line(color="#222", point=alt.OverlayMarkDef(size=12, color="#222")).encode(
        x=x_day, y="value:Q", tooltip=[alt.Tooltip("series_date:T", title="day"), alt.Tooltip("value:Q", format=",.0f")]
    )
    flagged = (
        chosen.transform_filter("datum.is_anomaly")
        .mark_point(size=90, filled=True)
        .encode(
            x=x_day,
            y="value:Q",
            color=alt.Color("direction:N", scale=DIRECTION_COLOURS, title="flag"),
            tooltip=["series_key:N", alt.Tooltip("series_date:T", title="day"), "direction:N"],
        )
    )
    drill = (band + expected + actual + flagged).properties(
        width=1000,
        height=220,
        title="The chosen series (country and OS controls; All = the roll-up): value, expected value, bounds",
    )
    chart = alt.vconcat(overview, drill, heat).add_params(country, os_).resolve_scale(color="independent")
    return _spec(chart, series=series)


def loads(df: pd.DataFrame) -> dict[str, Any]:
    """Rows of every loaded file by verdict (staged, quarantined, duplicate), one feed at a time."""
    feeds = sorted(df["feed"].unique())
    feed = alt.param(name="feed", value=feeds[0], bind=alt.binding_select(options=feeds, name="Feed "))
    chart = (
        alt.Chart(_named("data"), title="Rows per loaded file, by verdict")
        .transform_filter("datum.feed == feed")
        .transform_fold(["staged_rows", "quarantined_rows", "duplicate_rows"], as_=["verdict", "rows"])
        .mark_bar()
        .encode(
            x=alt.X("file_name:N", title=None, sort="ascending", axis=alt.Axis(labelAngle=-60, labelLimit=200)),
            y=alt.Y("rows:Q", title="rows"),
            color=alt.Color(
                "verdict:N",
                scale=alt.Scale(
                    domain=["staged_rows", "quarantined_rows", "duplicate_rows"],
                    range=["#90a4ae", "#c62828", "#f9a825"],
                ),
            ),
            tooltip=["file_name:N", "verdict:N", alt.Tooltip("rows:Q", format=",")],
        )
        .add_params(feed)
        .properties(width=1000, height=220)
    )
    return _spec(chart, data=df)


def quarantine(df: pd.DataFrame) -> dict[str, Any]:
    chart = (
        alt.Chart(_named("data"), title="Quarantined rows by reason")
        .mark_bar()
        .encode(
            y=alt.Y("rejection_reason:N", title=None, sort="-x"),
            x=alt.X("quarantined_rows:Q", title="rows"),
            color=alt.Color("feed:N"),
            tooltip=["feed:N", "rejection_reason:N", alt.Tooltip("quarantined_rows:Q", format=",")],
        )
        .properties(width=700)
    )
    return _spec(chart, data=df)


def volume(df: pd.DataFrame) -> dict[str, Any]:
    """Rows appended per period with the volume monitor's band, one row of charts per feed."""
    base = alt.Chart(_named("data")).encode(x=alt.X("period_date:T", title=None))
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("lower_bound:Q", title="rows appended"), y2="upper_bound:Q")
    line = base.mark_line(point=True).encode(
        y="rows_appended:Q", tooltip=[alt.Tooltip("period_date:T", title="period"), "rows_appended:Q"]
    )
    out = (
        base.transform_filter("datum.is_anomaly")
        .mark_point(size=90, color="#c62828", filled=True)
        .encode(y="rows_appended:Q")
    )
    chart = (
        (band + line + out)
        .properties(width=1000, height=110)
        .facet(row=alt.Row("feed:N", title=None), title="Rows appended per period and the expected band (red: outside)")
        .resolve_scale(y="independent", x="independent")
    )
    return _spec(chart, data=df)


def tests(df: pd.DataFrame) -> dict[str, Any]:
    chart = (
        alt.Chart(_named("data"), title="dbt test executions per day, by status")
        .mark_bar()
        .encode(
            x=alt.X("run_date:O", title=None),
            y=alt.Y("test_executions:Q", title="executions"),
            color=alt.Color("status:N", scale=STATUS_COLOURS),
            tooltip=["run_date:O", "status:N", "test_executions:Q"],
        )
        .properties(width=500, height=200)
    )
    return _spec(chart, data=df)


def gate(intervals: pd.DataFrame) -> dict[str, Any]:
    """Challenger minus champion on the paired test rows: each estimate with its 95 % bootstrap interval."""
    base = alt.Chart(_named("data"), title="Challenger minus champion, 95 % bootstrap intervals").encode(
        y=alt.Y("measure:N", title=None, sort=None)
    )
    rule = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title="difference"), x2="high:Q")
    point = base.mark_point(filled=True, size=80, color="#222").encode(
        x="estimate:Q",
        tooltip=[
            "measure:N",
            alt.Tooltip("estimate:Q", format="+.4f"),
            alt.Tooltip("low:Q", format="+.4f"),
            alt.Tooltip("high:Q", format="+.4f"),
        ],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="#c62828", strokeDash=[4, 3]).encode(x="x:Q")
    return _spec((rule + point + zero).properties(width=700, height=28 * len(intervals)), data=intervals)


def flagged(df: pd.DataFrame) -> dict[str, Any]:
    """Numbers the champion flags per week and country; the country control keeps one country."""
    countries = sorted(df["country_code"].dropna().unique())
    country = alt.param(
        name="spam_country", value="All", bind=alt.binding_select(options=["All", *countries], name="Country ")
    )
    chart = (
        alt.Chart(_named("data"), title="Numbers flagged by the champion, per week and country")
        .transform_filter("spam_country == 'All' || datum.country_code == spam_country")
        .mark_bar()
        .encode(
            x=alt.X("country_code:N", title="country", sort="-y"),
            y=alt.Y("flagged:Q", title="numbers flagged"),
            color=alt.Color("week_start:O", title="week"),
            tooltip=[
                "week_start:O",
                "country_code:N",
                alt.Tooltip("flagged:Q", format=","),
                alt.Tooltip("scored:Q", format=","),
            ],
        )
        .add_params(country)
        .properties(width=700, height=220)
    )
    return _spec(chart, data=df)


def performance(df: pd.DataFrame) -> dict[str, Any]:
    chart = (
        alt.Chart(_named("data"), title="Precision and recall at the deployed threshold, per labelled week")
        .mark_line(point=True)
        .encode(
            x=alt.X("week_start:T", title=None),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("metric:N"),
            strokeDash=alt.StrokeDash("model_version:N", title="model version"),
            tooltip=[
                "week_start:T",
                "metric:N",
                "model_version:N",
                alt.Tooltip("value:Q", format=".3f"),
                "numerator:Q",
                "denominator:Q",
            ],
        )
        .properties(width=500, height=220)
    )
    return _spec(chart, data=df)


def drift(df: pd.DataFrame) -> dict[str, Any]:
    chart = (
        alt.Chart(_named("data"), title="PSI per feature and week (0.1: watch, 0.25: drift)")
        .mark_rect()
        .encode(
            x=alt.X("week_start:O", title="week"),
            y=alt.Y("monitored_name:N", title=None),
            color=alt.Color("psi:Q", scale=alt.Scale(domain=[0, 0.1, 0.25], range=["#e8f5e9", "#f9a825", "#c62828"])),
            tooltip=["monitored_name:N", "week_start:O", alt.Tooltip("psi:Q", format=".4f")],
        )
        .properties(width=500)
    )
    return _spec(chart, data=df)
