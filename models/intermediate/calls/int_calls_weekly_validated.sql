-- Every raw weekly call row with a verdict: staged, quarantined (first failing rule) or duplicate.
-- Rules, in order: missing_id, missing_country, unknown_country (after the alias seed), missing_count,
-- non_numeric_count, negative_count, no_calls, broken_answer_identity (answered + rejected + missed = calls),
-- broken_weekday_identity (weekdays + weekend = calls), broken_working_hours_identity (in + out of hours =
-- calls), unique_above_calls. One row per number and week: the latest load wins (a corrected re-delivery
-- supersedes), an identical repeat is a duplicate, a different repeat in the same load is quarantined.
with

calls as (
    select * from {{ ref('stg_calls__weekly') }}
),

countries as (
    select * from {{ ref('iso_3166_countries') }}
),

country_aliases as (
    select * from {{ ref('country_aliases') }}
),

mapped as (
    select
        calls.*,
        countries.alpha2 as country_code
    from calls
    left join country_aliases
        on calls.country_input = country_aliases.alias
    left join countries
        on coalesce(country_aliases.alpha2, calls.country_input) = countries.alpha2
),

judged as (
    select
        *,
        case
            when number_id is null then 'missing_id'
            when coalesce(country_input, '') = '' then 'missing_country'
            when country_code is null then 'unknown_country'
            when n_missing_counts > 0 then 'missing_count'
            when n_malformed_counts > 0 then 'non_numeric_count'
            when least(
                    call_count, unique_call_count, total_duration, answered_call_count, rejected_call_count,
                    missed_call_count, weekdays_call_count, weekend_call_count, overtime_call_count,
                    out_of_work_call_count, coalesce(manual_spam_count, 0)
                ) < 0 then 'negative_count'
            when call_count = 0 then 'no_calls'
            when answered_call_count + rejected_call_count + missed_call_count != call_count
                then 'broken_answer_identity'
            when weekdays_call_count + weekend_call_count != call_count then 'broken_weekday_identity'
            when overtime_call_count + out_of_work_call_count != call_count then 'broken_working_hours_identity'
            when unique_call_count > call_count then 'unique_above_calls'
        end as rejection_reason
    from mapped
),

ranked as (
    select
        *,
        row_number() over (
            partition by case when rejection_reason is null then 1 end, number_id, week_start
            order by loaded_at desc, load_id desc, line_number asc
        ) as key_rank
    from judged
),

kept as (
    select
        number_id,
        week_start,
        load_id as kept_load_id,
        raw_record as kept_record
    from ranked
    where rejection_reason is null and key_rank = 1
),

final as (
    select
        ranked.load_id,
        ranked.file_name,
        ranked.line_number,
        ranked.loaded_at,
        ranked.week_start,
        ranked.number_id,
        ranked.country_code,
        ranked.call_count,
        ranked.unique_call_count,
        ranked.total_duration,
        ranked.answered_call_count,
        ranked.rejected_call_count,
        ranked.missed_call_count,
        ranked.weekdays_call_count,
        ranked.weekend_call_count,
        ranked.overtime_call_count,
        ranked.out_of_work_call_count,
        ranked.manual_spam_count,
        ranked.has_manual_spam_count,
        ranked.raw_record,
        case
            when ranked.rejection_reason is not null then ranked.rejection_reason
            when ranked.key_rank > 1
                and ranked.load_id = kept.kept_load_id
                and ranked.raw_record != kept.kept_record then 'conflicting_duplicate'
        end as rejection_reason,
        case
            when ranked.rejection_reason is null and ranked.key_rank > 1 and ranked.load_id != kept.kept_load_id
                then 'superseded_by_later_load'
            when ranked.rejection_reason is null and ranked.key_rank > 1
                and ranked.raw_record = kept.kept_record then 'exact_duplicate'
        end as duplicate_kind,
        case
            when ranked.rejection_reason is not null then 'quarantined'
            when ranked.key_rank = 1 then 'staged'
            when ranked.load_id != kept.kept_load_id or ranked.raw_record = kept.kept_record then 'duplicate'
            else 'quarantined'
        end as row_status
    from ranked
    left join kept
        on ranked.rejection_reason is null
            and ranked.number_id = kept.number_id
            and ranked.week_start = kept.week_start
)

select * from final
