{#- Quantile of `expr` over the `preceding` rows before the current one (the current row is excluded, so a
    value never widens its own baseline). Engine-specific: windowed quantiles are spelled differently. -#}
{% macro rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    {{ return(adapter.dispatch('rolling_quantile', 'sentinel')(expr, quantile, partition_by, order_by, preceding)) }}
{%- endmacro %}

{% macro default__rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    percentile_cont({{ quantile }}) within group (order by {{ expr }}) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between {{ preceding }} preceding and 1 preceding
    )
{%- endmacro %}

{% macro duckdb__rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    quantile_cont({{ expr }}, {{ quantile }}) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between {{ preceding }} preceding and 1 preceding
    )
{%- endmacro %}

{% macro spark__rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    percentile({{ expr }}, {{ quantile }}) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between {{ preceding }} preceding and 1 preceding
    )
{%- endmacro %}
