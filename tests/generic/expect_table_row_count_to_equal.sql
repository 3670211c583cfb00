{#- Same name and arguments as dbt_expectations.expect_table_row_count_to_equal: fails unless the model has
    exactly `value` rows. -#}
{% test expect_table_row_count_to_equal(model, value) %}
    select n_rows
    from (select count(*) as n_rows from {{ model }}) as counted
    where n_rows != {{ value }}
{% endtest %}
