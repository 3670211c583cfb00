-- One row per day and series at four levels (country x OS, country, OS, total), on a date spine:
-- a missing row is a null value (not a zero), and a series has no rows before its first delivery.
with

staged as (
    select
        request_date,
        country_code,
        os,
        request_count
    from {{ ref('int_api_requests_validated') }}
    where row_status = 'staged'
),

holidays as (
    select * from {{ ref('int_holiday_days_expanded') }}
),

spine as (
    {{ period_spine('(select min(request_date) from staged)', '(select max(request_date) from staged)', 'day') }}
),

leaf_series as (
    select
        country_code,
        os,
        min(request_date) as series_start_date
    from staged
    group by country_code, os
),

leaf as (
    select
        cast(spine.period_ts as date) as series_date,
        leaf_series.country_code as country,
        leaf_series.os,
        leaf_series.series_start_date,
        staged.request_count,
        coalesce(holidays.is_holiday, false) as is_holiday,
        holidays.calendar_label
    from leaf_series
    inner join spine
        on cast(spine.period_ts as date) >= leaf_series.series_start_date
    left join staged
        on cast(spine.period_ts as date) = staged.request_date
            and leaf_series.country_code = staged.country_code
            and leaf_series.os = staged.os
    left join holidays
        on cast(spine.period_ts as date) = holidays.calendar_date
            and leaf_series.country_code = holidays.country_code
),

{% set rollups = [
    ('country_os', ['country', 'os']),
    ('country', ['country']),
    ('os', ['os']),
    ('total', []),
] %}

rolled as (
    {% for level, dims in rollups %}
        select
            series_date,
            '{{ level }}' as level,
            {{ 'country' if 'country' in dims else "'*'" }},
            {{ 'os' if 'os' in dims else "'*'" }},
            min(series_start_date) as series_start_date,
            sum(request_count) as request_count,
            count(*) as n_children,
            count(request_count) as n_children_present,
            coalesce(
                sum(case when is_holiday then request_count end) / nullif(sum(request_count), 0),
                0
            ) as holiday_share,
            max(calendar_label) as calendar_label
        from leaf
        group by series_date{% for d in dims %}, {{ d }}{% endfor %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        series_date,
        level,
        country,
        os,
        country || '/' || os as series_key,
        series_start_date,
        request_count,
        n_children,
        n_children_present,
        holiday_share,
        holiday_share >= {{ var('anomaly_holiday_share') }} as is_holiday,
        case when holiday_share > 0 or level in ('country_os', 'country') then calendar_label end
            as calendar_label
    from rolled
)

select * from final
