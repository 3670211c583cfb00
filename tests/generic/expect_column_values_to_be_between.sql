{#- Same name and arguments as dbt_expectations.expect_column_values_to_be_between (the Hub is unreachable
    here): rows whose value lies outside [min_value, max_value] (exclusive bounds when strictly). -#}
{% test expect_column_values_to_be_between(model, column_name, min_value=none, max_value=none,
                                           row_condition=none, strictly=false) %}
    {%- set op_min = '>' if strictly else '>=' -%}
    {%- set op_max = '<' if strictly else '<=' -%}
    select *
    from {{ model }}
    where
        {% if row_condition %}({{ row_condition }}) and {% endif %}
        not (
            1 = 1
            {% if min_value is not none %}and {{ column_name }} {{ op_min }} {{ min_value }}{% endif %}
            {% if max_value is not none %}and {{ column_name }} {{ op_max }} {{ max_value }}{% endif %}
        )
{% endtest %}
