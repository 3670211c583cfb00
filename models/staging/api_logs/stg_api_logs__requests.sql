with

source as (
    select * from {{ source('api_logs', 'api_requests') }}
),

renamed as (
    select
        _load_id as load_id,
        _file_name as file_name,
        _line_number as line_number,
        _loaded_at as loaded_at,
        date as raw_date,
        country as raw_country,
        os as raw_os,
        count as raw_count,
        {{ try_cast("trim(date)", "date") }} as request_date,
        upper(replace(trim(country), ' ', '')) as country_input,
        lower(trim(os)) as os_input,
        {{ parse_count("count") }} as request_count,  -- plain digits only (macros/quality/count_checks.sql)
        {{ file_name_date('_file_name') }} as file_date
    from source
)

select * from renamed
