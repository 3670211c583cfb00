{#- The config of an incremental model whose runs rewrite whole periods: every period a run writes replaces all of
    that period's stored rows, so a row whose input vanished (a retracted file, a row quarantined by a new rule) goes
    with its period. Where the engine can delete: delete+insert keyed on the period (dbt deletes the periods the
    run writes, then inserts); on Spark's Parquet tables (no DELETE): an overwrite of the periods' partitions. A
    period left with no input at all is written by no run: drop_periods_without_input removes it, as a post-hook. -#}
{% macro incremental_by_period(period_col) -%}
    {{ return(adapter.dispatch('incremental_by_period', 'sentinel')(period_col)) }}
{%- endmacro %}

{% macro default__incremental_by_period(period_col) -%}
    {{ return({'incremental_strategy': 'delete+insert', 'unique_key': period_col}) }}
{%- endmacro %}

{% macro spark__incremental_by_period(period_col) -%}
    {{ return({'incremental_strategy': 'insert_overwrite', 'partition_by': [period_col]}) }}
{%- endmacro %}
