{#- Replace every row of a table by `rows` ("(v1, v2, ...)" SQL tuples, 500 per statement). Spark's Parquet
    tables have no DELETE: the first batch overwrites the table, the next ones append. -#}
{% macro replace_table_rows(table, rows) -%}
    {{ return(adapter.dispatch('replace_table_rows', 'sentinel')(table, rows)) }}
{%- endmacro %}

{% macro default__replace_table_rows(table, rows) -%}
    {%- do run_query("delete from " ~ table) -%}
    {%- do insert_values(table, rows) -%}
{%- endmacro %}

{% macro spark__replace_table_rows(table, rows) -%}
    {%- if not rows -%}
        {%- do run_query("truncate table " ~ table) -%}
    {%- endif -%}
    {%- for batch in rows | batch(500) -%}
        {%- do run_query("insert " ~ ("overwrite table " if loop.first else "into ") ~ table ~ " values "
                         ~ batch | join(",\n")) -%}
    {%- endfor -%}
{%- endmacro %}
