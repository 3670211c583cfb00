{#- Back from the detector's space to value space (log1p for robust_seasonal). -#}
{% macro anomaly_inv(x, log_space) -%}
    {%- if log_space %}(exp({{ x }}) - 1){% else %}({{ x }}){% endif -%}
{%- endmacro %}
