-- The header of every loaded call or label file, one row per column in file order.
with

source as (
    select * from {{ source('ingestion', 'load_columns') }}
),

final as (
    select
        load_id,
        column_name,
        ordinal
    from source
)

select * from final
