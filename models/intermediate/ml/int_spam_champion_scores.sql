-- Every score the current champion has written (ml.spam_scores keeps the scores of every model version).
with

scores as (
    select * from {{ source('ml', 'spam_scores') }}
),

champion as (
    select model_version from {{ ref('int_spam_champion') }}
),

final as (
    select scores.*
    from scores
    inner join champion
        on scores.model_version = champion.model_version
)

select * from final
