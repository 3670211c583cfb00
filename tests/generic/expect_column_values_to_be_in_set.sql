{#- Same name and arguments as dbt_expectations.expect_column_values_to_be_in_set (the Hub is unreachable
    here): every row whose value is not in value_set (a null is not in any set; use row_condition to skip
    rows). Unlike dbt's accepted_values, which returns one row per distinct bad value, this returns the bad
    rows themselves, so the failure count is a row count and the run-history hook samples whole rows. -#}
{% test expect_column_values_to_be_in_set(model, column_name, value_set, quote_values=true, row_condition=none) %}
    select *
    from {{ model }}
    where
        {% if row_condition %}({{ row_condition }}) and {% endif %}
        ({{ column_name }} is null or {{ column_name }} not in (
            {%- for v in value_set -%}
                {%- if quote_values %}'{{ v }}'{% else %}{{ v }}{% endif %}{{ ", " if not loop.last }}
            {%- endfor -%}
        ))
{% endtest %}
