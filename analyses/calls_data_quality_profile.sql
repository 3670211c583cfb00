-- Data-quality and label findings of the weekly call feed, per week: verdicts, report coverage, labels.
-- Compile with `dbt compile -s calls_data_quality_profile` and run the SQL in target/compiled.
with

validated as (
    select * from {{ ref('int_calls_weekly_validated') }}
),

labels as (
    select * from {{ ref('int_call_labels_validated') }}
    where row_status = 'staged'
),

per_week as (
    select
        week_start,
        count(*) as raw_rows,
        sum(case when row_status = 'staged' then 1 else 0 end) as staged_rows,
        sum(case when row_status = 'quarantined' then 1 else 0 end) as quarantined_rows,
        sum(case when row_status = 'duplicate' then 1 else 0 end) as duplicate_rows,
        bool_and(has_manual_spam_count) as carries_manual_spam_count,
        avg(case when manual_spam_count > 0 then 1.0 else 0.0 end) as share_reported,
        max(manual_spam_count) as max_reports
    from validated
    group by week_start
),

labels_per_week as (
    select
        week_start,
        count(*) as labelled_rows,
        avg(is_spam) as spam_share_of_labels,
        avg({{ dbt.datediff('week_start', 'labelled_at', 'day') }}) as mean_label_delay_days
    from labels
    group by week_start
),

final as (
    select
        per_week.*,
        coalesce(labels_per_week.labelled_rows, 0) as labelled_rows,
        labels_per_week.spam_share_of_labels,
        labels_per_week.mean_label_delay_days
    from per_week
    left join labels_per_week
        on per_week.week_start = labels_per_week.week_start
)

select * from final
order by week_start asc
