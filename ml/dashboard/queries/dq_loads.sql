-- Data quality, every API-log and call file loaded: its rows by verdict and whether they reconcile; a file taken
-- back (python -m ml retract) shows as retracted.
select
    'api_logs' as feed,
    file_name,
    case when retracted_at is not null then 'retracted' else load_status end as load_status,
    loaded_at,
    raw_rows,
    staged_rows,
    quarantined_rows,
    duplicate_rows,
    raw_rows = staged_rows + quarantined_rows + duplicate_rows as reconciles
from marts.fct_api_request_load_reconciliation
union all
select
    'calls' as feed,
    file_name,
    case when retracted_at is not null then 'retracted' else load_status end as load_status,
    loaded_at,
    raw_rows,
    staged_rows,
    quarantined_rows,
    duplicate_rows,
    raw_rows = staged_rows + quarantined_rows + duplicate_rows as reconciles
from marts.fct_calls_load_reconciliation
order by feed, file_name
