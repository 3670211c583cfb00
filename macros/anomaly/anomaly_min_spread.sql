{#- The floor on the residual spread: min_iqr_log in log space is a relative spread (2 % by default); on raw
    values the same relative floor, so it does not depend on the unit of the measure. -#}
{% macro anomaly_min_spread(o, center) -%}
    {%- if o.log_transform -%}{{ o.min_iqr_log }}
    {%- else -%}{{ o.min_iqr_log }} * abs({{ center }}){%- endif -%}
{%- endmacro %}
