-- Data quality, the freshness of each feed when the snapshot was built.
select
    feed,
    freshness_status,
    latest_period,
    last_loaded_at,
    hours_since_last_load,
    expected_every_hours,
    files_seen
from marts.fct_freshness_monitor
order by feed
