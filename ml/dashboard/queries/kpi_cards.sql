-- KPI health, the cards: the detection period's requests (the total series), flagged series-days by direction
-- and series-days judged or not (every level), read from the metric mart (defined once there). The incident cards
-- read the summary mart.
select
    metric_name,
    breakdown,
    sum(value) as value
from marts.fct_kpi_metrics_daily
where
    metric_date between $detection_start and $detection_end
    and (
        (metric_name = 'api_requests' and level = 'total')
        or metric_name in ('api_anomalies', 'api_series_days')
    )
group by metric_name, breakdown
order by metric_name, breakdown
