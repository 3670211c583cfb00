{#-
    Run and test history in the Elementary style, without the Elementary package (the dbt Hub is out of
    reach): an on-run-end hook (dbt_project.yml) appends every executed node of every invocation to
    `observability.dbt_run_results`, every test to `observability.elementary_test_results`, a sample of the
    rows each failing or warning test found to `observability.test_result_rows`, and the columns of every
    relation to `observability.schema_snapshots` when they changed (warehouse_columns.sql). The
    tables are created here, not by models, so `dbt build --full-refresh` never drops them. Column names
    follow Elementary's tables of the same names, so a team with Hub access can switch.
-#}

{% macro store_run_results(results) %}
    {%- if not execute or not results -%}
        {{ return("") }}
    {%- endif -%}
    {%- do create_observability_tables() -%}
    {%- set runs = [] -%}
    {%- set tests = [] -%}
    {%- for r in results -%}
        {%- if r.node.resource_type in ("test", "unit_test") -%}
            {%- do tests.append(test_result_row(r)) -%}
        {%- else -%}
            {%- do runs.append(run_result_row(r)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do insert_values("observability.dbt_run_results", runs) -%}
    {%- do insert_values("observability.elementary_test_results", tests) -%}
    {%- set sampled = [] -%}
    {%- for r in results if r.node.resource_type == "test" and r.status in ("fail", "warn") and r.failures -%}
        {%- do store_failed_rows_sample(r) -%}
        {%- do sampled.append(r.node.unique_id) -%}
    {%- endfor -%}
    {%- do store_project_tests() -%}
    {%- do store_schema_snapshot() -%}
    {{ log("observability: stored " ~ runs | length ~ " run results, " ~ tests | length ~ " test results and "
           ~ sampled | length ~ " failing-row samples", info=True) }}
    {{ return("") }}
{% endmacro %}


{% macro insert_values(table, rows) %}
    {#- rows: "(v1, v2, ...)" SQL tuples, inserted 500 per statement -#}
    {%- for batch in rows | batch(500) -%}
        {%- do run_query("insert into " ~ table ~ " values " ~ batch | join(",\n")) -%}
    {%- endfor -%}
{% endmacro %}


{% macro create_observability_tables() %}
    {#- also the on-run-start hook: the tables exist before any model or test reads them -#}
    {%- if execute -%}
        {%- for statement in observability_ddl().split(";") if statement.strip() -%}
            {%- do run_query(statement) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return("") }}
{% endmacro %}


{% macro observability_ddl() %}
    create schema if not exists observability;
    create table if not exists observability.dbt_run_results (
        model_execution_id {{ dbt.type_string() }},   -- invocation_id.unique_id
        invocation_id {{ dbt.type_string() }},
        unique_id {{ dbt.type_string() }},
        name {{ dbt.type_string() }},
        resource_type {{ dbt.type_string() }},        -- model | seed | snapshot
        materialization {{ dbt.type_string() }},
        status {{ dbt.type_string() }},               -- success | error | skipped
        message {{ dbt.type_string() }},
        rows_affected bigint,
        execution_time double,        -- seconds
        execute_started_at timestamp,
        execute_completed_at timestamp,
        generated_at timestamp,
        full_refresh boolean,
        target_name {{ dbt.type_string() }},
        code_version {{ dbt.type_string() }}          -- $SENTINEL_CODE_VERSION (the git commit), 'unknown' outside the pipeline
    );
    create table if not exists observability.elementary_test_results (
        test_execution_id {{ dbt.type_string() }},    -- invocation_id.unique_id
        invocation_id {{ dbt.type_string() }},
        test_unique_id {{ dbt.type_string() }},
        test_name {{ dbt.type_string() }},
        test_short_name {{ dbt.type_string() }},      -- the generic test (unique, not_null, expect_...), or the singular test
        test_type {{ dbt.type_string() }},            -- generic | singular | unit
        model_unique_id {{ dbt.type_string() }},      -- the model, seed or source the test is attached to
        column_name {{ dbt.type_string() }},
        severity {{ dbt.type_string() }},             -- error | warn
        status {{ dbt.type_string() }},               -- pass | fail | warn | error | skipped
        failures bigint,              -- failing rows
        message {{ dbt.type_string() }},
        execution_time double,
        detected_at timestamp,
        target_name {{ dbt.type_string() }},
        code_version {{ dbt.type_string() }}
    );
    create table if not exists observability.test_result_rows (
        test_execution_id {{ dbt.type_string() }},    -- elementary_test_results.test_execution_id
        test_unique_id {{ dbt.type_string() }},
        detected_at timestamp,
        result_row {{ dbt.type_string() }}            -- one row the test returned, as JSON
    );
    create table if not exists observability.dbt_tests (
        unique_id {{ dbt.type_string() }},            -- every test the project defines now (replaced by each invocation)
        name {{ dbt.type_string() }},
        short_name {{ dbt.type_string() }},
        test_type {{ dbt.type_string() }},
        model_unique_id {{ dbt.type_string() }},
        column_name {{ dbt.type_string() }},
        severity {{ dbt.type_string() }},
        generated_at timestamp
    );
    create table if not exists observability.schema_snapshots (
        invocation_id {{ dbt.type_string() }},        -- the invocation that saw this state first
        snapshot_at timestamp,
        table_schema {{ dbt.type_string() }},
        table_name {{ dbt.type_string() }},
        column_name {{ dbt.type_string() }},
        data_type {{ dbt.type_string() }}
    )
{% endmacro %}


{% macro _sql_text(value) -%}
    {%- if value is none -%}null{%- else -%}{{ string_literal(value) }}{%- endif -%}
{%- endmacro %}


{% macro _sql_timestamp(value) -%}
    {%- if value is none -%}null{%- else -%}cast('{{ value.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp){%- endif -%}
{%- endmacro %}


{% macro _sql_number(value) -%}
    {%- if value is none or value == "" -%}null{%- else -%}{{ value }}{%- endif -%}
{%- endmacro %}


{% macro _execute_timing(result) -%}
    {%- set got = {"started": none, "completed": none} -%}
    {%- for t in result.timing if t.name == "execute" -%}
        {%- do got.update({"started": t.started_at, "completed": t.completed_at}) -%}
    {%- endfor -%}
    {{ return(got) }}
{%- endmacro %}


{% macro run_result_row(r) -%}
    {%- set timing = _execute_timing(r) -%}
    {%- set rows = (r.adapter_response or {}).get("rows_affected") -%}
    ({{ _sql_text(invocation_id ~ "." ~ r.node.unique_id) }}, {{ _sql_text(invocation_id) }},
     {{ _sql_text(r.node.unique_id) }}, {{ _sql_text(r.node.name) }}, {{ _sql_text(r.node.resource_type) }},
     {{ _sql_text(r.node.config.materialized) }}, {{ _sql_text(r.status) }}, {{ _sql_text(r.message) }},
     {{ _sql_number(rows if rows is not none and rows >= 0 else none) }}, {{ _sql_number(r.execution_time) }},
     {{ _sql_timestamp(timing.started) }}, {{ _sql_timestamp(timing.completed) }},
     {{ _sql_timestamp(run_started_at) }}, {{ "true" if flags.FULL_REFRESH else "false" }},
     {{ _sql_text(target.name) }}, {{ _sql_text(env_var("SENTINEL_CODE_VERSION", "unknown")) }})
{%- endmacro %}


{% macro test_facts(node) -%}
    {#- what a test is: its generic name (or its own, for a singular or unit test), type, parent, column -#}
    {%- set meta = node.test_metadata if node.resource_type == "test" else none -%}
    {#- a data test names its model; a unit test its tested model (its depends_on also holds its inputs, in no
        fixed order: the last one was recorded before, a different model from one build to the next) -#}
    {%- set attached = node.attached_node if node.resource_type == "test"
        else (node.tested_node_unique_id if node.resource_type == "unit_test" else none) -%}
    {{ return({
        "short_name": meta.name if meta else node.name,
        "type": "unit" if node.resource_type == "unit_test" else ("generic" if meta else "singular"),
        "attached": attached or (node.depends_on.nodes | last),
        "column": node.column_name if meta else none,
        "severity": (node.config.severity or "error") | lower,
    }) }}
{%- endmacro %}


{% macro test_result_row(r) -%}
    {%- set node = r.node -%}
    {%- set timing = _execute_timing(r) -%}
    {%- set t = test_facts(node) -%}
    ({{ _sql_text(invocation_id ~ "." ~ node.unique_id) }}, {{ _sql_text(invocation_id) }},
     {{ _sql_text(node.unique_id) }}, {{ _sql_text(node.name) }}, {{ _sql_text(t.short_name) }},
     {{ _sql_text(t.type) }}, {{ _sql_text(t.attached) }}, {{ _sql_text(t.column) }}, {{ _sql_text(t.severity) }},
     {{ _sql_text(r.status) }}, {{ _sql_number(r.failures) }}, {{ _sql_text(r.message) }},
     {{ _sql_number(r.execution_time) }}, {{ _sql_timestamp(timing.completed or run_started_at) }},
     {{ _sql_text(target.name) }}, {{ _sql_text(env_var("SENTINEL_CODE_VERSION", "unknown")) }})
{%- endmacro %}


{% macro store_failed_rows_sample(r) %}
    {#- Re-run the test's own query (compiled in this invocation) for up to observability_sample_rows rows:
        what the report shows under "failing rows" and the alerts quote. The query runs on the data the test
        just saw, inside the same invocation. -#}
    {%- set sql = (r.node.compiled_code or "") | trim | trim(";") -%}
    {%- if sql -%}
        {%- set timing = _execute_timing(r) -%}
        {%- do run_query(
            "insert into observability.test_result_rows select "
            ~ _sql_text(invocation_id ~ "." ~ r.node.unique_id) ~ ", " ~ _sql_text(r.node.unique_id) ~ ", "
            ~ _sql_timestamp(timing.completed or run_started_at) ~ ", " ~ row_as_json("failing_row")
            ~ " from (\n" ~ sql ~ "\n) as failing_row limit " ~ var("observability_sample_rows")
        ) -%}
    {%- endif -%}
{% endmacro %}


{% macro store_project_tests() %}
    {#- The tests the project defines now (Elementary's dbt_tests): the report and the alerts read the history
        of these only, so a test removed or renamed stops showing its last result forever. -#}
    {%- set rows = [] -%}
    {#- unit tests are not in dbt's `graph`: the readers keep every unit test's history (few, and stable) -#}
    {%- for node in graph.nodes.values() if node.resource_type == "test" -%}
        {%- set t = test_facts(node) -%}
        {%- do rows.append(
            "(" ~ _sql_text(node.unique_id) ~ ", " ~ _sql_text(node.name) ~ ", " ~ _sql_text(t.short_name) ~ ", "
            ~ _sql_text(t.type) ~ ", " ~ _sql_text(t.attached) ~ ", " ~ _sql_text(t.column) ~ ", "
            ~ _sql_text(t.severity) ~ ", " ~ _sql_timestamp(run_started_at) ~ ")"
        ) -%}
    {%- endfor -%}
    {%- do replace_table_rows("observability.dbt_tests", rows) -%}
{% endmacro %}
