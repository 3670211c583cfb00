-- Benchmark series aggregated to a regular hourly grain on a spine per series (a missing hour is a null),
-- labelled when any raw point in the hour is labelled (AIOps) or the hour overlaps a labelled window (NAB).
-- Values are not rescaled: every detector is judged on the series as it is (a rescaling by the median made
-- every series with a zero median null, so it was never judged). An hour's mean adds its points in time order, so
-- a run gives the same means to the last bit as the one before, and as `python -m ml detect` on the same file.
with

points as (
    select * from {{ ref('stg_benchmarks__points') }}
),

windows as (
    select * from {{ ref('stg_benchmarks__windows') }}
),

hourly as (
    select
        dataset,
        series_id,
        {{ dbt.date_trunc('hour', 'ts') }} as period_ts,
        {{ ordered_avg('value', ['ts', 'value']) }} as value,
        max(coalesce(label, 0)) as point_label
    from points
    group by dataset, series_id, {{ dbt.date_trunc('hour', 'ts') }}
),

series as (
    select
        dataset,
        series_id,
        min(period_ts) as first_ts,
        max(period_ts) as last_ts
    from hourly
    group by dataset, series_id
),

spine as (
    {{ period_spine('(select min(first_ts) from series)', '(select max(last_ts) from series)', 'hour') }}
),

gridded as (
    select
        series.dataset,
        series.series_id,
        spine.period_ts,
        hourly.value,
        coalesce(hourly.point_label, 0) as point_label
    from series
    inner join spine
        on spine.period_ts between series.first_ts and series.last_ts
    left join hourly
        on series.dataset = hourly.dataset
            and series.series_id = hourly.series_id
            and spine.period_ts = hourly.period_ts
),

final as (
    select
        gridded.dataset,
        gridded.series_id,
        gridded.period_ts,
        gridded.value,
        max(
            case
                when gridded.point_label = 1 then 1
                when windows.series_id is not null then 1
                else 0
            end
        ) as is_labelled
    from gridded
    left join windows
        on gridded.dataset = windows.dataset
            and gridded.series_id = windows.series_id
            and windows.window_start < {{ dbt.dateadd('hour', 1, 'gridded.period_ts') }}
            and gridded.period_ts <= windows.window_end
    group by gridded.dataset, gridded.series_id, gridded.period_ts, gridded.value
)

select * from final
