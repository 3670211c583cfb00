-- Data-quality findings of the API-request loads: rejected rows per reason and file, and repairs applied.
-- Compile with `dbt compile -s api_requests_data_quality_profile` and run the SQL in target/compiled.
with

validated as (
    select * from {{ ref('int_api_requests_validated') }}
),

final as (
    select
        row_status,
        coalesce(rejection_reason, duplicate_kind, case when was_repaired then 'repaired' end, 'clean')
            as finding,
        count(*) as n_rows,
        count(distinct file_name) as n_files,
        min(file_name || ':' || cast(line_number as varchar)) as first_example
    from validated
    group by
        row_status,
        coalesce(rejection_reason, duplicate_kind, case when was_repaired then 'repaired' end, 'clean')
)

select * from final
order by row_status asc, n_rows desc
