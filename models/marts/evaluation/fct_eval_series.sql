-- Which series the evaluation scores, and why a series is skipped: the reader sees what the table covers.
with

buckets as (
    select * from {{ ref('int_eval_series_buckets') }}
),

events as (
    select
        dataset,
        series_key,
        count(*) as n_events
    from {{ ref('fct_eval_truth_events') }}
    group by dataset, series_key
),

series as (
    select
        dataset,
        grain,
        series_level,
        series_key,
        max(series_periods) as series_periods,
        max(warmup_periods) as warmup_periods,
        max(min_series_periods) as min_series_periods,
        count(case when is_scored then 1 end) as scored_periods
    from buckets
    group by dataset, grain, series_level, series_key
),

final as (
    select
        series.dataset,
        series.grain,
        series.series_level,
        series.series_key,
        series.series_periods,
        series.warmup_periods,
        series.min_series_periods,
        series.scored_periods,
        coalesce(events.n_events, 0) as n_events,
        series.scored_periods > 0 as is_scored,
        case
            when series.series_periods < series.min_series_periods
                then 'shorter than ' || cast(series.min_series_periods as {{ dbt.type_string() }})
                    || ' ' || series.grain || 's'
        end as skip_reason
    from series
    left join events
        on series.dataset = events.dataset
            and series.series_key = events.series_key
)

select * from final
