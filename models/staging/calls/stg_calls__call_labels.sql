-- The label files as delivered, every row (validated and quarantined downstream in int_call_labels_validated).
with

source as (
    select * from {{ source('calls', 'call_labels') }}
),

final as (
    select
        id,
        week_start,
        label,
        label_source,
        labelled_at,
        _load_id,
        _file_name,
        _line_number,
        _loaded_at
    from source
)

select * from final
