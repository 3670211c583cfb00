-- Data quality, quarantined rows by feed and reason (API logs from the metric mart, calls from their mart).
select
    'api_logs' as feed,
    breakdown as rejection_reason,
    sum(value) as quarantined_rows
from marts.fct_kpi_metrics_daily
where metric_name = 'api_quarantined_rows'
group by breakdown
union all
select
    'calls' as feed,
    rejection_reason,
    count(*) as quarantined_rows
from marts.fct_calls_quarantined
group by rejection_reason
order by feed, quarantined_rows desc
