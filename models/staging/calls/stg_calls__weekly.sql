-- Raw weekly call rows renamed and parsed, nothing filtered: every raw row is here with its lineage.
-- manual_spam_count exists only in files delivered after the app started collecting it: the column is read
-- when the raw table has it (null otherwise); whether the row's own file carried it is decided downstream
-- from raw.load_columns (int_calls_weekly_validated).
{%- set count_columns = [
    'call_count', 'unique_call_count', 'total_duration', 'answered_call_count', 'rejected_call_count',
    'missed_call_count', 'weekdays_call_count', 'weekend_call_count', 'overtime_call_count',
    'out_of_work_call_count'
] -%}
{%- set raw_columns = adapter.get_columns_in_relation(source('calls', 'calls_weekly'))
    | map(attribute='name') | map('lower') | list -%}
{%- set has_new_column = 'manual_spam_count' in raw_columns -%}
{%- set record_parts = [] -%}
{%- for f in ['id', 'country'] + count_columns + (['manual_spam_count'] if has_new_column else []) -%}
    {%- if not loop.first %}{% do record_parts.append("','") %}{% endif -%}
    {%- do record_parts.append("coalesce(trim(source." ~ f ~ "), '')") -%}
{%- endfor %}

with

source as (
    select * from {{ source('calls', 'calls_weekly') }}
),

renamed as (
    select
        source._load_id as load_id,
        source._file_name as file_name,
        source._line_number as line_number,
        source._loaded_at as loaded_at,
        source._week_start as week_start,
        nullif(trim(source.id), '') as number_id,
        upper(replace(trim(source.country), ' ', '')) as country_input,
        {%- for c in count_columns %}
            {{ try_cast("trim(source." ~ c ~ ")", "bigint") }} as {{ c }},
        {%- endfor %}
        {%- if has_new_column %}
            {{ try_cast("trim(source.manual_spam_count)", "bigint") }} as manual_spam_count,
        {%- else %}
            cast(null as bigint) as manual_spam_count,
        {%- endif %}
        {%- if has_new_column %}
            coalesce(trim(source.manual_spam_count), '') = '' as manual_spam_count_is_empty,
        {%- else %}
            true as manual_spam_count_is_empty,
        {%- endif %}
        -- text fields that are empty (missing) or present but not an integer (malformed)
        0
        {%- for c in count_columns %}
            + case when coalesce(trim(source.{{ c }}), '') = '' then 1 else 0 end
        {%- endfor %} as n_missing_counts,
        0
        {%- for c in count_columns + (['manual_spam_count'] if has_new_column else []) %}
            + case
                when coalesce(trim(source.{{ c }}), '') != ''
                    and {{ try_cast("trim(source." ~ c ~ ")", "bigint") }} is null
                    then 1
                else 0
            end
        {%- endfor %} as n_malformed_counts,
        {{ dbt.concat(record_parts) }} as raw_record
    from source
)

select * from renamed
