-- One row: should the spam classifier be retrained now, and why. Read by the orchestrator's retraining
-- sensor. Triggers, first match wins:
--   no_champion          nothing is registered yet;
--   new_feature_version  the feature mart has a version newer than the champion's;
--   sustained_drift      a feature or the score is in major drift (PSI) in each of the last
--                        `spam_drift_sustained_weeks` weeks after the champion's training window;
--   performance_decay    recall on a newly labelled week (>= `spam_decay_min_positives` spam labels) fell more
--                        than `spam_decay_recall_drop` below the champion's test recall.
{%- set versions = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'fct_spam_features' -%}
        {%- do versions.append(node.version | int) -%}
    {%- endfor -%}
{%- endif -%}
{%- set latest_feature_version = (versions | max) if versions else 0 -%}
{%- set sustained = var('spam_drift_sustained_weeks') | int %}

with

champion as (
    select * from {{ ref('int_spam_champion') }}
),

drift as (
    select * from {{ ref('fct_spam_drift') }}
    where not is_reference_week and drift_band != 'not_observed'
),

recent_weeks as (
    select week_start
    from (
        select
            week_start,
            row_number() over (order by week_start desc) as recency
        from (select distinct week_start from drift) as weeks
    ) as ranked
    where recency <= {{ sustained }}
),

sustained_drift as (
    select
        drift.monitored_name,
        min(drift.psi) as min_psi
    from drift
    inner join recent_weeks
        on drift.week_start = recent_weeks.week_start
    group by drift.monitored_name
    having
        count(*) = {{ sustained }}
        and sum(case when drift.drift_band = 'major' then 1 else 0 end) = {{ sustained }}
),

decay as (
    select
        week_start,
        recall_at_threshold,
        reference_recall
    from {{ ref('fct_spam_model_performance_weekly') }}
    where
        is_after_training_window
        and labelled_spam >= {{ var('spam_decay_min_positives') }}
        and recall_at_threshold < reference_recall - {{ var('spam_decay_recall_drop') }}
),

facts as (
    select
        (select count(*) from champion) as n_champions,
        (select max(model_version) from champion) as champion_version,
        (select max(feature_version) from champion) as champion_feature_version,
        {{ latest_feature_version }} as latest_feature_version,
        (select count(*) from sustained_drift) as n_drifting,
        (
            select {{ dbt.listagg(
                "monitored_name || ' (PSI >= ' || cast(round(min_psi, 3) as " ~ dbt.type_string() ~ ") || ')'",
                "', '", "order by monitored_name") }}
            from sustained_drift
        ) as drifting,
        (select count(*) from decay) as n_decayed_weeks,
        (
            select {{ dbt.listagg(
                "cast(week_start as " ~ dbt.type_string() ~ ") || ' (recall ' || cast(round(recall_at_threshold, 3) as "
                ~ dbt.type_string() ~ ") || ' vs ' || cast(round(reference_recall, 3) as " ~ dbt.type_string() ~ ") || ')'",
                "', '", "order by week_start") }}
            from decay
        ) as decayed_weeks
),

final as (
    select
        champion_version,
        champion_feature_version,
        latest_feature_version,
        case
            when n_champions = 0 then 'no_champion'
            when latest_feature_version > champion_feature_version then 'new_feature_version'
            when n_drifting > 0 then 'sustained_drift'
            when n_decayed_weeks > 0 then 'performance_decay'
            else 'none'
        end as retrain_trigger,
        n_champions = 0
        or latest_feature_version > champion_feature_version
        or n_drifting > 0
        or n_decayed_weeks > 0 as should_retrain,
        case
            when n_champions = 0 then 'no champion model is registered'
            when latest_feature_version > champion_feature_version
                then 'feature mart v' || cast(latest_feature_version as {{ dbt.type_string() }})
                    || {{ string_literal(" is newer than the champion's v") }}
                    || cast(champion_feature_version as {{ dbt.type_string() }})
            when n_drifting > 0
                then 'major drift for {{ sustained }} weeks in a row: ' || drifting
            when n_decayed_weeks > 0 then 'recall decayed on newly labelled weeks: ' || decayed_weeks
            else 'stable: no sustained drift, no performance decay, champion on the latest feature version'
        end as reason
    from facts
)

select * from final
