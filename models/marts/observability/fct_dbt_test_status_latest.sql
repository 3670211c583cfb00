-- The latest result of every test the project defines now, with how often it ran and failed: the data-health
-- report's test table and the source of the test findings (fct_data_findings).
{{ config(materialized='view') }}

with

test_history as (
    select * from {{ ref('fct_dbt_test_history') }}
),

latest as (
    select * from test_history
    where result_rank = 1
),

runs as (
    select
        test_unique_id,
        count(*) as runs,
        sum(case when status in ('fail', 'error') then 1 else 0 end) as failed_runs
    from test_history
    group by test_unique_id
),

final as (
    select
        latest.test_unique_id,
        latest.test_execution_id,
        latest.test_name,
        latest.test_short_name,
        latest.test_type,
        latest.model_unique_id,
        latest.model_name,
        latest.column_name,
        latest.severity,
        latest.status,
        latest.failures,
        latest.message,
        latest.detected_at as last_run_at,
        runs.runs,
        cast(runs.failed_runs as bigint) as failed_runs
    from latest
    inner join runs on latest.test_unique_id = runs.test_unique_id
)

select * from final
