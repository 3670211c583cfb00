-- Incidents found by each of the three detectors, through the same macros as the production mart, on
-- (a) the generator's extract (daily, four hierarchy levels, explained) and (b) the real benchmarks (hourly).
{% set methods = ['iqr', 'zscore', 'robust_seasonal'] %}
{% set hourly = {
    'season_length': 24, 'window': 168, 'level_window': 24, 'season_window': 7,
    'iqr_window': 336, 'zscore_window': 336, 'poisson_floor': false, 'min_abs_change': 0,
    'log_transform': false,
} %}
with

{% for m in methods %}
    api_{{ m }} as (
        {{ detect_anomalies(
            ref('int_api_request_series_daily'),
            series_cols=['level', 'country', 'os', 'series_key'],
            time_col='series_date',
            value_col='request_count',
            method=m,
            holiday_col='is_holiday',
            passthrough_cols=['calendar_label'],
        ) }}
    ),

    bench_{{ m }} as (
        {{ detect_anomalies(
            ref('int_benchmark_series_hourly'),
            series_cols=['dataset', 'series_id'],
            time_col='period_ts',
            value_col='value',
            method=m,
            options=hourly,
        ) }}
    ),
{% endfor %}

api_all as (
    {% for m in methods %}
        select * from api_{{ m }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

api_explained as (
    {{ explain_incidents('api_all') }}
),

api_incidents as (
    {{ group_incident_periods('api_explained', grain='day') }}
),

bench_flags as (
    -- one series per benchmark file: every flagged hour is its own incident node; data gaps are not
    -- labelled events in these benchmarks, so missing hours are not counted as detections.
    {% for m in methods %}
        select
            *,
            'total' as level,
            cast(null as varchar) as country,
            cast(null as varchar) as os,
            dataset || ':' || series_id as series_key,
            cast(null as varchar) as calendar_label,
            cast(null as varchar) as contributors,
            0 as n_contributors
        from bench_{{ m }}
        where is_anomaly and direction != 'missing'
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

bench_incidents as (
    {{ group_incident_periods('bench_flags', partition_cols=['detector', 'dataset'], grain='hour') }}
),

final as (
    {% for incidents, dataset, period_hours in [
        ('api_incidents', "'synthetic'", 24), ('bench_incidents', 'dataset', 1)
    ] %}
        select
            {{ dataset }} as dataset,
            detector,
            level,
            series_key,
            direction,
            start_ts,
            end_ts,
            n_periods,
            {{ period_hours }} as period_hours
        from {{ incidents }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
