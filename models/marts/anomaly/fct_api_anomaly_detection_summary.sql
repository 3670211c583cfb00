-- The answer to the user's question: the incidents of the detection period (the last two weeks), each at the
-- highest level that explains it, with direction, size, contributing series and the reason.
with

incidents as (
    select * from {{ ref('fct_api_anomaly_incidents') }}
),

period as (
    select * from {{ ref('int_api_detection_period') }}
),

final as (
    select
        incidents.incident_key,
        incidents.detector,
        incidents.level,
        incidents.country,
        incidents.os,
        incidents.series_key,
        incidents.direction,
        incidents.start_date,
        incidents.end_date,
        incidents.n_days,
        incidents.peak_value,
        incidents.peak_expected_value,
        incidents.peak_deviation_pct,
        incidents.total_deviation_value,
        incidents.contributors,
        incidents.n_contributors,
        incidents.on_holiday,
        incidents.calendar_label,
        incidents.peak_explanation,
        period.detection_start,
        period.detection_end
    from incidents
    cross join period
    where incidents.in_detection_period
)

select * from final
