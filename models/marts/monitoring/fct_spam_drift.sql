-- Population stability (PSI) of every monitored feature of the latest feature mart and of the champion's
-- score, per week, against the champion's training window (before any champion: the first week).
-- Bins are fixed by the reference: a zero bin (zero-inflated counts) plus `spam_psi_bins` quantile bins of the
-- reference's non-zero values. PSI = sum((a - e) * ln(a / e)) with shares floored at 1e-4.
-- Bands: < spam_psi_moderate stable, up to spam_psi_major moderate, above major; weeks where a feature was not
-- delivered are `not_observed`, never compared as zeros.
{%- set monitored = var('spam_monitored_features') -%}
{%- set n_bins = var('spam_psi_bins') | int %}

with

features as (
    select * from {{ ref('fct_spam_features') }}
),

champion as (
    select * from {{ ref('int_spam_champion') }}
),

bounds as (
    select
        coalesce((select max(train_start) from champion), (select min(week_start) from features)) as reference_start,
        coalesce((select max(train_end) from champion), (select min(week_start) from features)) as reference_end,
        (select max(model_version) from champion) as champion_version
),

scores as (
    select
        week_start,
        score
    from {{ ref('int_spam_champion_scores') }}
),

values_long as (
    {%- for f in monitored %}
        select
            '{{ f }}' as monitored_name,
            'feature' as monitored_kind,
            week_start,
            cast({{ f }} as double) as monitored_value
        from features
        where {{ f }} is not null
        union all
    {%- endfor %}
    select
        'score' as monitored_name,
        'model_score' as monitored_kind,
        week_start,
        score as monitored_value
    from scores
),

edges as (
    select
        {%- for i in range(1, n_bins) %}
            {{ quantile('values_long.monitored_value', (i / n_bins) | round(4)) }} as edge_{{ i }},
        {%- endfor %}
        values_long.monitored_name
    from values_long
    cross join bounds
    where
        values_long.monitored_value != 0
        and values_long.week_start between bounds.reference_start and bounds.reference_end
    group by values_long.monitored_name
),

binned as (
    select
        values_long.monitored_name,
        values_long.monitored_kind,
        values_long.week_start,
        case
            when values_long.monitored_value = 0 then 0
            {%- for i in range(1, n_bins) %}
                when values_long.monitored_value < edges.edge_{{ i }} then {{ i }}
            {%- endfor %}
            else {{ n_bins }}
        end as bin_index
    from values_long
    left join edges
        on values_long.monitored_name = edges.monitored_name
),

bins as (
    {%- for b in range(0, n_bins + 1) %}
        select {{ b }} as bin_index{{ ' union all' if not loop.last }}
    {%- endfor %}
),

all_weeks as (
    select distinct week_start from features
),

monitored as (
    {%- for f in monitored %}
        select
            '{{ f }}' as monitored_name,
            'feature' as monitored_kind
        union all
    {%- endfor %}
    select
        'score' as monitored_name,
        'model_score' as monitored_kind
),

current_counts as (
    select
        monitored_name,
        week_start,
        bin_index,
        count(*) as n_rows
    from binned
    group by monitored_name, week_start, bin_index
),

reference_counts as (
    select
        binned.monitored_name,
        binned.bin_index,
        count(*) as n_rows
    from binned
    cross join bounds
    where binned.week_start between bounds.reference_start and bounds.reference_end
    group by binned.monitored_name, binned.bin_index
),

observed_weeks as (
    select distinct
        monitored_name,
        week_start
    from current_counts
),

grid as (
    select
        observed_weeks.monitored_name,
        observed_weeks.week_start,
        bins.bin_index,
        coalesce(current_counts.n_rows, 0) as actual_rows,
        coalesce(reference_counts.n_rows, 0) as expected_rows
    from observed_weeks
    cross join bins
    left join current_counts
        on
            observed_weeks.monitored_name = current_counts.monitored_name
            and observed_weeks.week_start = current_counts.week_start
            and bins.bin_index = current_counts.bin_index
    left join reference_counts
        on
            observed_weeks.monitored_name = reference_counts.monitored_name
            and bins.bin_index = reference_counts.bin_index
),

shares as (
    select
        monitored_name,
        week_start,
        actual_rows,
        expected_rows,
        greatest(
            cast(actual_rows as double) / nullif(sum(actual_rows) over (partition by monitored_name, week_start), 0),
            0.0001
        ) as actual_share,
        greatest(
            cast(expected_rows as double)
            / nullif(sum(expected_rows) over (partition by monitored_name, week_start), 0),
            0.0001
        ) as expected_share
    from grid
),

psi as (
    select
        monitored_name,
        week_start,
        cast(sum(actual_rows) as bigint) as n_rows,  -- DuckDB's sum of bigints is a HUGEINT, which Spark has not
        cast(sum(expected_rows) as bigint) as n_reference_rows,
        sum((actual_share - expected_share) * ln(actual_share / expected_share)) as psi
    from shares
    group by monitored_name, week_start
),

final as (
    select
        monitored.monitored_name,
        monitored.monitored_kind,
        all_weeks.week_start,
        coalesce(psi.n_rows, 0) as n_rows,
        coalesce(psi.n_reference_rows, 0) as n_reference_rows,
        case when coalesce(psi.n_reference_rows, 0) > 0 then psi.psi end as psi,
        case
            when psi.n_rows is null then 'not_observed'
            when psi.n_reference_rows = 0 then 'no_reference'
            when psi.psi > {{ var('spam_psi_major') }} then 'major'
            when psi.psi >= {{ var('spam_psi_moderate') }} then 'moderate'
            else 'stable'
        end as drift_band,
        all_weeks.week_start between bounds.reference_start and bounds.reference_end as is_reference_week,
        bounds.reference_start,
        bounds.reference_end,
        bounds.champion_version
    from monitored
    cross join all_weeks
    cross join bounds
    left join psi
        on
            monitored.monitored_name = psi.monitored_name
            and all_weeks.week_start = psi.week_start
)

select * from final
