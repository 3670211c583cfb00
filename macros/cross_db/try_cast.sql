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

{% macro spark__try_cast(expr, data_type) -%}
    {%- set t = data_type | lower -%}
    {%- if t in ['double', 'float', 'bigint', 'integer', 'int', 'smallint'] or t.startswith('decimal') -%}
    {#- DuckDB reads digits grouped by underscores (1_000) as a number, and the validation rules count on it
        (1_000 is a number, but not a plain integer); Spark does not, so the groups are joined first -#}
    try_cast(regexp_replace({{ expr }}, '(?<=[0-9])_(?=[0-9])', '') as {{ data_type }})
    {%- else -%}
    try_cast({{ expr }} as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
