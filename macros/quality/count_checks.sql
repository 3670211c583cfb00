{#- Counts arrive as text. A count is a plain non-negative integer: digits only, within a plausible bound.
    `try_cast(x as bigint)` alone accepted 12.7 (rounded to 13), 1e3, 1_000 and any size (2^63-1 was staged and
    overflowed ln(1 + x) downstream). -#}

{#- The count as bigint when the text is plain digits (18 at most, so the cast cannot overflow), else null.
    A fraction of zeros only is dropped: 100.0 is 100 (pandas writes an integer column that has a missing value
    as floats, so every count of such an export ends in .0); 12.7 and 12.70 are not counts. Plain digits are
    tried first: a regexp_replace on every count cost 0.26 s per 10M values on DuckDB; tried only after the
    digits check fails, nothing measurable on plain digits (0.38 to 0.40 s either way).
    Digits grouped by commas in threes (1,234 or 1,234,567: a spreadsheet's thousands separator, quoted in the
    CSV) are read without them; a comma anywhere else (12,34: a decimal comma, or a typo) is not a count. -#}
{% macro parse_count(text_expr) -%}
    {%- set text = "trim(" ~ text_expr ~ ")" -%}
    {%- set digits = "regexp_replace(" ~ text ~ ", '[.]0+$', '')" -%}
    case
        when {{ is_plain_integer(text) }} and length({{ text }}) <= 18 then cast({{ text }} as bigint)
        when {{ dbt.position("'.0'", text) }} > 0 and {{ is_plain_integer(digits) }} and length({{ digits }}) <= 18
            then cast({{ digits }} as bigint)
        when {{ dbt.position("','", text) }} > 0 and {{ regexp_like(text, '^[0-9]{1,3}(,[0-9]{3})+$') }}
            and length({{ text }}) <= 23 then cast(replace({{ text }}, ',', '') as bigint)
    end
{%- endmacro %}

{#- Why a count's text is not a valid count, or null: missing_count, non_numeric_count, negative_count,
    non_integer_count (12.7, 1e3, 1_000, +5; not 100.0, which parse_count reads as 100), implausible_count
    (above `max_value`, or more than 18 digits).
    `value_expr`: the count parse_count already gave for the same text, when the model has it. The valid count,
    nearly every row, is judged from it alone; the other checks (two casts and a regex over the text) run only
    for text that parse_count did not parse. -#}
{% macro count_problem(text_expr, max_value, value_expr=none) -%}
    {%- set value = value_expr or parse_count(text_expr) -%}
    case
        when {{ value }} is not null then case when {{ value }} > {{ max_value }} then 'implausible_count' end
        when coalesce(trim({{ text_expr }}), '') = '' then 'missing_count'
        when {{ try_cast('trim(' ~ text_expr ~ ')', 'double') }} is null then 'non_numeric_count'
        when {{ try_cast('trim(' ~ text_expr ~ ')', 'double') }} < 0 then 'negative_count'
        when not {{ is_plain_integer('trim(' ~ text_expr ~ ')') }} then 'non_integer_count'
        else 'implausible_count'  -- plain digits, more than 18 of them
    end
{%- endmacro %}

{#- How many of the `columns` (of relation alias `alias`) fail with `rule` (a count_problem reason), from the
    `<column>__problem` columns the model computed once with count_problem (stg_calls__weekly): one rule over
    ten columns and four over eleven repeated the whole check 54 times, and linting the expansion took 34 s of
    sqlfluff's 84 s. -#}
{% macro count_rule_failures(alias, columns, rule) -%}
    (0
    {%- for c in columns %}
        + case when {{ alias }}.{{ c }}__problem = '{{ rule }}' then 1 else 0 end
    {%- endfor %})
{%- endmacro %}
