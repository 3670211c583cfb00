-- Schema-change monitor for every source and mart: each column added, removed or retyped in an existing
-- relation (a relation created or dropped is not a column change), between consecutive
-- stored states of the warehouse (observability.schema_snapshots, written by the on-run-end hook when the
-- columns change) and between the last stored state and the live one. `is_recent`: detected in the last 24 h
-- before the reference time (now, or the var observability_now).
with

stored as (
    select
        snapshot_at as state_at,
        table_schema,
        table_name,
        column_name,
        data_type
    from {{ ref('stg_observability__schema_snapshots') }}
),

checked as (
    select {{ observability_checked_at() }} as checked_at
),

live as (
    select
        checked.checked_at as state_at,
        columns_now.table_schema,
        columns_now.table_name,
        columns_now.column_name,
        columns_now.data_type
    from {{ ref('int_warehouse_columns') }} as columns_now
    cross join checked
    where exists (select 1 from stored)  -- the first stored state is the baseline
),

states as (
    select * from stored
    union all
    select * from live
),

state_times as (
    select distinct state_at from states
),

pairs as (
    select
        state_at,
        lag(state_at) over (order by state_at) as previous_at
    from state_times
),

paired as (
    -- every column of both states of each consecutive pair, marked by side
    select
        pairs.state_at as detected_at,
        states.state_at = pairs.state_at as is_current,
        states.table_schema,
        states.table_name,
        states.column_name,
        states.data_type
    from pairs
    inner join states
        on states.state_at in (pairs.state_at, pairs.previous_at)
    where pairs.previous_at is not null
),

tables_in_both as (
    -- a relation created or dropped between two states is not a column change (every run may add models)
    select
        detected_at,
        table_schema,
        table_name
    from paired
    group by detected_at, table_schema, table_name
    having count(distinct is_current) = 2
),

diffs as (
    select
        detected_at,
        table_schema,
        table_name,
        column_name,
        max(case when not is_current then data_type end) as previous_type,
        max(case when is_current then data_type end) as current_type
    from paired
    group by detected_at, table_schema, table_name, column_name
),

final as (
    select
        diffs.detected_at,
        diffs.table_schema,
        diffs.table_name,
        diffs.column_name,
        case
            when diffs.previous_type is null then 'column_added'
            when diffs.current_type is null then 'column_removed'
            else 'type_changed'
        end as change_type,
        diffs.previous_type,
        diffs.current_type,
        diffs.detected_at >= {{ dbt.dateadd('hour', -24, 'checked.checked_at') }} as is_recent
    from diffs
    inner join tables_in_both
        on
            diffs.detected_at = tables_in_both.detected_at
            and diffs.table_schema = tables_in_both.table_schema
            and diffs.table_name = tables_in_both.table_name
    cross join checked
    where diffs.previous_type is distinct from diffs.current_type
)

select * from final
