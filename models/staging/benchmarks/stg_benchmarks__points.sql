-- Every point of the real labelled benchmarks (NAB, AIOps 2018) as loaded by ml/anomaly/benchmarks.py.
with

source as (
    select * from {{ source('benchmarks', 'benchmark_points') }}
),

final as (
    select
        dataset,
        series_id,
        ts,
        value,
        label
    from source
)

select * from final
