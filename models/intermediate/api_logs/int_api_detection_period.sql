-- The detection period, one row: the last `anomaly_detection_days` days ending at `anomaly_detection_end`
-- (default: the last day with data). Read by the incident marts and the console answer, never copied into
-- the incremental detection mart (a stored copy would go stale when the period moves).
with

series as (
    select * from {{ ref('int_api_request_series_daily') }}
),

period_end as (
    {%- if var('anomaly_detection_end') %}
        select cast('{{ var("anomaly_detection_end") }}' as date) as detection_end
    {%- else %}
        select max(series_date) as detection_end
        from series
    {%- endif %}
),

final as (
    select
        cast({{ dbt.dateadd('day', -1 * (var('anomaly_detection_days') | int - 1), 'detection_end') }} as date)
            as detection_start,
        detection_end
    from period_end
)

select * from final
