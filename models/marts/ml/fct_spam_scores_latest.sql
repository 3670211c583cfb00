-- The champion's score for every number of the latest scored week, ranked, with the facts a reviewer looks at
-- first. Read by BI and by the API's score look-up.
with

champion_scores as (
    select * from {{ ref('int_spam_champion_scores') }}
),

latest_week as (
    select max(week_start) as week_start from champion_scores
),

latest as (
    select champion_scores.*
    from champion_scores
    inner join latest_week
        on champion_scores.week_start = latest_week.week_start
),

features as (
    select * from {{ ref('int_call_features_weekly') }}
),

final as (
    select
        latest.number_id,
        latest.week_start,
        latest.model_version,
        latest.feature_version,
        latest.score,
        latest.is_flagged,
        -- bigint on every engine (Spark's row_number is an int)
        cast(row_number() over (order by latest.score desc, latest.number_id asc) as bigint) as score_rank,
        features.country_code,
        features.call_count,
        features.answer_rate,
        features.manual_spam_count
    from latest
    inner join features
        on
            latest.number_id = features.number_id
            and latest.week_start = features.week_start
)

select * from final
