{#- True when the text is digits only (no sign, point, exponent, separator or prefix). -#}
{% macro is_plain_integer(expr) -%}
    {{ return(adapter.dispatch('is_plain_integer', 'sentinel')(expr)) }}
{%- endmacro %}

{% macro default__is_plain_integer(expr) -%}
    ({{ expr }} similar to '[0-9]+')
{%- endmacro %}

{% macro duckdb__is_plain_integer(expr) -%}
    regexp_full_match({{ expr }}, '[0-9]+')
{%- endmacro %}

{% macro spark__is_plain_integer(expr) -%}
    ({{ expr }} rlike '^[0-9]+$')
{%- endmacro %}
