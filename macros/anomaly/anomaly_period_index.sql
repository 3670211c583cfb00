{#- The period's position in its series: computed in each method's first window step, which sorts the same way
    (one sort fewer than a step of its own). -#}
{% macro anomaly_period_index(partition) -%}
    row_number() over (partition by {{ partition }} order by period_ts) as period_index
{%- endmacro %}
