-- Nothing is lost between raw and validation: each raw row appears exactly once with a verdict.
-- In Dagster it is an asset check on the validation model (a singular test must name the asset it checks).
{{ config(meta={'dagster': {'ref': {'name': 'int_api_requests_validated'}}}) }}

with

raw_rows as (
    select
        _load_id as load_id,
        _line_number as line_number
    from {{ source('api_logs', 'api_requests') }}
),

verdicts as (
    select
        load_id,
        line_number,
        count(*) as n_verdicts
    from {{ ref('int_api_requests_validated') }}
    group by load_id, line_number
),

final as (
    select
        raw_rows.load_id,
        raw_rows.line_number,
        coalesce(verdicts.n_verdicts, 0) as n_verdicts
    from raw_rows
    left join verdicts
        on
            raw_rows.load_id = verdicts.load_id
            and raw_rows.line_number = verdicts.line_number
    where coalesce(verdicts.n_verdicts, 0) != 1
)

select * from final
