-- The champion's performance per week on the labels that have arrived, at its own threshold. Weeks after its
-- training window are the new evidence the retraining decision looks at (labels arrive 1-4 weeks late, so the
-- newest weeks fill in over time). Weeks inside the window are in-sample and flagged as such.
with

champion as (
    select * from {{ ref('int_spam_champion') }}
),

scores as (
    select * from {{ ref('int_spam_champion_scores') }}
),

labels as (
    select
        number_id,
        week_start,
        is_spam
    from {{ ref('int_call_labels_validated') }}
    where row_status = 'staged'
),

joined as (
    select
        scores.week_start,
        scores.model_version,
        scores.score,
        scores.is_flagged,
        labels.is_spam
    from scores
    inner join labels
        on
            scores.number_id = labels.number_id
            and scores.week_start = labels.week_start
),

weekly as (
    select
        week_start,
        model_version,
        count(*) as labelled_rows,
        cast(sum(is_spam) as bigint) as labelled_spam,
        -- counts, not sums of 0/1: a bigint on every engine (DuckDB's sum of integers is a HUGEINT)
        count(case when is_flagged and is_spam = 1 then 1 end) as true_positives,
        count(case when is_flagged and is_spam = 0 then 1 end) as false_positives,
        count(case when not is_flagged and is_spam = 1 then 1 end) as false_negatives,
        avg((score - is_spam) * (score - is_spam)) as brier_score
    from joined
    group by week_start, model_version
),

final as (
    select
        weekly.week_start,
        weekly.model_version,
        weekly.labelled_rows,
        weekly.labelled_spam,
        weekly.true_positives,
        weekly.false_positives,
        weekly.false_negatives,
        cast(weekly.true_positives as double)
        / nullif(weekly.true_positives + weekly.false_positives, 0) as precision_at_threshold,
        cast(weekly.true_positives as double) / nullif(weekly.labelled_spam, 0) as recall_at_threshold,
        cast(weekly.false_positives as double)
        / nullif(weekly.labelled_rows - weekly.labelled_spam, 0) as fpr_at_threshold,
        weekly.brier_score,
        champion.test_recall as reference_recall,
        weekly.week_start > champion.train_end as is_after_training_window
    from weekly
    cross join champion
)

select * from final
