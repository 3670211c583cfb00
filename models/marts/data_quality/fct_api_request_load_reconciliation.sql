-- One row per load: rows in the file, rows appended to raw, and where each raw row went.
-- Invariant (tested): raw_rows = staged_rows + quarantined_rows + duplicate_rows.
with

loads as (
    select * from {{ ref('stg_ingestion__loads') }}
    where source = 'api_logs'
),

raw_rows as (
    -- counted in the raw tables themselves, not through staging: the check is that no row goes missing
    select
        _load_id as load_id,
        count(*) as raw_rows
    from {{ source('api_logs', 'api_requests') }}
    group by _load_id
),

verdicts as (
    select
        load_id,
        count(case when row_status = 'staged' then 1 end) as staged_rows,
        count(case when row_status = 'quarantined' then 1 end) as quarantined_rows,
        count(case when row_status = 'duplicate' then 1 end) as duplicate_rows,
        count(case when was_repaired and row_status = 'staged' then 1 end) as repaired_rows
    from {{ ref('int_api_requests_validated') }}
    group by load_id
),

retracted_loads as (
    select * from {{ ref('int_retracted_loads') }}
),

final as (
    select
        loads.load_id,
        loads.file_name,
        loads.status as load_status,
        loads.duplicate_of_load_id,
        loads.loaded_at,
        loads.file_rows,
        loads.rows_appended,
        coalesce(raw_rows.raw_rows, 0) as raw_rows,
        coalesce(verdicts.staged_rows, 0) as staged_rows,
        coalesce(verdicts.quarantined_rows, 0) as quarantined_rows,
        coalesce(verdicts.duplicate_rows, 0) as duplicate_rows,
        coalesce(verdicts.repaired_rows, 0) as repaired_rows,
        retracted_loads.retracted_at,
        retracted_loads.retraction_reason
    from loads
    left join raw_rows
        on loads.load_id = raw_rows.load_id
    left join verdicts
        on loads.load_id = verdicts.load_id
    left join retracted_loads
        on loads.load_id = retracted_loads.load_id
)

select * from final
