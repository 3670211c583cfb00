{#- Same name and arguments as dbt_expectations.expect_column_distinct_count_to_equal: one failing row when
    the number of distinct values of the column differs from `value`. -#}
{% test expect_column_distinct_count_to_equal(model, column_name, value, row_condition=none) %}
    select count(distinct {{ column_name }}) as distinct_values
    from {{ model }}
    {% if row_condition %}where {{ row_condition }}{% endif %}
    having count(distinct {{ column_name }}) != {{ value }}
{% endtest %}
