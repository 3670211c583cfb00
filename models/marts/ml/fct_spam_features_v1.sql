-- Spam feature mart, version 1: the original call features. One row per number and week. No label here:
-- labels are joined only in fct_spam_training_examples.
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
        working_hours_share
    from features
)

select * from final
