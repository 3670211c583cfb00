-- The holiday calendar seed (date ranges) expanded to one row per country and day.
with

calendar as (
    select * from {{ ref('holiday_calendar_2024') }}
),

spine as (
    {{ period_spine('(select min(start_date) from calendar)', '(select max(end_date) from calendar)', 'day') }}
),

expanded as (
    select
        cast(spine.period_ts as date) as calendar_date,
        calendar.country_code,
        calendar.holiday_name,
        calendar.kind
    from calendar
    inner join spine
        on cast(spine.period_ts as date) between calendar.start_date and calendar.end_date
),

final as (
    select
        calendar_date,
        country_code,
        max(case when kind = 'holiday' then 1 else 0 end) = 1 as is_holiday,
        {{ dbt.listagg('holiday_name', "', '", "order by holiday_name") }} as calendar_label
    from expanded
    group by calendar_date, country_code
)

select * from final
