-- dbt test executions per day and status (pass, warn, fail, error, skipped), from the run history the on-run-end
-- hook appends. Built during a run, it holds the history up to the invocation before it.
with

test_results as (
    select * from {{ ref('stg_observability__test_results') }}
),

final as (
    select
        cast(detected_at as date) as run_date,
        status,
        count(*) as test_executions,
        count(distinct test_unique_id) as distinct_tests,
        count(distinct invocation_id) as invocations,
        cast(sum(coalesce(failures, 0)) as bigint) as failing_rows
    from test_results
    group by cast(detected_at as date), status
)

select * from final
