-- The loads retracted now: those whose latest action (python -m ml retract) is a retraction; one restored since is
-- not. The validation models quarantine their rows as retracted_load; the rows stay in raw.
with

actions as (
    select * from {{ ref('stg_ingestion__load_retractions') }}
),

latest as (
    select
        load_id,
        action,
        reason,
        recorded_at,
        row_number() over (partition by load_id order by recorded_at desc) as action_rank
    from actions
),

final as (
    select
        load_id,
        reason as retraction_reason,
        recorded_at as retracted_at
    from latest
    where action_rank = 1 and action = 'retracted'
)

select * from final
