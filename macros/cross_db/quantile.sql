{#- Aggregate (not windowed) continuous quantile of `expr`; engine-specific spelling. -#}
{% macro quantile(expr, q) -%}
    {{ return(adapter.dispatch('quantile', 'sentinel')(expr, q)) }}
{%- endmacro %}

{% macro default__quantile(expr, q) -%}
    percentile_cont({{ q }}) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__quantile(expr, q) -%}
    quantile_cont({{ expr }}, {{ q }})
{%- endmacro %}

{% macro spark__quantile(expr, q) -%}
    percentile({{ expr }}, {{ q }})
{%- endmacro %}
