-- The labelled anomaly windows of the benchmarks (NAB's windows; AIOps' runs of labelled points).
with

source as (
    select * from {{ source('benchmarks', 'benchmark_windows') }}
),

final as (
    select
        dataset,
        series_id,
        window_start,
        window_end
    from source
)

select * from final
