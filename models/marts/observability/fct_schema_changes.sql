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
    from {{ source('observability', 'schema_snapshots') }}
),

checked as (
    select
        {% if var('observability_now') %}
            cast('{{ var("observability_now") }}' as timestamp)
        {% else %}
            cast(current_timestamp as timestamp)
        {% endif %} as checked_at
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

pair_now as (
    select
        pairs.state_at,
        states.table_schema,
        states.table_name,
        states.column_name,
        states.data_type
    from pairs
    inner join states
        on pairs.state_at = states.state_at
    where pairs.previous_at is not null
),

pair_before as (
    select
        pairs.state_at,
        states.table_schema,
        states.table_name,
        states.column_name,
        states.data_type
    from pairs
    inner join states
        on pairs.previous_at = states.state_at
    where pairs.previous_at is not null
),

tables_in_both as (
    -- a relation created or dropped between two states is not a column change (every run may add models)
    select distinct
        pair_now.state_at,
        pair_now.table_schema,
        pair_now.table_name
    from pair_now
    inner join pair_before
        on
            pair_now.state_at = pair_before.state_at
            and pair_now.table_schema = pair_before.table_schema
            and pair_now.table_name = pair_before.table_name
),

diffs as (
    select
        coalesce(pair_now.state_at, pair_before.state_at) as detected_at,
        coalesce(pair_now.table_schema, pair_before.table_schema) as table_schema,
        coalesce(pair_now.table_name, pair_before.table_name) as table_name,
        coalesce(pair_now.column_name, pair_before.column_name) as column_name,
        pair_before.data_type as previous_type,
        pair_now.data_type as current_type
    from pair_now
    full outer join pair_before
        on
            pair_now.state_at = pair_before.state_at
            and pair_now.table_schema = pair_before.table_schema
            and pair_now.table_name = pair_before.table_name
            and pair_now.column_name = pair_before.column_name
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
            diffs.detected_at = tables_in_both.state_at
            and diffs.table_schema = tables_in_both.table_schema
            and diffs.table_name = tables_in_both.table_name
    cross join checked
    where diffs.previous_type is distinct from diffs.current_type
)

select * from final
