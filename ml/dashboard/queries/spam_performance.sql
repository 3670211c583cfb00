-- Spam, precision and recall at the deployed threshold per week (the metric mart).
select
    week_start,
    model_version,
    replace(metric_name, 'spam_', '') as metric,
    value,
    numerator,
    denominator
from marts.fct_spam_metrics_weekly
where metric_name in ('spam_precision_at_threshold', 'spam_recall_at_threshold')
order by week_start, metric
