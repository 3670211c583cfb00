{#- Two of dbt-spark's macros, mended; `dispatch` in dbt_project.yml puts the project's before dbt-spark's. -#}

{#- The seed loader passes the values as bindings, which dbt-spark's `session` connection formats into the SQL
    without escaping: a seed value with a quote (Côte d'Ivoire) is a syntax error. The same insert with the
    values written as literals (string_literal). -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- if value is none -%}cast(null as {{ types[loop.index0] }})
                    {%- elif value is number -%}cast({{ value }} as {{ types[loop.index0] }})
                    {%- else -%}cast({{ string_literal(value) }} as {{ types[loop.index0] }})
                    {%- endif -%}
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}

{#- dbt-spark's listagg ignores the order (it warns and concatenates in any order): holiday labels came out as
    'Ramadan, Nowruz' on one run and 'Nowruz, Ramadan' on DuckDB. Spark 4 has listagg ... within group. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with a limit is not supported on Spark by this project") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}

{#- dbt-spark enforces a contract's not_null constraints with `alter table ... set not null`, which only Delta
    tables support; this project's Spark tables are Parquet (the session's default source), where that
    statement fails. The constraints are checked on the written table instead: a null in a not_null column
    fails the model, as DuckDB's NOT NULL does (the table is then already replaced: downstream models do not
    run on it). Other constraints are not checked here, and say so. -#}
{% macro spark__persist_constraints(relation, model) %}
    {%- if config.get('contract').enforced -%}
        {%- set not_null = [] -%}
        {%- for name, column in model.columns.items() -%}
            {%- for constraint in column['constraints'] -%}
                {%- if constraint.type == 'not_null' -%}
                    {%- do not_null.append(name) -%}
                {%- else -%}
                    {%- do exceptions.warn("contract of " ~ relation ~ ": the " ~ constraint.type ~ " constraint on "
                                           ~ name ~ " is not enforced on Spark's Parquet tables") -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for constraint in model.constraints -%}
            {%- do exceptions.warn("contract of " ~ relation ~ ": the " ~ constraint.type
                                   ~ " constraint is not enforced on Spark's Parquet tables") -%}
        {%- endfor -%}
        {%- if not_null -%}
            {%- set counts -%}
                select
                {%- for c in not_null %}
                    sum(case when {{ c }} is null then 1 else 0 end) as {{ c }}{% if not loop.last %},{% endif %}
                {%- endfor %}
                from {{ relation }}
            {%- endset -%}
            {%- set row = run_query(counts).rows[0] -%}
            {%- for c in not_null -%}
                {%- if (row[loop.index0] or 0) > 0 -%}
                    {{ exceptions.raise_compiler_error(
                        "contract of " ~ relation ~ ": column " ~ c ~ " is not_null, but " ~ row[loop.index0]
                        ~ " rows are null") }}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
