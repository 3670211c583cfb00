-- One row per day, level and series with the detector's statistics, bounds, flag and explanation.
-- The detector is chosen by the dbt var anomaly_method (default robust_seasonal).
with

period as (
    {{ detection_period(ref('int_api_request_series_daily'), 'series_date') }}
),

detected as (
    {{ detect_anomalies(
        ref('int_api_request_series_daily'),
        series_cols=['level', 'country', 'os', 'series_key'],
        time_col='series_date',
        value_col='request_count',
        holiday_col='is_holiday',
        passthrough_cols=['calendar_label', 'n_children', 'n_children_present', 'series_start_date'],
    ) }}
),

final as (
    select
        detected.level,
        detected.country,
        detected.os,
        detected.series_key,
        cast(detected.period_ts as date) as series_date,
        detected.period_index,
        detected.detector,
        detected.value,
        detected.expected_value,
        detected.q1,
        detected.q3,
        detected.iqr,
        detected.k,
        detected.lower_bound,
        detected.upper_bound,
        detected.deviation_iqr,
        detected.deviation_pct,
        detected.deviation_value,
        detected.score,
        detected.direction,
        detected.is_anomaly,
        detected.is_judged,
        detected.window_size,
        detected.window_periods,
        detected.season_bucket,
        detected.is_holiday,
        detected.calendar_label,
        detected.n_children,
        detected.n_children_present,
        detected.series_start_date,
        detected.explanation,
        cast(detected.period_ts as date) between period.detection_start and period.detection_end
            as in_detection_period
    from detected
    cross join period
)

select * from final
