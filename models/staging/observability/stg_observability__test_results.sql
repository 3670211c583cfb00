-- One row per dbt test executed by each invocation (appended by the on-run-end hook store_run_results).
with

source as (
    select * from {{ source('observability', 'elementary_test_results') }}
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
        column_name,
        severity,
        status,
        failures,
        message,
        execution_time,
        detected_at,
        target_name,
        code_version
    from source
)

select * from final
