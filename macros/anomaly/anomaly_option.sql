{% macro anomaly_option(options, key) -%}
    {%- if options is not none and key in options -%}{{ return(options[key]) }}
    {%- else -%}{{ return(var('anomaly_' ~ key)) }}{%- endif -%}
{%- endmacro %}
