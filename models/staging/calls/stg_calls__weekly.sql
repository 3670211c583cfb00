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
{%- set checked_columns = count_columns + (['manual_spam_count'] if has_new_column else []) -%}
{%- set record_parts = [] -%}
{%- for f in ['id', 'country'] + count_columns + (['manual_spam_count'] if has_new_column else []) -%}
    {%- if not loop.first %}{% do record_parts.append("','") %}{% endif -%}
    {%- do record_parts.append("coalesce(trim(checked." ~ f ~ "), '')") -%}
{%- endfor %}

with

source as (
    select * from {{ source('calls', 'calls_weekly') }}
),

-- each count parsed once (plain digits, else null), then why its text is not a valid count, or null
-- (macros/quality/count_checks.sql): the valid counts are judged from the parsed value alone
parsed as (
    select
        {%- for c in checked_columns %}
            {{ parse_count("source." ~ c) }} as {{ c }}__value,
        {%- endfor %}
        source.*
    from source
),

checked as (
    select
        {%- for c in checked_columns %}
            {{ count_problem("parsed." ~ c, var('calls_max_count'), "parsed." ~ c ~ "__value") }} as {{ c }}__problem,
        {%- endfor %}
        parsed.*
    from parsed
),

renamed as (
    select
        checked._load_id as load_id,
        checked._file_name as file_name,
        checked._line_number as line_number,
        checked._loaded_at as loaded_at,
        checked._week_start as week_start,
        nullif(trim(checked.id), '') as number_id,
        upper(replace(trim(checked.country), ' ', '')) as country_input,
        {%- for c in count_columns %}
            checked.{{ c }}__value as {{ c }},
        {%- endfor %}
        {%- if has_new_column %}
            checked.manual_spam_count__value as manual_spam_count,
            coalesce(trim(checked.manual_spam_count), '') = '' as manual_spam_count_is_empty,
        {%- else %}
            cast(null as bigint) as manual_spam_count,
            true as manual_spam_count_is_empty,
        {%- endif %}
        -- how many count fields fail each rule; manual_spam_count may be empty (a file without the column, judged
        -- downstream from raw.load_columns) but never malformed
        {{ count_rule_failures('checked', count_columns, 'missing_count') }} as n_missing_counts,
        {{ count_rule_failures('checked', checked_columns, 'non_numeric_count') }} as n_non_numeric_counts,
        {{ count_rule_failures('checked', checked_columns, 'negative_count') }} as n_negative_counts,
        {{ count_rule_failures('checked', checked_columns, 'non_integer_count') }} as n_non_integer_counts,
        {{ count_rule_failures('checked', checked_columns, 'implausible_count') }} as n_implausible_counts,
        {{ concat_strings(record_parts) }} as raw_record
    from checked
)

select * from renamed
