-- The incidents the API-log generator injected (its ground truth), for the evaluation.
with

source as (
    select * from {{ source('api_logs', 'api_ground_truth_incidents') }}
),

final as (
    select
        incident_id,
        incident_type,
        country,
        os,
        start_date,
        end_date,
        factor,
        period,
        description,
        level,
        series_key
    from source
)

select * from final
