-- One row per landing file any loader has seen (ml/ingest.py, ml/calls/ingest.py), re-deliveries included.
with

source as (
    select * from {{ source('ingestion', 'loads') }}
),

final as (
    select
        load_id,
        source,
        file_name,
        file_sha256,
        file_rows,
        rows_appended,
        status,
        duplicate_of_load_id,
        loaded_at
    from source
)

select * from final
