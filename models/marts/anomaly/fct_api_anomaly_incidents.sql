-- One row per incident: consecutive days on which the same node is the highest level explaining a move in
-- the same direction, with the contributing series of its peak day.
with

anomalies as (
    select
        *,
        series_date as period_ts
    from {{ ref('fct_api_request_anomalies') }}
),

explained as (
    {{ explain_incidents('anomalies') }}
),

grouped as (
    {{ group_incident_periods('explained', grain='day') }}
),

period as (
    select * from {{ ref('int_api_detection_period') }}
),

final as (
    select
        {{ dbt.concat(["grouped.detector", "'|'", "grouped.series_key", "'|'", "grouped.direction", "'|'",
                       "cast(cast(grouped.start_ts as date) as " ~ dbt.type_string() ~ ")"]) }} as incident_key,
        grouped.detector,
        grouped.level,
        grouped.country,
        grouped.os,
        grouped.series_key,
        grouped.direction,
        cast(grouped.start_ts as date) as start_date,
        cast(grouped.end_ts as date) as end_date,
        grouped.n_periods as n_days,
        grouped.peak_value,
        grouped.peak_expected_value,
        grouped.peak_deviation_pct,
        grouped.total_deviation_value,
        grouped.peak_explanation,
        grouped.contributors,
        grouped.n_contributors,
        grouped.on_holiday,
        grouped.calendar_label,
        cast(grouped.end_ts as date) >= period.detection_start
        and cast(grouped.start_ts as date) <= period.detection_end as in_detection_period
    from grouped
    cross join period
)

select * from final
