{#- Same name and arguments as dbt_expectations.expect_compound_columns_to_be_unique: combinations of
    column_list that occur more than once. -#}
{% test expect_compound_columns_to_be_unique(model, column_list, row_condition=none) %}
    select
        {{ column_list | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    {% if row_condition %}where {{ row_condition }}{% endif %}
    group by {{ column_list | join(', ') }}
    having count(*) > 1
{% endtest %}
