{#- The business date carried by a landing file name (..._YYYY-MM-DD....csv), or null. -#}
{% macro file_name_date(file_name) -%}
    {{ return(adapter.dispatch('file_name_date', 'sentinel')(file_name)) }}
{%- endmacro %}

{% macro default__file_name_date(file_name) -%}
    {{ try_cast("regexp_substr(" ~ file_name ~ ", '[0-9]{4}-[0-9]{2}-[0-9]{2}')", "date") }}
{%- endmacro %}

{% macro duckdb__file_name_date(file_name) -%}
    try_cast(nullif(regexp_extract({{ file_name }}, '[0-9]{4}-[0-9]{2}-[0-9]{2}'), '') as date)
{%- endmacro %}
