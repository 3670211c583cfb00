-- Every raw API-request row that did not reach the series, with the reason and its lineage (file, line,
-- load). Rows are never dropped silently: this table plus the staged rows plus removed duplicates add up to
-- the raw rows of each load (fct_api_request_load_reconciliation).
with

validated as (
    select * from {{ ref('int_api_requests_validated') }}
),

final as (
    select
        load_id,
        file_name,
        line_number,
        loaded_at,
        raw_date,
        raw_country,
        raw_os,
        raw_count,
        rejection_reason
    from validated
    where row_status = 'quarantined'
)

select * from final
