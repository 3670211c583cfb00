-- Spam, PSI of each feature and of the model score per week (the metric mart).
select
    week_start,
    breakdown as monitored_name,
    value as psi
from marts.fct_spam_metrics_weekly
where metric_name = 'spam_psi'
order by week_start, monitored_name
