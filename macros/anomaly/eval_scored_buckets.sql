{#- The evaluation's input, as CTEs ending in `scored_buckets`: every scored bucket of int_eval_series_buckets
    once per detector in `detectors`, with that detector's flag (`always` flags every bucket with a value,
    `never` none). Read by fct_detector_evaluation and fct_eval_series_scores, so both score the same flags. -#}
{% macro eval_scored_buckets(detectors) -%}
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
    )
{%- endmacro %}
