-- Volume monitor: rows appended per feed and per period (one file per period: a day for the API logs, a week
-- for the call and label files), judged by the project's own anomaly detector, so the pipeline is watched the
-- way it watches the KPIs. A period with no file is a row with no volume: the detector reports it `missing`.
-- Files whose name carries no date have no period; they are counted in the load reconciliation marts instead.
-- A retracted file (python -m ml retract) is left out: its rows are not in use, so its period has no volume from it.
with

loads as (
    select
        source as feed,
        {{ file_name_date('file_name') }} as period_date,
        rows_appended
    from {{ ref('int_loads_in_use') }}
    where status = 'loaded'
),

delivered as (
    select
        feed,
        period_date,
        sum(rows_appended) as rows_appended,
        count(*) as files
    from loads
    where period_date is not null
    group by feed, period_date
),

cadence as (
    select
        feed,
        case when feed = 'api_logs' then 1 else 7 end as step_days,
        min(period_date) as first_period,
        max(period_date) as last_period
    from delivered
    group by feed
),

days as (
    {{ period_spine("(select min(first_period) from cadence)", "(select max(last_period) from cadence)") }}
),

feed_days as (
    select
        cadence.feed,
        cadence.step_days,
        cadence.first_period,
        cast(days.period_ts as date) as period_date
    from cadence
    cross join days
    where cast(days.period_ts as date) between cadence.first_period and cadence.last_period
),

spine as (
    select
        feed,
        step_days,
        period_date
    from feed_days
    where {{ dbt.datediff('first_period', 'period_date', 'day') }} % step_days = 0  -- noqa: LT05
),

series as (
    select
        spine.feed,
        spine.step_days,
        cast(spine.period_date as timestamp) as period_ts,
        delivered.rows_appended,
        coalesce(delivered.files, 0) as files
    from spine
    left join delivered
        on
            spine.feed = delivered.feed
            and spine.period_date = delivered.period_date
),

daily as (
    select * from series
    where step_days = 1
),

weekly as (
    select * from series
    where step_days = 7
),

daily_detected as (
    {{ detect_anomalies('daily', series_cols=['feed'], time_col='period_ts', value_col='rows_appended',
                        passthrough_cols=['files']) }}
),

weekly_detected as (
    {{ detect_anomalies('weekly', series_cols=['feed'], time_col='period_ts', value_col='rows_appended',
                        passthrough_cols=['files'],
                        options={'season_length': 1, 'window': 4, 'level_window': 3, 'season_window': 4,
                                 'min_seasons': 3}) }}
),

detected as (
    select * from daily_detected
    union all
    select * from weekly_detected
),

final as (
    select
        feed,
        cast(period_ts as date) as period_date,
        files,
        cast(value as bigint) as rows_appended,
        expected_value,
        lower_bound,
        upper_bound,
        is_anomaly,
        direction,
        explanation,
        period_ts = max(period_ts) over (partition by feed) as is_latest_period
    from detected
)

select * from final
