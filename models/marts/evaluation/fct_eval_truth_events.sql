-- Labelled events: the generator's injected incidents (at the level where they happened) and the
-- benchmarks' labelled stretches (consecutive labelled hours of a series).
with

injected as (
    select * from {{ source('api_logs', 'api_ground_truth_incidents') }}
),

hourly as (
    select
        *,
        row_number() over (partition by dataset, series_id order by period_ts) as period_index
    from {{ ref('int_benchmark_series_hourly') }}
),

labelled as (
    select
        *,
        period_index - row_number() over (partition by dataset, series_id order by period_ts) as island
    from hourly
    where is_labelled = 1
),

final as (
    select
        'synthetic' as dataset,
        incident_id as event_id,
        incident_type as event_type,
        level,
        series_key,
        cast(start_date as timestamp) as start_ts,
        cast(end_date as timestamp) as end_ts,
        24 as period_hours
    from injected
    union all
    select
        dataset,
        series_id || '#' || cast(min(period_ts) as varchar) as event_id,
        'labelled' as event_type,
        'total' as level,
        dataset || ':' || series_id as series_key,
        min(period_ts) as start_ts,
        max(period_ts) as end_ts,
        1 as period_hours
    from labelled
    group by dataset, series_id, island
)

select * from final
