-- The current champion (MLflow alias `champion`, mirrored in ml.spam_model_aliases) with its registered
-- facts: feature version, training window, threshold, test metrics. Zero rows before the first model.
with

aliases as (
    select * from {{ source('ml', 'spam_model_aliases') }}
    where alias = 'champion'
),

versions as (
    select * from {{ source('ml', 'spam_model_versions') }}
),

final as (
    select versions.*
    from aliases
    inner join versions
        on aliases.model_version = versions.model_version
)

select * from final
