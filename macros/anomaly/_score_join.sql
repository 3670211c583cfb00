{#- `a.c1 = b.c1 and a.c2 = b.c2 ...` for a join on the group columns. -#}
{% macro _score_join(left, right, cols) -%}
    {%- for c in cols %}{{ ' and ' if not loop.first }}{{ left }}.{{ c }} = {{ right }}.{{ c }}{% endfor -%}
{%- endmacro %}
