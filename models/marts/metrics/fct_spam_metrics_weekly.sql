-- The spam numbers a dashboard shows, defined once (docs/bi.md): one row per metric, week and slice, long
-- format. Ratios are stored with their numerator and denominator, so a tool can re-aggregate them correctly.
with

scores as (
    select * from {{ ref('fct_spam_scores_latest') }}
),

performance as (
    select * from {{ ref('fct_spam_model_performance_weekly') }}
),

drift as (
    select * from {{ ref('fct_spam_drift') }}
),

flagged as (
    -- numbers the champion flags in the scored week, per country
    select
        'spam_flagged' as metric_name,
        week_start,
        model_version,
        country_code,
        'all' as breakdown,
        sum(case when is_flagged then 1 else 0 end) as value,
        sum(case when is_flagged then 1 else 0 end) as numerator,
        count(*) as denominator
    from scores
    group by week_start, model_version, country_code
),

at_threshold as (
    -- precision and recall at the deployed threshold, on the labels that have arrived
    select
        'spam_precision_at_threshold' as metric_name,
        week_start,
        model_version,
        '*' as country_code,
        'all' as breakdown,
        cast(true_positives as double) / nullif(true_positives + false_positives, 0) as value,
        true_positives as numerator,
        true_positives + false_positives as denominator
    from performance
    union all
    select
        'spam_recall_at_threshold' as metric_name,
        week_start,
        model_version,
        '*' as country_code,
        'all' as breakdown,
        cast(true_positives as double) / nullif(labelled_spam, 0) as value,
        true_positives as numerator,
        labelled_spam as denominator
    from performance
),

psi as (
    -- population stability of each feature and of the model score against the reference weeks
    select
        'spam_psi' as metric_name,
        week_start,
        champion_version as model_version,
        '*' as country_code,
        monitored_name as breakdown,
        psi as value,
        cast(null as bigint) as numerator,
        cast(null as bigint) as denominator
    from drift
    where psi is not null
),

unioned as (
    select * from flagged
    union all
    select * from at_threshold
    union all
    select * from psi
),

final as (
    select
        metric_name,
        week_start,
        model_version,
        country_code,
        breakdown,
        cast(value as double) as value,
        cast(numerator as bigint) as numerator,
        cast(denominator as bigint) as denominator
    from unioned
)

select * from final
