-- Every raw row with a verdict: staged, quarantined (with the first failing rule) or duplicate.
-- Repairs are documented rules: country upper-cased and stripped of spaces, aliases (UK -> GB) and ISO alpha-3
-- codes (IND -> IN) mapped, OS spellings mapped through the os_aliases seed. Nothing is dropped here.
-- The feed holds one count per day: a date with a time of day (2024-04-01 13:00) is an hourly or partial-day
-- row, and the file it came in holds no day totals, so every timed row of that file is quarantined, its
-- midnight rows too (staged, the 00:00 hour would have stood for the day). A timestamp at midnight in a file
-- without other times (a BI export's 2024-04-01T00:00:00Z) is that day.
-- A date written with slashes or points (03/25/2024, 25.03.2024: a spreadsheet in a US or European locale) is
-- read once its file's rows say which part is the day: a first part above 12 makes them all day-first, a second
-- part above 12 month-first. A file whose dates say neither takes the order of the feed's dates (when they all
-- agree); when neither the file nor the feed says one order, its rows are quarantined ambiguous_date.
-- The rows of a load retracted (python -m ml retract: a file delivered by mistake) are quarantined retracted_load,
-- so the latest earlier delivery of each key is staged again.
{%- set has_time = dbt.position("':'", "raw_date") ~ " > 0 and " ~ regexp_like("raw_date", "[T ][0-9]{1,2}:[0-9]{2}") %}
{%- set at_midnight = regexp_like("raw_date", "[T ]0?0:00(:00([.]0+)?)?([^0-9.:]|$)") %}
{#- the order of day and month that a group of dates with slashes or points says, or null (none, or both) -#}
{%- set order_of_dates %}
    case
        when max(date_part_1) > 12 and max(date_part_2) <= 12 then 'day_first'
        when max(date_part_2) > 12 and max(date_part_1) <= 12 then 'month_first'
    end
{%- endset %}
with

requests as (
    select * from {{ ref('stg_api_logs__requests') }}
),

retracted_loads as (
    select * from {{ ref('int_retracted_loads') }}
),

slash_dates as (
    -- a date that is not ISO but has points or slashes, as day/month/year in either order (tested once per row)
    select
        requests.*,
        retracted_loads.load_id is not null as is_retracted,
        case
            when requests.request_date is null
                and {{ regexp_like('trim(requests.raw_date)', '^[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{4}$') }}
                then replace(trim(requests.raw_date), '.', '/')
        end as slash_date
    from requests
    left join retracted_loads
        on requests.load_id = retracted_loads.load_id
),

date_parts as (
    select
        *,
        {%- for i in [1, 2, 3] %}
            cast({{ dbt.split_part('slash_date', "'/'", i) }} as int) as date_part_{{ i }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from slash_dates
),

file_date_order as (
    -- each file's order of day and month, from its dates with slashes or points (a US and a European export
    -- may share a feed)
    select
        load_id,
        {{ order_of_dates }} as slash_date_order
    from date_parts
    group by load_id
),

date_order as (
    -- the feed's order, for a file whose own dates do not say (a retracted file has no say)
    select {{ order_of_dates }} as slash_date_order
    from date_parts
    where not is_retracted
),

ordered as (
    select
        date_parts.*,
        coalesce(file_date_order.slash_date_order, date_order.slash_date_order) as slash_date_order
    from date_parts
    left join file_date_order
        on date_parts.load_id = file_date_order.load_id
    cross join date_order
),

dated as (
    select
        *,
        date_part_1 is not null as is_slash_date,
        case slash_date_order when 'day_first' then date_part_1 when 'month_first' then date_part_2 end as slash_day,
        case slash_date_order when 'day_first' then date_part_2 when 'month_first' then date_part_1 end as slash_month
    from ordered
),

read_dates as (
    -- request_day: the staged ISO date, or the date read from points or slashes
    select
        *,
        coalesce(
            request_date,
            {{ try_cast(
                "cast(date_part_3 as " ~ dbt.type_string() ~ ") || '-' || lpad(cast(slash_month as "
                ~ dbt.type_string() ~ "), 2, '0') || '-' || lpad(cast(slash_day as " ~ dbt.type_string()
                ~ "), 2, '0')", 'date') }}
        ) as request_day
    from dated
),

countries as (
    select * from {{ ref('iso_3166_countries') }}
),

country_aliases as (
    {{ country_alias_rows() }}
),

os_aliases as (
    select * from {{ ref('os_aliases') }}
),

mapped as (
    select
        read_dates.*,
        countries.alpha2 as country_code,
        os_aliases.os
    from read_dates
    left join country_aliases
        on read_dates.country_input = country_aliases.alias
    left join countries
        on coalesce(country_aliases.alpha2, read_dates.country_input) = countries.alpha2
    left join os_aliases
        on read_dates.os_input = os_aliases.alias
),

timed as (
    select
        *,
        coalesce({{ has_time }}, false) as has_time_of_day,
        coalesce({{ has_time }} and not {{ at_midnight }}, false) as has_time_after_midnight
    from mapped
),

loads_with_times as (
    -- the loads that hold a row with a time of day other than midnight
    select distinct load_id
    from timed
    where has_time_after_midnight
),

timed_loads as (
    select
        timed.*,
        loads_with_times.load_id is not null as is_in_timed_load
    from timed
    left join loads_with_times
        on timed.load_id = loads_with_times.load_id
),

judged as (
    select
        *,
        case
            when is_retracted then 'retracted_load'
            when coalesce(trim(raw_date), '') = '' then 'missing_date'
            when is_slash_date and slash_date_order is null then 'ambiguous_date'
            when request_day is null then 'invalid_date'
            when has_time_of_day and is_in_timed_load then 'date_with_time'
            when file_date is not null
                and (
                    request_day > file_date
                    or request_day < {{ dbt.dateadd('day', -1 * var('api_logs_late_days'), 'file_date') }}
                )
                then 'date_out_of_range'
            when file_date is null
                and (
                    request_day < cast('{{ var("api_logs_min_date") }}' as date)
                    or request_day > cast(loaded_at as date)
                )
                then 'date_out_of_range'
            when coalesce(country_input, '') = '' then 'missing_country'
            when country_code is null then 'unknown_country'
            when coalesce(os_input, '') = '' then 'missing_os'
            when os is null then 'unknown_os'
            else {{ count_problem('raw_count', var('api_logs_max_count'), 'request_count') }}
        end as rejection_reason
    from timed_loads
),

verdicts as (
    {{ row_verdicts('judged', ['request_day', 'country_code', 'os'], 'request_count') }}
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
        request_day as request_date,
        country_code,
        os,
        request_count,
        verdict_reason as rejection_reason,
        duplicate_kind,
        row_status,
        country_input != coalesce(raw_country, '')
        or country_code != country_input
        or os != coalesce(raw_os, '')
        or (is_slash_date and request_day is not null) as was_repaired
    from verdicts
)

select * from final
