-- Every detector on every data set, scored on the same buckets (macros/anomaly/score_detections.sql):
-- event precision / recall / F1 with a tolerance of one bucket, point precision / recall / F1, Fc and the
-- flag rate, overall and per incident type. Two baselines bound the table: `always` flags every bucket with
-- a value, `never` flags none. Detectors are ranked by Fc within a data set and event type.
with

{{ eval_scored_buckets(anomaly_evaluated_methods() + ['always', 'never']) }},

scores as (
    {{ score_detections('scored_buckets') }}
),

final as (
    select
        *,
        cast(rank() over (partition by dataset, event_type order by fc desc) as bigint) as fc_rank
    from scores
)

select * from final
