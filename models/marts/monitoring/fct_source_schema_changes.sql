-- Schema-change monitor for the landing feeds: for every load, the columns added or removed compared with
-- the previous load of the same source. A new upstream column (manual_spam_count) is reported here the first
-- time a file carries it, before any model uses it. A retracted load (python -m ml retract) is left out: its header
-- is not compared, and the load after it is compared with the last load still in use.
with

loads as (
    select
        load_id,
        source as source_name,
        file_name,
        loaded_at,
        row_number() over (partition by source order by loaded_at, file_name, load_id) as load_seq
    from {{ ref('int_loads_in_use') }}
    where status = 'loaded'
),

columns_per_load as (
    select
        loads.source_name,
        loads.load_id,
        loads.file_name,
        loads.loaded_at,
        loads.load_seq,
        load_columns.column_name
    from loads
    inner join {{ ref('stg_ingestion__load_columns') }} as load_columns
        on loads.load_id = load_columns.load_id
),

recorded_loads as (
    -- loads whose header was recorded (a state ingested before a feed recorded headers has loads without)
    select distinct load_id from columns_per_load
),

previous_load as (
    select
        current_load.source_name,
        current_load.load_id,
        previous.load_id as previous_load_id
    from loads as current_load
    inner join loads as previous
        on
            current_load.source_name = previous.source_name
            and current_load.load_seq = previous.load_seq + 1
    where
        current_load.load_id in (select recorded_loads.load_id from recorded_loads)
        and previous.load_id in (select recorded_loads.load_id from recorded_loads)
),

added as (
    select
        cur.source_name,
        cur.load_id,
        cur.file_name,
        cur.loaded_at,
        cur.column_name,
        'column_added' as change_type
    from columns_per_load as cur
    inner join previous_load
        on cur.load_id = previous_load.load_id
    left join columns_per_load as prev
        on
            previous_load.previous_load_id = prev.load_id
            and cur.column_name = prev.column_name
    where prev.column_name is null
),

removed as (
    select
        previous_load.source_name,
        previous_load.load_id,
        loads.file_name,
        loads.loaded_at,
        prev.column_name,
        'column_removed' as change_type
    from previous_load
    inner join loads
        on previous_load.load_id = loads.load_id
    inner join columns_per_load as prev
        on previous_load.previous_load_id = prev.load_id
    left join columns_per_load as cur
        on
            previous_load.load_id = cur.load_id
            and prev.column_name = cur.column_name
    where cur.column_name is null
),

final as (
    select * from added
    union all
    select * from removed
)

select * from final
