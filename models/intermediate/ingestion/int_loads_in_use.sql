-- The loads whose rows are in use: every load (re-deliveries included) but those retracted now (python -m ml
-- retract). The monitors of the deliveries read it (volume, freshness, header changes), so a file taken back is
-- no delivery there; the reconciliation marts read every load, since a retracted one must still reconcile.
with

loads as (
    select * from {{ ref('stg_ingestion__loads') }}
),

retracted as (
    select * from {{ ref('int_retracted_loads') }}
),

final as (
    select
        loads.load_id,
        loads.source,
        loads.file_name,
        loads.file_sha256,
        loads.file_rows,
        loads.rows_appended,
        loads.status,
        loads.duplicate_of_load_id,
        loads.loaded_at
    from loads
    left join retracted
        on loads.load_id = retracted.load_id
    where retracted.load_id is null
)

select * from final
