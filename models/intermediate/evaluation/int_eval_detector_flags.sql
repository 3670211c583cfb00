-- The buckets each compared detector flags, through the same macros as the production mart: on the generator's
-- extract at every node of the hierarchy after the explanation (a flag counts at the node the detector reports,
-- a missing day included: it is a data incident), on the benchmarks per series (a missing hour is not a flag:
-- data gaps are not labelled events there).
with

{% for m in anomaly_evaluated_methods() %}
    api_{{ m }} as (
        {{ detect_anomalies(
            ref('int_api_request_series_daily'),
            series_cols=['series_key'],
            time_col='series_date',
            value_col='request_count',
            method=m,
            holiday_col='is_holiday',
            passthrough_cols=['level', 'country', 'os', 'calendar_label'],
        ) }}
    ),

    bench_{{ m }} as (
        {{ detect_anomalies(
            ref('int_benchmark_series_hourly'),
            series_cols=['dataset', 'series_id'],
            time_col='period_ts',
            value_col='value',
            method=m,
            options=anomaly_grain_options('hour'),
        ) }}
    ),
{% endfor %}

api_all as (
    {% for m in anomaly_evaluated_methods() %}
        select * from api_{{ m }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

api_explained as (
    {{ explain_incidents('api_all') }}
),

final as (
    select
        'synthetic' as dataset,
        detector,
        series_key,
        cast(period_ts as timestamp) as period_ts,
        direction
    from api_explained
    {% for m in anomaly_evaluated_methods() %}
        union all
        select
            dataset,
            detector,
            series_id as series_key,
            period_ts,
            direction
        from bench_{{ m }}
        where is_anomaly and direction != 'missing'
    {% endfor %}
)

select * from final
