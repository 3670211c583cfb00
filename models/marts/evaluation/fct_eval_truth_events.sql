-- Labelled events as the evaluation counts them: maximal runs of labelled scored buckets of a series (an
-- injected incident of the generator at the node where it happened; a labelled stretch of a benchmark).
with

labelled as (
    select
        *,
        bucket_index - row_number() over (partition by dataset, series_key order by bucket_index) as island
    from {{ ref('int_eval_series_buckets') }}
    where is_scored and is_labelled
),

final as (
    select
        dataset,
        series_key || '#' || cast(min(period_ts) as {{ dbt.type_string() }}) as event_id,
        min(event_type) as event_type,
        series_level as level,
        series_key,
        min(period_ts) as start_ts,
        max(period_ts) as end_ts,
        cast(case when grain = 'day' then 24 else 1 end as integer) as period_hours,
        count(*) as n_periods
    from labelled
    group by dataset, grain, series_level, series_key, island
)

select * from final
