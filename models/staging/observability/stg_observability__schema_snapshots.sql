-- The columns of every monitored relation, one snapshot per change (stored by the on-run-end hook).
with

source as (
    select * from {{ source('observability', 'schema_snapshots') }}
),

final as (
    select
        invocation_id,
        snapshot_at,
        table_schema,
        table_name,
        column_name,
        data_type
    from source
)

select * from final
