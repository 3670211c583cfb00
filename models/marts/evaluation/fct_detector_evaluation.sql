-- Every detector on every data set, scored on the same buckets (macros/anomaly/score_detections.sql):
-- event precision / recall / F1 with a tolerance of one bucket, point precision / recall / F1, Fc and the
-- flag rate, overall and per incident type. Two baselines bound the table: `always` flags every bucket with
-- a value, `never` flags none. Detectors are ranked by Fc within a data set and event type.
{%- set detectors = anomaly_evaluated_methods() + ['always', 'never'] %}
with

buckets as (
    select * from {{ ref('int_eval_series_buckets') }}
    where is_scored
),

flags as (
    select * from {{ ref('int_eval_detector_flags') }}
),

detectors as (
    {% for d in detectors %}
        select '{{ d }}' as detector
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

scored_buckets as (
    select
        buckets.dataset,
        detectors.detector,
        buckets.series_key,
        buckets.series_level,
        buckets.bucket_index,
        buckets.is_labelled,
        buckets.event_type,
        case detectors.detector
            when 'always' then buckets.value is not null
            when 'never' then false
            else flags.series_key is not null
        end as is_flagged
    from buckets
    cross join detectors
    left join flags
        on buckets.dataset = flags.dataset
            and detectors.detector = flags.detector
            and buckets.series_key = flags.series_key
            and buckets.period_ts = flags.period_ts
),

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
