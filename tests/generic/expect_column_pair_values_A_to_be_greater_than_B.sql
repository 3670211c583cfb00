{#- Same name and arguments as dbt_expectations.expect_column_pair_values_A_to_be_greater_than_B:
    rows where column_A is not greater than (or equal to, with or_equal) column_B. Nulls are not judged. -#}
{% test expect_column_pair_values_A_to_be_greater_than_B(model, column_A, column_B, or_equal=false,
                                                         row_condition=none) %}
    select *
    from {{ model }}
    where
        {% if row_condition %}({{ row_condition }}) and {% endif %}
        {{ column_A }} is not null and {{ column_B }} is not null
        and not ({{ column_A }} {{ '>=' if or_equal else '>' }} {{ column_B }})
{% endtest %}
