{#- The monitors' reference time: now, or the var observability_now (tests and replays of a past day). -#}
{% macro observability_checked_at() -%}
    {%- if var('observability_now') -%}
        cast('{{ var("observability_now") }}' as timestamp)
    {%- else -%}
        cast(current_timestamp as timestamp)
    {%- endif -%}
{%- endmacro %}
