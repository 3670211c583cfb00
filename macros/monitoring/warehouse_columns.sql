{#-
    Every column of every relation the project builds or loads, from the engine's catalog: the input of the
    schema-change monitor. Engine-specific (catalog views differ), so it goes through adapter.dispatch.
    Temporary relations of an invocation in progress (__dbt_tmp, __dbt_backup) are left out.
-#}

{% macro monitored_schemas() -%}
    {{ return(["raw", "reference", "staging", "intermediate", "marts", "evaluation", "ml"]) }}
{%- endmacro %}

{% macro warehouse_columns() -%}
    {{ return(adapter.dispatch("warehouse_columns", "sentinel")()) }}
{%- endmacro %}

{% macro default__warehouse_columns() -%}
    {{ warehouse_columns_query("true") }}
{%- endmacro %}

{% macro duckdb__warehouse_columns() -%}
    {#- the catalog lists every attached database: keep the warehouse's own -#}
    {{ warehouse_columns_query("table_catalog = current_database()") }}
{%- endmacro %}

{% macro spark__warehouse_columns() -%}
    {#- Spark's session catalog has no information_schema: the columns are read through the adapter when the
        SQL is compiled (so on Spark the int_warehouse_columns view shows the catalog as of its last build) -#}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- set existing = run_query("show schemas").columns[0].values() | map("lower") | list -%}
        {%- for schema in monitored_schemas() if schema in existing -%}
            {%- for table in run_query("show tables in " ~ schema).columns[1].values() -%}
                {%- if '__dbt_tmp' not in table and '__dbt_backup' not in table -%}
                    {%- set relation = api.Relation.create(schema=schema, identifier=table) -%}
                    {%- for column in adapter.get_columns_in_relation(relation) -%}
                        {%- set values = [] -%}
                        {%- for v in [schema, table, column.name, column.dtype | lower] -%}
                            {%- do values.append(string_literal(v)) -%}
                        {%- endfor -%}
                        {%- do rows.append("(" ~ values | join(", ") ~ ")") -%}
                    {%- endfor -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if rows -%}
    select * from (values {{ rows | join(', ') }}) as catalog_columns (table_schema, table_name, column_name, data_type)
    {%- else -%}
    select
        cast(null as string) as table_schema,
        cast(null as string) as table_name,
        cast(null as string) as column_name,
        cast(null as string) as data_type
    where false
    {%- endif -%}
{%- endmacro %}

{% macro warehouse_columns_query(catalog_predicate) -%}
    select
        table_schema,
        table_name,
        column_name,
        lower(data_type) as data_type
    from information_schema.columns
    where
        {{ catalog_predicate }}
        and table_schema in ('{{ monitored_schemas() | join("', '") }}')
        and table_name not like '%__dbt_tmp%'
        and table_name not like '%__dbt_backup%'
{%- endmacro %}


{#- on-run-end: store the columns when they differ from the last stored state (one snapshot per change). -#}
{% macro store_schema_snapshot() %}
    {%- if not execute -%}
        {{ return("") }}
    {%- endif -%}
    {%- set sql -%}
        insert into observability.schema_snapshots
        with current_columns as (
            {{ warehouse_columns() }}
        ),

        last_snapshot as (
            select table_schema, table_name, column_name, data_type
            from observability.schema_snapshots
            where snapshot_at = (select max(snapshot_at) from observability.schema_snapshots)
        ),

        changed as (
            select count(*) as n from (
                (select * from current_columns except select * from last_snapshot)
                union all
                (select * from last_snapshot except select * from current_columns)
            ) as diff
        )

        select
            '{{ invocation_id }}' as invocation_id,
            {{ _sql_timestamp(modules.datetime.datetime.utcnow()) }} as snapshot_at,
            current_columns.*
        from current_columns
        where (select n from changed) > 0
    {%- endset -%}
    {%- do run_query(sql) -%}
    {{ return("") }}
{% endmacro %}
