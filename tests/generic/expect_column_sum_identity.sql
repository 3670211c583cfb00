{#- No dbt-expectations equivalent: rows where `column_name` differs from the sum of `addends`
    (e.g. raw_rows = staged_rows + quarantined_rows + duplicate_rows). -#}
{% test expect_column_sum_identity(model, column_name, addends) %}
    select *
    from {{ model }}
    where {{ column_name }} != {{ addends | join(' + ') }}
{% endtest %}
