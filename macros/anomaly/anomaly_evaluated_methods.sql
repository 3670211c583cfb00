{#- The methods the evaluation compares, side by side with the baselines `always` and `never`. -#}
{% macro anomaly_evaluated_methods() -%}
    {{ return(['iqr', 'zscore', 'robust_seasonal']) }}
{%- endmacro %}
