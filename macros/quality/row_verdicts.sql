{#- One verdict per raw row, the rule both feeds share (API logs and weekly calls).
    `relation` has load_id, loaded_at, line_number and rejection_reason (null when the row passed every rule).
    Among the valid rows of one key, the latest load wins (a corrected re-delivery supersedes), then the first
    line of that load. Adds to every column of `relation`:
      verdict_reason  rejection_reason, or 'conflicting_duplicate' for a repeat in the same load whose
                      `content` differs from the kept row's;
      duplicate_kind  'superseded_by_later_load' or 'exact_duplicate';
      row_status      staged | duplicate | quarantined.
    Used as the body of a CTE: `verdicts as ({{ row_verdicts('judged', ['key_a', 'key_b'], 'content') }})`. -#}
{% macro row_verdicts(relation, key_columns, content) %}
    with

    ranked as (
        select
            *,
            row_number() over (
                partition by case when rejection_reason is null then 1 end, {{ key_columns | join(', ') }}
                order by loaded_at desc, load_id desc, line_number asc
            ) as key_rank
        from {{ relation }}
    ),

    kept as (
        select
            {{ key_columns | join(', ') }},
            load_id as kept_load_id,
            {{ content }} as kept_content
        from ranked
        where rejection_reason is null and key_rank = 1
    )

    select
        ranked.*,
        case
            when ranked.rejection_reason is not null then ranked.rejection_reason
            when ranked.key_rank > 1
                and ranked.load_id = kept.kept_load_id
                and ranked.{{ content }} != kept.kept_content then 'conflicting_duplicate'
        end as verdict_reason,
        case
            when ranked.rejection_reason is null and ranked.key_rank > 1 and ranked.load_id != kept.kept_load_id
                then 'superseded_by_later_load'
            when ranked.rejection_reason is null and ranked.key_rank > 1
                and ranked.{{ content }} = kept.kept_content then 'exact_duplicate'
        end as duplicate_kind,
        case
            when ranked.rejection_reason is not null then 'quarantined'
            when ranked.key_rank = 1 then 'staged'
            when ranked.load_id != kept.kept_load_id or ranked.{{ content }} = kept.kept_content then 'duplicate'
            else 'quarantined'
        end as row_status
    from ranked
    left join kept
        on ranked.rejection_reason is null
        {%- for k in key_columns %}
            and ranked.{{ k }} = kept.{{ k }}
        {%- endfor %}
{% endmacro %}
