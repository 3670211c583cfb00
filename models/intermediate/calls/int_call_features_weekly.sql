-- Derived per-number, per-week features from the staged call rows (the one place features are defined;
-- the versioned marts fct_spam_features_v1/_v2 select from here). Shares are of call_count; a number with no
-- answered call has 0 seconds per answered call (a fact, not an imputation). manual_spam_count stays null
-- for weeks whose file did not carry the column: absent is not zero.
with

calls as (
    select * from {{ ref('int_calls_weekly_validated') }}
    where row_status = 'staged'
),

final as (
    select
        number_id,
        week_start,
        country_code,
        call_count,
        ln(1 + cast(call_count as double)) as log_call_count,  -- in double: no integer overflow
        cast(unique_call_count as double) / nullif(call_count, 0) as unique_callee_ratio,
        cast(answered_call_count as double) / nullif(call_count, 0) as answer_rate,
        cast(rejected_call_count as double) / nullif(call_count, 0) as reject_rate,
        cast(missed_call_count as double) / nullif(call_count, 0) as missed_rate,
        ln(1 + coalesce(cast(total_duration as double) / nullif(answered_call_count, 0), 0))
            as log_seconds_per_answered,
        cast(weekend_call_count as double) / nullif(call_count, 0) as weekend_share,
        cast(overtime_call_count as double) / nullif(call_count, 0) as working_hours_share,
        case when has_manual_spam_count then manual_spam_count end as manual_spam_count,
        has_manual_spam_count as manual_spam_observed
    from calls
)

select * from final
