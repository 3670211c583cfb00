-- Precision, recall and F1 of every detector on every dataset, at event level (an incident counts once,
-- at the node where it happened) and point level (periods), overall and per incident type.
-- A predicted incident matches a labelled event when it is on the same node and their periods overlap.
-- Per type, precision counts the type's matched predictions against all unmatched predictions at the
-- type's level (false alarms carry no type).
with

predicted as (
    select * from {{ ref('fct_eval_predicted_incidents') }}
),

truth as (
    select * from {{ ref('fct_eval_truth_events') }}
),

detectors as (
    select distinct detector from predicted
),

pairs as (
    select
        predicted.dataset,
        predicted.detector,
        predicted.series_key,
        predicted.start_ts as p_start,
        truth.event_id,
        truth.event_type,
        {{ dbt.datediff(
            "greatest(predicted.start_ts, truth.start_ts)", "least(predicted.end_ts, truth.end_ts)", "hour"
        ) }} / truth.period_hours + 1 as overlap_periods
    from predicted
    inner join truth
        on predicted.dataset = truth.dataset
            and predicted.level = truth.level
            and predicted.series_key = truth.series_key
            and predicted.start_ts <= truth.end_ts
            and predicted.end_ts >= truth.start_ts
),

truth_scored as (
    select
        truth.dataset,
        detectors.detector,
        truth.event_type,
        truth.level,
        truth.event_id,
        {{ dbt.datediff("truth.start_ts", "truth.end_ts", "hour") }} / truth.period_hours + 1 as n_periods,  -- noqa: LT05
        count(pairs.event_id) > 0 as is_detected,
        coalesce(sum(pairs.overlap_periods), 0) as detected_periods
    from truth
    cross join detectors
    left join pairs
        on truth.dataset = pairs.dataset
            and detectors.detector = pairs.detector
            and truth.event_id = pairs.event_id
    group by
        truth.dataset, detectors.detector, truth.event_type, truth.level, truth.event_id, truth.start_ts,
        truth.end_ts, truth.period_hours
),

predicted_scored as (
    select
        predicted.dataset,
        predicted.detector,
        predicted.level,
        predicted.n_periods,
        max(pairs.event_type) as matched_type,
        coalesce(sum(pairs.overlap_periods), 0) as matched_periods
    from predicted
    left join pairs
        on predicted.dataset = pairs.dataset
            and predicted.detector = pairs.detector
            and predicted.series_key = pairs.series_key
            and predicted.start_ts = pairs.p_start
    group by
        predicted.dataset, predicted.detector, predicted.level, predicted.series_key, predicted.start_ts,
        predicted.n_periods
),

types as (
    select distinct dataset, event_type, level from truth
    where dataset = 'synthetic'
    union all
    select distinct dataset, 'all' as event_type, cast(null as varchar) as level from truth
),

counts as (
    select
        types.dataset,
        detectors.detector,
        types.event_type,
        (
            select count(*) from truth_scored as t
            where t.dataset = types.dataset and t.detector = detectors.detector
                and (types.event_type = 'all' or t.event_type = types.event_type)
        ) as n_events,
        (
            select count(*) from truth_scored as t
            where t.dataset = types.dataset and t.detector = detectors.detector and t.is_detected
                and (types.event_type = 'all' or t.event_type = types.event_type)
        ) as events_detected,
        (
            select count(*) from predicted_scored as p
            where p.dataset = types.dataset and p.detector = detectors.detector and p.matched_type is not null
                and (types.event_type = 'all' or p.matched_type = types.event_type)
        ) as predictions_matched,
        (
            select count(*) from predicted_scored as p
            where p.dataset = types.dataset and p.detector = detectors.detector and p.matched_type is null
                and (types.event_type = 'all' or p.level = types.level)
        ) as false_alarms,
        (
            select coalesce(sum(t.n_periods), 0) from truth_scored as t
            where t.dataset = types.dataset and t.detector = detectors.detector
                and (types.event_type = 'all' or t.event_type = types.event_type)
        ) as truth_periods,
        (
            select coalesce(sum(t.detected_periods), 0) from truth_scored as t
            where t.dataset = types.dataset and t.detector = detectors.detector
                and (types.event_type = 'all' or t.event_type = types.event_type)
        ) as periods_detected,
        (
            select coalesce(sum(p.n_periods - least(p.matched_periods, p.n_periods)), 0) from predicted_scored as p
            where p.dataset = types.dataset and p.detector = detectors.detector
                and (types.event_type = 'all' or (
                    p.level = types.level
                    and (p.matched_type is null or p.matched_type = types.event_type)
                ))
        ) as false_alarm_periods
    from types
    cross join detectors
),

rates as (
    select
        *,
        cast(predictions_matched as double) / nullif(predictions_matched + false_alarms, 0) as event_precision,
        cast(events_detected as double) / nullif(n_events, 0) as event_recall,
        cast(periods_detected as double) / nullif(periods_detected + false_alarm_periods, 0) as point_precision,
        cast(periods_detected as double) / nullif(truth_periods, 0) as point_recall
    from counts
),

final as (
    select
        dataset,
        detector,
        event_type,
        n_events,
        events_detected,
        predictions_matched,
        false_alarms,
        coalesce(event_precision, 0) as event_precision,
        coalesce(event_recall, 0) as event_recall,
        coalesce(2 * event_precision * event_recall / nullif(event_precision + event_recall, 0), 0) as event_f1,
        truth_periods,
        periods_detected,
        false_alarm_periods,
        coalesce(point_precision, 0) as point_precision,
        coalesce(point_recall, 0) as point_recall,
        coalesce(2 * point_precision * point_recall / nullif(point_precision + point_recall, 0), 0) as point_f1
    from rates
)

select * from final
