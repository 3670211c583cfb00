-- Every recorded result of the tests the project defines now (skipped runs aside), ranked newest first per
-- test: result_rank 1 is a test's latest result. A view, so the alerts and the data-health report read the
-- run history as it is when they run, including the invocation that has just ended.
{{ config(materialized='view') }}

with

test_results as (
    select * from {{ ref('stg_observability__test_results') }}
),

project_tests as (
    select * from {{ ref('stg_observability__project_tests') }}
),

current_results as (
    select test_results.*
    from test_results
    where
        test_results.status <> 'skipped'
        -- unit tests are not among dbt's data tests (observability.dbt_tests): always current
        and (
            test_results.test_type = 'unit'
            or test_results.test_unique_id in (select project_tests.test_unique_id from project_tests)
        )
),

final as (
    select
        test_execution_id,
        invocation_id,
        test_unique_id,
        test_name,
        test_short_name,
        test_type,
        model_unique_id,
        {{ dbt.split_part('model_unique_id', "'.'", 3) }} as model_name,
        column_name,
        severity,
        status,
        failures,
        message,
        detected_at,
        code_version,
        cast(row_number() over (partition by test_unique_id order by detected_at desc) as bigint) as result_rank
    from current_results
)

select * from final
