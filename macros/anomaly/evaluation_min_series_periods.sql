{#- The shortest series an evaluation scores: twice the common warm-up, and at least 60 days (day grain) or
    28 days (hour grain). One rule for the evaluation marts and `python -m ml detect --label-col`. -#}
{% macro evaluation_min_series_periods(grain, warmup_periods) -%}
    {{ return([2 * warmup_periods, 60 if grain == 'day' else 28 * 24] | max) }}
{%- endmacro %}
