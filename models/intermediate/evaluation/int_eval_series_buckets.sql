-- Every bucket of every series the detectors are judged on, with its label: the generator's extract (days,
-- every node of the hierarchy, labelled where an injected incident happened) and the real benchmarks (hours).
-- One warm-up for every detector: the first N buckets of a series are not scored, N being the longest window
-- of any detector compared at that grain; a series shorter than 2N (and than 60 days at day grain, 28 days
-- at hour grain) is not scored at all (fct_eval_series lists it).
{%- set ns = namespace(day=0, hour=0) -%}
{%- for m in anomaly_evaluated_methods() -%}
    {%- set ns.day = [ns.day, anomaly_window_periods(m, anomaly_grain_options('day'))] | max -%}
    {%- set ns.hour = [ns.hour, anomaly_window_periods(m, anomaly_grain_options('hour'))] | max -%}
{%- endfor %}
with

api_series as (
    select * from {{ ref('int_api_request_series_daily') }}
),

injected as (
    select * from {{ ref('stg_api_logs__ground_truth_incidents') }}
),

generated as (
    -- only the generator writes a ground truth
    select count(*) > 0 as has_ground_truth from injected
),

benchmark_series as (
    select * from {{ ref('int_benchmark_series_hourly') }}
),

api_labelled as (
    -- an injected incident labels the days it covers on the node where it happened; an extract without the
    -- generator's ground truth (a user's own) has no labels, so it is not scored: every detector would score 0
    select
        api_series.level as series_level,
        api_series.series_key,
        api_series.series_date,
        cast(api_series.request_count as double) as value,
        min(injected.incident_type) as event_type
    from api_series
    cross join generated
    left join injected
        on api_series.level = injected.level
            and api_series.series_key = injected.series_key
            and api_series.series_date between injected.start_date and injected.end_date
    where generated.has_ground_truth
    group by api_series.level, api_series.series_key, api_series.series_date, api_series.request_count
),

unioned as (
    select
        'synthetic' as dataset,
        'day' as grain,
        series_level,
        series_key,
        cast(series_date as timestamp) as period_ts,
        value,
        event_type is not null as is_labelled,
        event_type
    from api_labelled
    union all
    select
        dataset,
        'hour' as grain,
        'total' as series_level,
        series_id as series_key,
        period_ts,
        value,
        is_labelled = 1 as is_labelled,
        case when is_labelled = 1 then 'labelled' end as event_type
    from benchmark_series
),

indexed as (
    select
        *,
        row_number() over (partition by dataset, series_key order by period_ts) as bucket_index,
        count(*) over (partition by dataset, series_key) as series_periods,
        case when grain = 'day' then {{ ns.day }} else {{ ns.hour }} end as warmup_periods,
        case
            when grain = 'day' then {{ evaluation_min_series_periods('day', ns.day) }}
            else {{ evaluation_min_series_periods('hour', ns.hour) }}
        end as min_series_periods
    from unioned
),

final as (
    select
        dataset,
        grain,
        series_level,
        series_key,
        period_ts,
        bucket_index,
        value,
        is_labelled,
        event_type,
        series_periods,
        warmup_periods,
        min_series_periods,
        series_periods >= min_series_periods and bucket_index > warmup_periods as is_scored
    from indexed
)

select * from final
