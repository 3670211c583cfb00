-- The KPI numbers a dashboard shows, defined once (docs/bi.md): one row per metric, day and series, long
-- format. A BI tool sums `value` over the rows it filters; it never recomputes a metric from the base marts.
with

anomalies as (
    select * from {{ ref('fct_api_request_anomalies') }}
),

incidents as (
    select * from {{ ref('fct_api_anomaly_incidents') }}
),

quarantined as (
    select * from {{ ref('fct_api_requests_quarantined') }}
),

requests as (
    -- API requests per day of every series of the hierarchy (total, OS, country, country x OS)
    select
        'api_requests' as metric_name,
        series_date as metric_date,
        level,
        country,
        os,
        'all' as breakdown,
        value
    from anomalies
    where value is not null
),

flagged as (
    -- series-days the detector flags, by direction (up, down, missing)
    select
        'api_anomalies' as metric_name,
        series_date as metric_date,
        level,
        country,
        os,
        direction as breakdown,
        count(*) as value
    from anomalies
    where is_anomaly
    group by series_date, level, country, os, direction
),

judged as (
    -- series-days the detector judged, and those it could not yet (the cold start of a series' first weeks):
    -- the share of a period an answer rests on
    select
        'api_series_days' as metric_name,
        series_date as metric_date,
        level,
        country,
        os,
        case when is_judged then 'judged' else 'not_judged' end as breakdown,
        count(*) as value
    from anomalies
    group by series_date, level, country, os, case when is_judged then 'judged' else 'not_judged' end
),

incident_starts as (
    -- incidents, each at the highest level that explains it, on their first day
    select
        'api_incidents' as metric_name,
        start_date as metric_date,
        level,
        country,
        os,
        direction as breakdown,
        count(*) as value
    from incidents
    group by start_date, level, country, os, direction
),

rejected as (
    -- API-log rows quarantined, by reason, on the day their file was loaded
    select
        'api_quarantined_rows' as metric_name,
        cast(loaded_at as date) as metric_date,
        'total' as level,
        '*' as country,
        '*' as os,
        rejection_reason as breakdown,
        count(*) as value
    from quarantined
    group by cast(loaded_at as date), rejection_reason
),

unioned as (
    select * from requests
    union all
    select * from flagged
    union all
    select * from judged
    union all
    select * from incident_starts
    union all
    select * from rejected
),

final as (
    select
        metric_name,
        metric_date,
        level,
        country,
        os,
        breakdown,
        cast(value as double) as value
    from unioned
)

select * from final
