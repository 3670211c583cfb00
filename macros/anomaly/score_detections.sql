{#-
    Event- and point-level scores of flagged buckets against labelled buckets (docs/anomaly_detection.md,
    "Evaluation"). One definition for the evaluation marts and for `python -m ml detect --label-col`.

    Input `relation`: one row per scored bucket of every series, with the columns
        {{ group_cols }}, series_key, series_level, bucket_index (consecutive integers along the series),
        is_flagged, is_labelled (booleans), event_type (the label's type on a labelled bucket, else null).

    * A truth event is a maximal run of labelled buckets of a series. Widened by `tolerance` buckets on each
      side, it is detected (TP) when its widened span holds at least one flagged bucket, else missed (FN).
    * A false alarm (FP) is a maximal run of flagged buckets outside every widened event: a run that crosses
      an event's boundary counts only its outside part.
    * Event P = TP / (TP + FP), R = TP / (TP + FN). Point P and R count buckets without tolerance.
      Fc (Garg et al. 2021) is the harmonic mean of point precision and event recall. Flag rate = flagged
      buckets / scored buckets.
    * Output: one row per group and event type, plus event_type 'all'. Recall is the type's own; precision
      (event and point) is measured on the series of the level(s) where the type's events happen, since a
      false alarm has no type. With one level (the benchmarks) every row's precision is the dataset's.
-#}
{% macro score_detections(relation, group_cols=['dataset', 'detector'], tolerance=1) -%}
    {%- set g = group_cols | join(', ') -%}
    {%- set near -%}
        over (partition by {{ g }}, series_key order by bucket_index
              range between {{ tolerance }} preceding and {{ tolerance }} following)
    {%- endset -%}

    with sd_buckets as (
        select
            {{ g }},
            series_key,
            series_level,
            bucket_index,
            is_flagged,
            is_labelled,
            event_type,
            max(case when is_labelled then 1 else 0 end) {{ near }} = 1 as is_near_label,
            max(case when is_flagged then 1 else 0 end) {{ near }} = 1 as is_near_flag
        from {{ relation }}
    ),

    sd_labelled as (
        select
            *,
            bucket_index - row_number() over (partition by {{ g }}, series_key order by bucket_index) as island
        from sd_buckets
        where is_labelled
    ),

    sd_events as (
        select
            {{ g }},
            series_key,
            series_level,
            island,
            min(event_type) as event_type,
            count(*) as n_labelled,
            sum(case when is_flagged then 1 else 0 end) as n_flagged,
            max(case when is_near_flag then 1 else 0 end) as is_detected
        from sd_labelled
        group by {{ g }}, series_key, series_level, island
    ),

    sd_outside as (
        select
            *,
            bucket_index - row_number() over (partition by {{ g }}, series_key order by bucket_index) as island
        from sd_buckets
        where is_flagged and not is_near_label
    ),

    sd_false_alarms as (
        select
            {{ g }},
            series_level,
            count(distinct series_key || '#' || cast(island as {{ dbt.type_string() }})) as false_alarms
        from sd_outside
        group by {{ g }}, series_level
    ),

    sd_levels as (
        -- the precision side, per level of the hierarchy
        select
            {{ g }},
            series_level,
            count(distinct series_key) as n_series,
            count(*) as n_buckets,
            sum(case when is_flagged then 1 else 0 end) as n_flagged,
            sum(case when is_flagged and is_labelled then 1 else 0 end) as n_flagged_labelled
        from sd_buckets
        group by {{ g }}, series_level
    ),

    sd_level_events as (
        select
            {{ g }},
            series_level,
            sum(is_detected) as events_detected
        from sd_events
        group by {{ g }}, series_level
    ),

    sd_level_stats as (
        select
            a.*,
            coalesce(b.events_detected, 0) as level_events_detected,
            coalesce(c.false_alarms, 0) as false_alarms
        from sd_levels as a
        left join sd_level_events as b
            on {{ _score_join('a', 'b', group_cols + ['series_level']) }}
        left join sd_false_alarms as c
            on {{ _score_join('a', 'c', group_cols + ['series_level']) }}
    ),

    sd_types as (
        -- the recall side, per event type and for all events (sqlfluff's DuckDB dialect cannot parse
        -- grouping sets, so the two groupings are a union)
        {%- for by_type in [true, false] %}
        select
            {{ g }},
            {{ 'event_type' if by_type else "'all' as event_type" }},
            count(*) as n_events,
            sum(is_detected) as events_detected,
            sum(n_labelled) as n_labelled,
            sum(n_flagged) as n_labelled_flagged
        from sd_events
        group by {{ g }}{{ ', event_type' if by_type }}
        {% if by_type %}union all{% endif %}
        {%- endfor %}
    ),

    sd_type_levels as (
        select distinct {{ g }}, event_type, series_level from sd_events
        union all
        select distinct {{ g }}, 'all' as event_type, series_level from sd_levels
    ),

    sd_precision as (
        select
            {% for c in group_cols %}a.{{ c }}, {% endfor %}
            a.event_type,
            sum(b.n_series) as n_series,
            sum(b.n_buckets) as n_buckets,
            sum(b.n_flagged) as n_flagged,
            sum(b.n_flagged_labelled) as n_flagged_labelled,
            sum(b.level_events_detected) as precision_events_detected,
            sum(b.false_alarms) as false_alarms
        from sd_type_levels as a
        inner join sd_level_stats as b
            on {{ _score_join('a', 'b', group_cols + ['series_level']) }}
        group by {% for c in group_cols %}a.{{ c }}, {% endfor %}a.event_type
    ),

    sd_counts as (
        select
            {% for c in group_cols %}b.{{ c }}, {% endfor %}
            b.event_type,
            b.n_series,
            b.n_buckets,
            coalesce(a.n_events, 0) as n_events,
            coalesce(a.events_detected, 0) as events_detected,
            b.precision_events_detected,
            b.false_alarms,
            b.n_flagged,
            b.n_flagged_labelled,
            coalesce(a.n_labelled, 0) as n_labelled,
            coalesce(a.n_labelled_flagged, 0) as n_labelled_flagged
        from sd_precision as b
        left join sd_types as a
            on {{ _score_join('a', 'b', group_cols + ['event_type']) }}
    ),

    sd_rates as (
        select
            *,
            cast(precision_events_detected as double)
            / nullif(precision_events_detected + false_alarms, 0) as event_precision,
            cast(events_detected as double) / nullif(n_events, 0) as event_recall,
            cast(n_flagged_labelled as double) / nullif(n_flagged, 0) as point_precision,
            cast(n_labelled_flagged as double) / nullif(n_labelled, 0) as point_recall,
            cast(n_flagged as double) / nullif(n_buckets, 0) as flag_rate
        from sd_counts
    )

    -- the counts as bigint on every engine (DuckDB's sum of a count is a HUGEINT, which Spark has not)
    select
        {{ g }},
        event_type,
        cast(n_series as bigint) as n_series,
        cast(n_buckets as bigint) as n_buckets,
        cast(n_events as bigint) as n_events,
        cast(events_detected as bigint) as events_detected,
        cast(n_events - events_detected as bigint) as events_missed,
        cast(false_alarms as bigint) as false_alarms,
        coalesce(event_precision, 0) as event_precision,
        coalesce(event_recall, 0) as event_recall,
        coalesce(2 * event_precision * event_recall / nullif(event_precision + event_recall, 0), 0) as event_f1,
        cast(n_flagged as bigint) as n_flagged,
        cast(n_labelled as bigint) as n_labelled,
        cast(n_labelled_flagged as bigint) as n_labelled_flagged,
        coalesce(point_precision, 0) as point_precision,
        coalesce(point_recall, 0) as point_recall,
        coalesce(2 * point_precision * point_recall / nullif(point_precision + point_recall, 0), 0) as point_f1,
        coalesce(2 * point_precision * event_recall / nullif(point_precision + event_recall, 0), 0) as fc,
        coalesce(flag_rate, 0) as flag_rate
    from sd_rates
{%- endmacro %}
