{#- A pre-hook of an incremental model: adds to its table the columns of its contract that the table lacks (a table
    built by an earlier version of the model), with the contract's types and null in the stored rows, before the
    model's query runs. That query may read them from {{ this }}: the detection mart reads detector_settings, and
    judges again the rows where it is null. dbt's on_schema_change='append_new_columns' adds them only after the
    query, which then fails on the missing column. Renders no SQL: the columns are added through dbt's
    alter_relation_add_remove_columns, which each adapter implements. -#}
{% macro add_contract_columns() -%}
    {%- if execute and is_incremental() -%}
        {%- set relation = load_relation(this) -%}  {#- with its type (table), which `this` lacks -#}
        {%- set stored = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- set missing = [] -%}
        {%- for name, column in model.columns.items() if name | lower not in stored -%}
            {%- do missing.append(api.Column.create(name, column.data_type)) -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ log('add_contract_columns: adding ' ~ (missing | map(attribute='name') | join(', ')) ~ ' to ' ~ relation,
                   info=true) }}
            {%- do alter_relation_add_remove_columns(relation, missing, []) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
