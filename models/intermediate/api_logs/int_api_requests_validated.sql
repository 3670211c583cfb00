-- Every raw row with a verdict: staged, quarantined (with the first failing rule) or duplicate.
-- Repairs are documented rules: country upper-cased and stripped of spaces, aliases (UK -> GB) mapped,
-- OS spellings mapped through the os_aliases seed. Nothing is dropped here.
with

requests as (
    select * from {{ ref('stg_api_logs__requests') }}
),

countries as (
    select * from {{ ref('iso_3166_countries') }}
),

country_aliases as (
    select * from {{ ref('country_aliases') }}
),

os_aliases as (
    select * from {{ ref('os_aliases') }}
),

mapped as (
    select
        requests.*,
        countries.alpha2 as country_code,
        os_aliases.os
    from requests
    left join country_aliases
        on requests.country_input = country_aliases.alias
    left join countries
        on coalesce(country_aliases.alpha2, requests.country_input) = countries.alpha2
    left join os_aliases
        on requests.os_input = os_aliases.alias
),

judged as (
    select
        *,
        case
            when coalesce(trim(raw_date), '') = '' then 'missing_date'
            when request_date is null then 'invalid_date'
            when file_date is not null
                and (
                    request_date > file_date
                    or request_date < {{ dbt.dateadd('day', -1 * var('api_logs_late_days'), 'file_date') }}
                )
                then 'date_out_of_range'
            when file_date is null
                and (
                    request_date < cast('{{ var("api_logs_min_date") }}' as date)
                    or request_date > cast(loaded_at as date)
                )
                then 'date_out_of_range'
            when coalesce(country_input, '') = '' then 'missing_country'
            when country_code is null then 'unknown_country'
            when coalesce(os_input, '') = '' then 'missing_os'
            when os is null then 'unknown_os'
            when coalesce(trim(raw_count), '') = '' then 'missing_count'
            when request_count is null then 'non_numeric_count'
            when request_count < 0 then 'negative_count'
        end as rejection_reason
    from mapped
),

ranked as (
    -- among valid rows of one key, the latest load wins (a corrected re-delivery supersedes), then the
    -- first line of that load.
    select
        *,
        row_number() over (
            partition by case when rejection_reason is null then 1 end, request_date, country_code, os
            order by loaded_at desc, load_id desc, line_number asc
        ) as key_rank
    from judged
),

kept as (
    select
        request_date,
        country_code,
        os,
        load_id as kept_load_id,
        request_count as kept_count
    from ranked
    where rejection_reason is null and key_rank = 1
),

final as (
    select
        ranked.load_id,
        ranked.file_name,
        ranked.line_number,
        ranked.loaded_at,
        ranked.raw_date,
        ranked.raw_country,
        ranked.raw_os,
        ranked.raw_count,
        ranked.request_date,
        ranked.country_code,
        ranked.os,
        ranked.request_count,
        case
            when ranked.rejection_reason is not null then ranked.rejection_reason
            when ranked.key_rank > 1
                and ranked.load_id = kept.kept_load_id
                and ranked.request_count != kept.kept_count then 'conflicting_duplicate'
        end as rejection_reason,
        case
            when ranked.rejection_reason is null and ranked.key_rank > 1 and ranked.load_id != kept.kept_load_id
                then 'superseded_by_later_load'
            when ranked.rejection_reason is null and ranked.key_rank > 1
                and ranked.request_count = kept.kept_count then 'exact_duplicate'
        end as duplicate_kind,
        case
            when ranked.rejection_reason is not null then 'quarantined'
            when ranked.key_rank = 1 then 'staged'
            when ranked.load_id != kept.kept_load_id or ranked.request_count = kept.kept_count then 'duplicate'
            else 'quarantined'
        end as row_status,
        ranked.country_input != coalesce(ranked.raw_country, '')
        or ranked.country_code != ranked.country_input
        or ranked.os != coalesce(ranked.raw_os, '') as was_repaired
    from ranked
    left join kept
        on ranked.rejection_reason is null
            and ranked.request_date = kept.request_date
            and ranked.country_code = kept.country_code
            and ranked.os = kept.os
)

select * from final
