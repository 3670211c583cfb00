-- Every raw label row with a verdict. Rules: missing_id, invalid_week_start, unknown_label (spam | legit),
-- invalid_labelled_at, labelled_before_week. One label per number and week: the latest review wins (then
-- the latest load); earlier ones are kept as duplicates (superseded), never dropped.
with

labels as (
    select
        _load_id as load_id,
        _file_name as file_name,
        _line_number as line_number,
        _loaded_at as loaded_at,
        nullif(trim(id), '') as number_id,
        {{ try_cast("trim(week_start)", "date") }} as week_start,
        lower(trim(label)) as label,
        lower(trim(label_source)) as label_source,
        {{ try_cast("trim(labelled_at)", "date") }} as labelled_at
    from {{ source('calls', 'call_labels') }}
),

judged as (
    select
        *,
        case
            when number_id is null then 'missing_id'
            when week_start is null then 'invalid_week_start'
            when coalesce(label, '') not in ('spam', 'legit') then 'unknown_label'
            when labelled_at is null then 'invalid_labelled_at'
            when labelled_at < week_start then 'labelled_before_week'
        end as rejection_reason
    from labels
),

ranked as (
    select
        *,
        row_number() over (
            partition by case when rejection_reason is null then 1 end, number_id, week_start
            order by labelled_at desc, loaded_at desc, load_id desc, line_number asc
        ) as key_rank
    from judged
),

final as (
    select
        load_id,
        file_name,
        line_number,
        loaded_at,
        number_id,
        week_start,
        label,
        case when label = 'spam' then 1 when label = 'legit' then 0 end as is_spam,
        label_source,
        labelled_at,
        rejection_reason,
        case
            when rejection_reason is not null then 'quarantined'
            when key_rank = 1 then 'staged'
            else 'duplicate'
        end as row_status
    from ranked
)

select * from final
