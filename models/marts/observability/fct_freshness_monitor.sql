-- Freshness monitor: per feed, how long since its last file was loaded, against the feed's expected cadence
-- (a daily or a weekly file) plus a grace period, and the newest business period delivered. `late` when no
-- file arrived within cadence + grace, `stale` beyond three cadences. The reference time is now, or the var
-- observability_now (tests, replays). A retracted file (python -m ml retract) was not a delivery: it is left out.
with

loads as (
    select
        source as feed,
        loaded_at,
        {{ file_name_date('file_name') }} as period_date
    from {{ ref('int_loads_in_use') }}
),

per_feed as (
    select
        feed,
        max(loaded_at) as last_loaded_at,
        max(period_date) as latest_period,
        count(*) as files_seen
    from loads
    group by feed
),

expectations as (
    select
        feed,
        last_loaded_at,
        latest_period,
        files_seen,
        case when feed = 'api_logs' then 24 else 168 end as expected_every_hours,
        {{ var('observability_freshness_grace_hours') }} as grace_hours,
        {{ observability_checked_at() }} as checked_at
    from per_feed
),

elapsed as (
    select
        *,
        cast({{ dbt.datediff('last_loaded_at', 'checked_at', 'minute') }} / 60.0 as double) as hours_since_last_load  -- noqa: LT05
    from expectations
),

final as (
    select
        feed,
        last_loaded_at,
        latest_period,
        files_seen,
        expected_every_hours,
        grace_hours,
        checked_at,
        hours_since_last_load,
        case
            when hours_since_last_load > 3 * expected_every_hours then 'stale'
            when hours_since_last_load > expected_every_hours + grace_hours then 'late'
            else 'fresh'
        end as freshness_status
    from elapsed
)

select * from final
