-- Every raw label row with a verdict. Rules: missing_id, invalid_week_start, week_not_monday, unknown_label
-- (spam | legit), invalid_labelled_at, labelled_before_week, future_week and future_labelled_at (after the day
-- the file was loaded: a future review date would win "latest review" forever), unknown_number (no call row
-- of that number was ever staged). One label per number and week: the latest review wins (then the latest
-- load); earlier ones are kept as duplicates (superseded), never dropped. The rows of a retracted load
-- (python -m ml retract) are quarantined retracted_load before any rule.
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
    from {{ ref('stg_calls__call_labels') }}
),

known_numbers as (
    select distinct number_id from {{ ref('int_calls_weekly_validated') }}
    where row_status = 'staged'
),

retracted_loads as (
    select * from {{ ref('int_retracted_loads') }}
),

judged as (
    select
        labels.*,
        case
            when retracted_loads.load_id is not null then 'retracted_load'
            when labels.number_id is null then 'missing_id'
            when labels.week_start is null then 'invalid_week_start'
            when cast({{ dbt.date_trunc('week', 'labels.week_start') }} as date) != labels.week_start
                then 'week_not_monday'
            when coalesce(labels.label, '') not in ('spam', 'legit') then 'unknown_label'
            when labels.labelled_at is null then 'invalid_labelled_at'
            when labels.labelled_at < labels.week_start then 'labelled_before_week'
            when labels.week_start > cast(labels.loaded_at as date) then 'future_week'
            when labels.labelled_at > cast(labels.loaded_at as date) then 'future_labelled_at'
            when known_numbers.number_id is null then 'unknown_number'
        end as rejection_reason
    from labels
    left join known_numbers
        on labels.number_id = known_numbers.number_id
    left join retracted_loads
        on labels.load_id = retracted_loads.load_id
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
