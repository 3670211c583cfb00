-- Spam feature mart, version 2: v1 + the crowd feature manual_spam_count. Null (never 0) in weeks whose
-- file did not carry the column; manual_spam_observed says which. Training of v2 uses observed weeks only.
with

features as (
    select * from {{ ref('int_call_features_weekly') }}
),

final as (
    select
        number_id,
        week_start,
        country_code,
        log_call_count,
        unique_callee_ratio,
        answer_rate,
        reject_rate,
        missed_rate,
        log_seconds_per_answered,
        weekend_share,
        working_hours_share,
        manual_spam_count,
        manual_spam_observed
    from features
)

select * from final
