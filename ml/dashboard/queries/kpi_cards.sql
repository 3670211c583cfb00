-- KPI health, the cards: the detection period's numbers, read from the metric mart (defined once there).
select
    metric_name,
    breakdown,
    level,
    sum(value) as value
from marts.fct_kpi_metrics_daily
where
    metric_date between $detection_start and $detection_end
    and (metric_name <> 'api_requests' or level = 'total')
group by metric_name, breakdown, level
order by metric_name, breakdown, level
