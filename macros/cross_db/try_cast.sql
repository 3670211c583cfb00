{#- Cast that yields null instead of failing on bad input (dbt.safe_cast is a plain cast on dbt-duckdb). -#}
{% macro try_cast(expr, data_type) -%}
    {{ return(adapter.dispatch('try_cast', 'sentinel')(expr, data_type)) }}
{%- endmacro %}

{% macro default__try_cast(expr, data_type) -%}
    {{ dbt.safe_cast(expr, data_type) }}
{%- endmacro %}

{% macro duckdb__try_cast(expr, data_type) -%}
    try_cast({{ expr }} as {{ data_type }})
{%- endmacro %}
