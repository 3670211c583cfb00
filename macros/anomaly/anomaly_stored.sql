{#- `expr` for a new row, the stored value for a history row (a stored null is a value: a flagged period's
    y_clean is null on purpose). -#}
{% macro anomaly_stored(o, name, expr) -%}
    {%- if o.state -%}case when is_stored then state_{{ name }} else {{ expr }} end
    {%- else -%}{{ expr }}{%- endif -%}
{%- endmacro %}
