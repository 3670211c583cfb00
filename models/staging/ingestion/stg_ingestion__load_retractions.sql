-- One row per retraction or restoration of a load (python -m ml retract): the latest action on a load counts.
with

source as (
    select * from {{ source('ingestion', 'load_retractions') }}
),

final as (
    select
        load_id,
        action,
        reason,
        recorded_at
    from source
)

select * from final
