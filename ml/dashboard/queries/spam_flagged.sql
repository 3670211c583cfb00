-- Spam, numbers flagged by the champion per week and country (the metric mart).
select
    week_start,
    model_version,
    country_code,
    value as flagged,
    denominator as scored
from marts.fct_spam_metrics_weekly
where metric_name = 'spam_flagged'
order by week_start, country_code
