-- Every rejected weekly-call or label row with its reason and lineage (file, line, load). Together with the
-- staged rows and the removed duplicates it adds up to the raw rows of each load
-- (fct_calls_load_reconciliation).
with

calls as (
    select
        'calls' as source_name,
        load_id,
        file_name,
        line_number,
        loaded_at,
        number_id,
        week_start,
        raw_record,
        rejection_reason
    from {{ ref('int_calls_weekly_validated') }}
    where row_status = 'quarantined'
),

labels as (
    select
        'call_labels' as source_name,
        load_id,
        file_name,
        line_number,
        loaded_at,
        number_id,
        week_start,
        {{ dbt.concat([
            "coalesce(number_id, '')", "','", "coalesce(cast(week_start as " ~ dbt.type_string() ~ "), '')",
            "','", "coalesce(label, '')", "','", "coalesce(label_source, '')", "','",
            "coalesce(cast(labelled_at as " ~ dbt.type_string() ~ "), '')"
        ]) }} as raw_record,
        rejection_reason
    from {{ ref('int_call_labels_validated') }}
    where row_status = 'quarantined'
),

final as (
    select * from calls
    union all
    select * from labels
)

select * from final
