{#- Columns detection_start / detection_end: the last `anomaly_detection_days` periods ending at
    `anomaly_detection_end` (default: the last date in `relation`). -#}
{% macro detection_period(relation, date_col) -%}
    select
        cast({{ dbt.dateadd('day', -1 * (var('anomaly_detection_days') | int - 1), 'detection_end') }} as date)
            as detection_start,
        detection_end
    from (
        {%- if var('anomaly_detection_end') %}
        select cast('{{ var("anomaly_detection_end") }}' as date) as detection_end
        {%- else %}
        select max({{ date_col }}) as detection_end
        from {{ relation }}
        {%- endif %}
    ) as period_end
{%- endmacro %}
