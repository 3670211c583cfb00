{#- One row per period (`day` or `hour`) from start_expr to end_expr inclusive, column `period_ts`. -#}
{% macro period_spine(start_expr, end_expr, period='day') -%}
    {{ return(adapter.dispatch('period_spine', 'sentinel')(start_expr, end_expr, period)) }}
{%- endmacro %}

{% macro default__period_spine(start_expr, end_expr, period) -%}
    with recursive spine (period_ts) as (
        select cast({{ start_expr }} as timestamp)
        union all
        select {{ dbt.dateadd(period, 1, 'period_ts') }} from spine
        where period_ts < cast({{ end_expr }} as timestamp)
    )

    select period_ts from spine
{%- endmacro %}

{% macro duckdb__period_spine(start_expr, end_expr, period) -%}
    select unnest(generate_series(
        cast({{ start_expr }} as timestamp), cast({{ end_expr }} as timestamp), interval 1 {{ period }}
    )) as period_ts
{%- endmacro %}

{% macro spark__period_spine(start_expr, end_expr, period) -%}
    {#- a recursive CTE stops at Spark's recursion limit (100 levels): a sequence, exploded -#}
    select explode(sequence(
        cast({{ start_expr }} as timestamp), cast({{ end_expr }} as timestamp), interval 1 {{ period }}
    )) as period_ts
{%- endmacro %}
