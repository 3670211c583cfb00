{#- One row of a subquery as a JSON text, e.g. the failing rows the run-history hook samples. -#}
{% macro row_as_json(alias) -%}
    {{ return(adapter.dispatch('row_as_json', 'sentinel')(alias)) }}
{%- endmacro %}

{% macro default__row_as_json(alias) -%}
    cast(row_to_json({{ alias }}) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro duckdb__row_as_json(alias) -%}
    cast(to_json({{ alias }}) as varchar)
{%- endmacro %}

{#- Spark leaves null fields out of `to_json` unless told; DuckDB writes them as null -#}
{% macro spark__row_as_json(alias) -%}
    to_json(struct({{ alias }}.*), map('ignoreNullFields', 'false'))
{%- endmacro %}
