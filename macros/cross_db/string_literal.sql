{#- A Python value as a SQL string literal. Spark SQL escapes a quote with a backslash: the SQL-standard
    doubled quote ('') is read there as two adjacent literals, and the quote is silently lost. -#}
{% macro string_literal(value) -%}
    {{ return(adapter.dispatch('string_literal', 'sentinel')(value)) }}
{%- endmacro %}

{% macro default__string_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__string_literal(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}
