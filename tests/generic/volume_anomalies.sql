{#- Same name and main arguments as Elementary's volume_anomalies (its package is on the unreachable Hub):
    the model's rows per time bucket of `timestamp_column` (a day, or `time_bucket_days` days), judged by the
    project's own detector (detect_anomalies, robust_seasonal; the options of `anomaly_options` override the
    dbt vars). Returns the anomalous buckets among the last `detection_periods`: a drop, a surge, or a bucket
    with no row at all (`missing`). Put it on a mart with severity warn; the run-history hook samples its rows. -#}
{% test volume_anomalies(model, timestamp_column, time_bucket_days=1, detection_periods=1, anomaly_options={}) %}
    with

    bucket_counts as (
        select
            cast({{ timestamp_column }} as date) as period_date,
            count(*) as row_count
        from {{ model }}
        group by cast({{ timestamp_column }} as date)
    ),

    bounds as (
        select
            min(period_date) as first_period,
            max(period_date) as last_period
        from bucket_counts
    ),

    days as (
        {{ period_spine("(select first_period from bounds)", "(select last_period from bounds)") }}
    ),

    buckets as (
        select
            'rows' as monitored,
            days.period_ts,
            bucket_counts.row_count
        from days
        cross join bounds
        left join bucket_counts on cast(days.period_ts as date) = bucket_counts.period_date
        where
            {{ dbt.datediff('bounds.first_period', 'cast(days.period_ts as date)', 'day') }}
            % {{ time_bucket_days }} = 0
    ),

    detected as (
        {{ detect_anomalies('buckets', series_cols=['monitored'], time_col='period_ts', value_col='row_count',
                            options=anomaly_options) }}
    ),

    latest as (
        select
            *,
            row_number() over (order by period_ts desc) as periods_back
        from detected
    )

    select
        cast(period_ts as date) as period_date,
        value as row_count,
        expected_value,
        lower_bound,
        upper_bound,
        direction,
        explanation
    from latest
    where periods_back <= {{ detection_periods }} and is_anomaly
{% endtest %}
