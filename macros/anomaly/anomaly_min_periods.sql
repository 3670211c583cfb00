{#- How many values a trailing window of `window` periods must hold before a method judges with it: the
    `min_periods` setting when it is set (capped at the window), else half the window (at least 2). -#}
{% macro anomaly_min_periods(o, window) -%}
    {%- if o.min_periods > 0 -%}{{ return([o.min_periods, window] | min) }}
    {%- else -%}{{ return([window // 2, 2] | max) }}{%- endif -%}
{%- endmacro %}
