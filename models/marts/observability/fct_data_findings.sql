-- What is wrong now, one row per problem, each with a stable key: the alerts send a key once while it lasts and
-- mark it resolved when it is gone (ml/observability/alerts.py adds the runs that failed, from the log the
-- orchestrator writes, and renders each finding's title from its detail). Tests on the monitor models are left
-- to the monitors' own findings, which say more. A view, so the alerts read the state as it is when they run.
{{ config(materialized='view') }}

with

test_status as (
    select * from {{ ref('fct_dbt_test_status_latest') }}
),

volume as (
    select * from {{ ref('fct_volume_monitor') }}
),

freshness as (
    select * from {{ ref('fct_freshness_monitor') }}
),

schema_changes as (
    select * from {{ ref('fct_schema_changes') }}
),

incidents as (
    {#- a spam job can be a state's first build: no KPI incidents until the anomaly marts exist (a unit test's
        input is a CTE, with no schema to look up) #}
    {%- set summary = ref('fct_api_anomaly_detection_summary') %}
    {%- if execute and summary.schema is not none and load_relation(summary) is none %}
        select
            cast(null as {{ dbt.type_string() }}) as incident_key,
            cast(null as {{ dbt.type_string() }}) as series_key,
            cast(null as {{ dbt.type_string() }}) as level,
            cast(null as {{ dbt.type_string() }}) as direction,
            cast(null as date) as start_date,
            cast(null as date) as end_date,
            cast(null as double) as peak_value,
            cast(null as double) as peak_expected_value,
            cast(null as {{ dbt.type_string() }}) as peak_explanation
        where 1 = 0
    {%- else %}
        select * from {{ ref('fct_api_anomaly_detection_summary') }}
    {%- endif %}
),

test_findings as (
    select
        'test:' || d.test_unique_id || ':' || d.status as finding_key,
        'test' as kind,
        case when d.status = 'warn' then 'warn' else 'error' end as severity,
        d.test_name as check_name,
        cast(null as {{ dbt.type_string() }}) as asset_name,
        d.test_execution_id,
        1 as kind_rank,
        cast(row_number() over (order by d.detected_at, d.test_unique_id) as bigint) as kind_position,
        {{ row_as_json('d') }} as detail
    from (
        select
            test_unique_id,
            test_execution_id,
            test_name,
            test_short_name as test,
            model_name as model,
            column_name,
            status,
            failures,
            message,
            last_run_at as detected_at
        from test_status
        where
            status in ('fail', 'warn', 'error')
            and model_name not in ('fct_volume_monitor', 'fct_freshness_monitor', 'fct_schema_changes')
    ) as d
),

volume_findings as (
    select
        'volume:' || d.feed || ':' || cast(d.period_date as {{ dbt.type_string() }}) || ':'
        || d.direction as finding_key,
        'volume' as kind,
        'warn' as severity,
        cast(null as {{ dbt.type_string() }}) as check_name,
        cast(null as {{ dbt.type_string() }}) as asset_name,
        cast(null as {{ dbt.type_string() }}) as test_execution_id,
        2 as kind_rank,
        cast(row_number() over (order by d.feed, d.period_date) as bigint) as kind_position,
        {{ row_as_json('d') }} as detail
    from (
        select feed, period_date, direction, rows_appended, expected_value, lower_bound, upper_bound, explanation
        from volume
        where direction = 'missing' or (is_anomaly and is_latest_period)
    ) as d
),

freshness_findings as (
    select
        'freshness:' || d.feed || ':' || d.freshness_status || ':'
        || coalesce(cast(d.last_loaded_at as {{ dbt.type_string() }}), 'None') as finding_key,
        'freshness' as kind,
        case when d.freshness_status = 'stale' then 'error' else 'warn' end as severity,
        cast(null as {{ dbt.type_string() }}) as check_name,
        cast(null as {{ dbt.type_string() }}) as asset_name,
        cast(null as {{ dbt.type_string() }}) as test_execution_id,
        3 as kind_rank,
        cast(row_number() over (order by d.feed) as bigint) as kind_position,
        {{ row_as_json('d') }} as detail
    from (
        select feed, freshness_status, last_loaded_at, latest_period, hours_since_last_load, expected_every_hours
        from freshness
        where freshness_status <> 'fresh'
    ) as d
),

schema_findings as (
    select
        -- a missing type is written None in the key, as the alerts have always keyed it
        'schema:' || d.relation || '.' || d.column_name || ':' || d.change_type || ':'
        || coalesce(d.previous_type, 'None') || '->' || coalesce(d.current_type, 'None') as finding_key,
        'schema' as kind,
        'warn' as severity,
        cast(null as {{ dbt.type_string() }}) as check_name,
        cast(null as {{ dbt.type_string() }}) as asset_name,
        cast(null as {{ dbt.type_string() }}) as test_execution_id,
        4 as kind_rank,
        cast(row_number() over (order by d.relation, d.column_name) as bigint) as kind_position,
        {{ row_as_json('d') }} as detail
    from (
        select
            table_schema || '.' || table_name as relation,
            column_name,
            change_type,
            previous_type,
            current_type,
            detected_at
        from schema_changes
        where is_recent
    ) as d
),

kpi_findings as (
    select
        'kpi:' || d.incident_key as finding_key,
        'kpi_anomaly' as kind,
        'warn' as severity,
        cast(null as {{ dbt.type_string() }}) as check_name,
        'fct_api_anomaly_detection_summary' as asset_name,
        cast(null as {{ dbt.type_string() }}) as test_execution_id,
        5 as kind_rank,
        cast(row_number() over (order by d.start_date, d.series_key) as bigint) as kind_position,
        {{ row_as_json('d') }} as detail
    from (
        select
            incident_key,
            series_key,
            level,
            direction,
            start_date,
            end_date,
            peak_value,
            peak_expected_value,
            peak_explanation as explanation
        from incidents
    ) as d
),

final as (
    select * from test_findings
    union all
    select * from volume_findings
    union all
    select * from freshness_findings
    union all
    select * from schema_findings
    union all
    select * from kpi_findings
)

select * from final
