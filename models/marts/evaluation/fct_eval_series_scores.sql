-- One row per data set, detector and scored series: the counts each score of fct_detector_evaluation is made
-- of, from the same macro grouped by series too. They add up over series, so resampling the series puts an
-- interval on a score, or on one detector's margin over another (`python -m ml evaluate`,
-- ml/anomaly/uncertainty.py). Events of every type together (event_type 'all').
with

{{ eval_scored_buckets(anomaly_evaluated_methods() + ['always']) }},

by_series as (
    select
        *,
        series_key as scored_series
    from scored_buckets
),

scores as (
    {{ score_detections('by_series', group_cols=['dataset', 'detector', 'scored_series']) }}
),

final as (
    select
        dataset,
        detector,
        scored_series as series_key,
        n_buckets,
        n_events,
        events_detected,
        false_alarms,
        n_flagged,
        n_labelled,
        n_labelled_flagged
    from scores
    where event_type = 'all'
)

select * from final
