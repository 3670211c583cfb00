-- Data quality, rows appended per feed and period with the volume monitor's expected band.
select
    feed,
    period_date,
    rows_appended,
    expected_value,
    lower_bound,
    upper_bound,
    is_anomaly
from marts.fct_volume_monitor
order by feed, period_date
