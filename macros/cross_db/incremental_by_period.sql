{#- The config of an incremental model whose runs rewrite whole periods: delete+insert on the unique key where
    the engine can delete; on Spark's Parquet tables (no DELETE) an overwrite of the periods' partitions, the
    same rows when every run writes every series of each period it writes. -#}
{% macro incremental_by_period(period_col) -%}
    {{ return(adapter.dispatch('incremental_by_period', 'sentinel')(period_col)) }}
{%- endmacro %}

{% macro default__incremental_by_period(period_col) -%}
    {{ return({'incremental_strategy': 'delete+insert'}) }}
{%- endmacro %}

{% macro spark__incremental_by_period(period_col) -%}
    {{ return({'incremental_strategy': 'insert_overwrite', 'partition_by': [period_col]}) }}
{%- endmacro %}
