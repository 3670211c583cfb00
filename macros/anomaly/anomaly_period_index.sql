{#- The period's position in its series: computed in one of each method's window steps, which sorts the same way
    (one sort fewer than a step of its own; robust_seasonal's last step, so the earlier ones carry less). -#}
{% macro anomaly_period_index(partition) -%}
    row_number() over (partition by {{ partition }} order by period_ts) as period_index
{%- endmacro %}
