{#- Consecutive incident periods of one node and direction grouped into one incident (gaps and islands).
    `grain` (day or hour) is the period length: islands are counted in calendar periods, so rows computed by
    different incremental runs group the same way. -#}
{% macro group_incident_periods(relation, partition_cols=['detector'], grain='day') -%}
    {%- set pcols = partition_cols | join(', ') -%}
    with islands as (
        select
            *,
            {{ dbt.datediff("cast('2000-01-01' as timestamp)", 'period_ts', grain) }} - row_number() over (
                partition by {{ pcols }}, series_key, direction order by period_ts
            ) as island
        from {{ relation }}
    ),

    peak as (
        select
            *,
            row_number() over (
                partition by {{ pcols }}, series_key, direction, island
                order by abs(coalesce(deviation_value, 0)) desc
            ) as peak_rank
        from islands
    ),

    grouped as (
        select
            {{ pcols }},
            level,
            country,
            os,
            series_key,
            direction,
            island,
            min(period_ts) as start_ts,
            max(period_ts) as end_ts,
            count(*) as n_periods,
            sum(deviation_value) as total_deviation_value,
            max(calendar_label) as calendar_label,
            max(case when is_holiday then 1 else 0 end) = 1 as on_holiday
        from peak
        group by {{ pcols }}, level, country, os, series_key, direction, island
    ),

    final as (
        select
            grouped.*,
            peak.value as peak_value,
            peak.expected_value as peak_expected_value,
            peak.deviation_pct as peak_deviation_pct,
            peak.explanation as peak_explanation,
            peak.contributors,
            peak.n_contributors
        from grouped
        inner join peak
            on {% for c in partition_cols %}grouped.{{ c }} = peak.{{ c }} and {% endfor -%}
            grouped.series_key = peak.series_key
            and grouped.direction = peak.direction
            and grouped.island = peak.island
            and peak.peak_rank = 1
    )

    select * from final
{%- endmacro %}
