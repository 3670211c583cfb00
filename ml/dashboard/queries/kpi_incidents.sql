-- KPI health, the incidents of the detection period at the level that explains them (the summary mart).
select
    incident_key,
    level,
    country,
    os,
    series_key,
    direction,
    start_date,
    end_date,
    n_days,
    peak_deviation_pct,
    total_deviation_value,
    n_contributors,
    peak_explanation
from marts.fct_api_anomaly_detection_summary
order by abs(total_deviation_value) desc, incident_key
