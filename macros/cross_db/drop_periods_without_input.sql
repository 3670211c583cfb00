{#- A post-hook of an incremental_by_period model: removes from its table the periods of which `input` has no row
    any more (every file of the day retracted, say). A run rewrites only the periods it writes, and a period without
    input is written by none, so its stale rows would stay for good. Deletes where the engine can; drops the
    periods' partitions on Spark's Parquet tables, which have no DELETE. -#}
{% macro drop_periods_without_input(period_col, input) -%}
    {{ return(adapter.dispatch('drop_periods_without_input', 'sentinel')(period_col, input)) }}
{%- endmacro %}

{% macro default__drop_periods_without_input(period_col, input) -%}
    delete from {{ this }}
    where not exists (
        select 1 from {{ input }} as input_rows
        where input_rows.{{ period_col }} = {{ this }}.{{ period_col }}
    )
{%- endmacro %}

{% macro spark__drop_periods_without_input(period_col, input) -%}
    {%- if execute -%}
        {%- set vanished = run_query(
            'select distinct ' ~ period_col ~ ' from ' ~ this ~ ' where ' ~ period_col
            ~ ' not in (select distinct ' ~ period_col ~ ' from ' ~ input ~ ')'
        ) -%}
        {%- for row in vanished.rows -%}
            {%- do run_query('alter table ' ~ this ~ ' drop if exists partition (' ~ period_col ~ " = '"
                             ~ row[0] ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
