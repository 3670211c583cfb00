-- One row per weekly-call or label load: rows appended and where each raw row went.
-- Invariant (tested): raw_rows = staged_rows + quarantined_rows + duplicate_rows.
with

loads as (
    select * from {{ ref('stg_ingestion__loads') }}
    where source in ('calls', 'call_labels')
),

raw_rows as (
    -- counted in the raw tables themselves, not through staging: the check is that no row goes missing
    select
        _load_id as load_id,
        count(*) as raw_rows
    from {{ source('calls', 'calls_weekly') }}
    group by _load_id
    union all
    select
        _load_id as load_id,
        count(*) as raw_rows
    from {{ source('calls', 'call_labels') }}
    group by _load_id
),

verdicts as (
    select
        load_id,
        row_status
    from {{ ref('int_calls_weekly_validated') }}
    union all
    select
        load_id,
        row_status
    from {{ ref('int_call_labels_validated') }}
),

verdict_counts as (
    select
        load_id,
        count(case when row_status = 'staged' then 1 end) as staged_rows,
        count(case when row_status = 'quarantined' then 1 end) as quarantined_rows,
        count(case when row_status = 'duplicate' then 1 end) as duplicate_rows
    from verdicts
    group by load_id
),

retracted_loads as (
    select * from {{ ref('int_retracted_loads') }}
),

final as (
    select
        loads.load_id,
        loads.source as source_name,
        loads.file_name,
        loads.status as load_status,
        loads.duplicate_of_load_id,
        loads.loaded_at,
        loads.rows_appended,
        coalesce(raw_rows.raw_rows, 0) as raw_rows,
        coalesce(verdict_counts.staged_rows, 0) as staged_rows,
        coalesce(verdict_counts.quarantined_rows, 0) as quarantined_rows,
        coalesce(verdict_counts.duplicate_rows, 0) as duplicate_rows,
        retracted_loads.retracted_at,
        retracted_loads.retraction_reason
    from loads
    left join raw_rows
        on loads.load_id = raw_rows.load_id
    left join verdict_counts
        on loads.load_id = verdict_counts.load_id
    left join retracted_loads
        on loads.load_id = retracted_loads.load_id
)

select * from final
