{#- One verdict per raw row, the rule both feeds share (API logs and weekly calls).
    `relation` has load_id, loaded_at, line_number and rejection_reason (null when the row passed every rule).
    Among the valid rows of one key, the latest load wins (a corrected re-delivery supersedes), then the first
    line of that load. Adds to every column of `relation`:
      key_rank        the row's place among the valid rows of its key (1: kept);
      kept_load_id, kept_content
                      the kept row's load and `content`, for a valid row whose key columns are all set;
      verdict_reason  rejection_reason, or 'conflicting_duplicate' for a repeat in the same load whose
                      `content` differs from the kept row's;
      duplicate_kind  'superseded_by_later_load' or 'exact_duplicate';
      row_status      staged | duplicate | quarantined.
    The kept row's load and content are read in the window that ranks the rows, not by joining the kept rows
    back on the key, which held every raw_record on both sides: at 30M weekly call rows (the 10M spam bench)
    int_calls_weekly_validated took 146.4 s with the join, 104.8 s without. The join matched no row with a
    null key column; neither does this.
    Used as the body of a CTE: `verdicts as ({{ row_verdicts('judged', ['key_a', 'key_b'], 'content') }})`. -#}
{% macro row_verdicts(relation, key_columns, content) %}
    {%- set keyed -%}
        partition by case when rejection_reason is null then 1 end, {{ key_columns | join(', ') }}
        order by loaded_at desc, load_id desc, line_number asc
    {%- endset -%}
    {%- set has_key -%}
        rejection_reason is null
        {%- for k in key_columns %} and {{ k }} is not null{% endfor %}
    {%- endset %}
    with

    ranked as (
        select
            *,
            row_number() over ({{ keyed }}) as key_rank,
            case when {{ has_key }} then first_value(load_id) over ({{ keyed }}) end as kept_load_id,
            case when {{ has_key }} then first_value({{ content }}) over ({{ keyed }}) end as kept_content
        from {{ relation }}
    )

    select
        *,
        case
            when rejection_reason is not null then rejection_reason
            when key_rank > 1
                and load_id = kept_load_id
                and {{ content }} != kept_content then 'conflicting_duplicate'
        end as verdict_reason,
        case
            when rejection_reason is null and key_rank > 1 and load_id != kept_load_id
                then 'superseded_by_later_load'
            when rejection_reason is null and key_rank > 1
                and {{ content }} = kept_content then 'exact_duplicate'
        end as duplicate_kind,
        case
            when rejection_reason is not null then 'quarantined'
            when key_rank = 1 then 'staged'
            when load_id != kept_load_id or {{ content }} = kept_content then 'duplicate'
            else 'quarantined'
        end as row_status
    from ranked
{% endmacro %}
