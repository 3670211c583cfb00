-- KPI health, every series of the hierarchy (total, OS, country, country x OS) with its expected value and
-- bounds, from six weeks before the detection period on: the heat map and the drill-down read it.
select
    level,
    country,
    os,
    series_key,
    series_date,
    value,
    round(expected_value, 1) as expected_value,
    round(lower_bound, 1) as lower_bound,
    round(upper_bound, 1) as upper_bound,
    round(deviation_pct, 4) as deviation_pct,
    is_anomaly,
    direction
from marts.fct_api_request_anomalies
where series_date >= $detection_start - interval 42 day
order by series_key, series_date
