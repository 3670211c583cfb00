{#- `fields` (SQL expressions that are never null) joined into one string. dbt.concat chains `||`, which DuckDB
    evaluates pair by pair, building every intermediate string: for the 25 parts of a weekly call row's
    raw_record (stg_calls__weekly), DuckDB's variadic concat() takes half the time (0.7 s against 1.45 s on 3M
    rows, the same strings). Only for fields that are never null: concat() skips a NULL where `||` gives NULL. -#}
{% macro concat_strings(fields) -%}
    {{ return(adapter.dispatch('concat_strings', 'sentinel')(fields)) }}
{%- endmacro %}

{% macro default__concat_strings(fields) -%}
    {{ dbt.concat(fields) }}
{%- endmacro %}

{% macro duckdb__concat_strings(fields) -%}
    concat({{ fields | join(', ') }})
{%- endmacro %}
