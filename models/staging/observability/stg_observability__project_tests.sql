-- The tests the project defines now (replaced by the on-run-end hook of every invocation).
with

source as (
    select * from {{ source('observability', 'dbt_tests') }}
),

final as (
    select
        unique_id as test_unique_id,
        name as test_name,
        short_name as test_short_name,
        test_type,
        model_unique_id,
        column_name,
        severity
    from source
)

select * from final
