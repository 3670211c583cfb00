-- The training mart: every labelled number-week with its label and its split. No features here: the trainer
-- joins the feature-mart version it trains on by (number_id, week_start).
-- Split, grouped by number and forward in time:
--   test  = the last `spam_test_weeks` labelled weeks, numbers whose hash bucket is below `spam_test_share`;
--   train = earlier weeks, the other numbers;
--   excluded = the rest (a test number in a train week, or a train number in a test week), so that no number
--   is on both sides and nothing in train is later than anything in test.
{%- set test_buckets = (var('spam_test_share') * 100) | int %}

with

features as (
    select
        number_id,
        week_start
    from {{ ref('int_call_features_weekly') }}
),

labels as (
    select * from {{ ref('int_call_labels_validated') }}
    where row_status = 'staged'
),

labelled as (
    select
        features.number_id,
        features.week_start,
        labels.is_spam,
        labels.label_source,
        labels.labelled_at
    from features
    inner join labels
        on
            features.number_id = labels.number_id
            and features.week_start = labels.week_start
),

bounds as (
    select
        max(week_start) as last_labelled_week,
        {{ dbt.dateadd('day', -7 * var('spam_test_weeks'), 'max(week_start)') }} as last_train_week
    from labelled
),

assigned as (
    select
        labelled.*,
        labelled.week_start > bounds.last_train_week as in_test_weeks,
        {{ hash_bucket('labelled.number_id', 100) }} < {{ test_buckets }} as is_test_number
    from labelled
    cross join bounds
),

final as (
    select
        number_id,
        week_start,
        is_spam,
        label_source,
        labelled_at,
        case
            when in_test_weeks and is_test_number then 'test'
            when not in_test_weeks and not is_test_number then 'train'
            else 'excluded'
        end as split,
        case
            when in_test_weeks and is_test_number then 'test number in a test week'
            when not in_test_weeks and not is_test_number then 'train number in a train week'
            when in_test_weeks then 'train number in a test week (forward-in-time split)'
            else 'test number in a train week (grouped split)'
        end as split_reason
    from assigned
)

select * from final
