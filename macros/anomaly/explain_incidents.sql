{#-
    Hierarchy explanation over the country x OS lattice (levels country_os, country, os, total).

    Input: the output of detect_anomalies over all four levels (columns detector, level, country, os,
    series_key, period_ts, value, expected_value, deviation_value, deviation_pct, direction,
    is_anomaly, is_judged, explanation, calendar_label, is_holiday).
    Output: one row per period and *incident node*: the highest flagged node that explains the move (the columns
    above, is_new_series, leads, n_contributors and contributors).

    0. A new series (not judged yet, yet with a value: a country or OS that started after its parents, or one
       back after a long gap) is read as a move up by its whole value under an ancestor flagged up that period:
       its parents' expected values were learnt without it. It can explain that move and be named as a
       contributor ('BR/Android (new)'); a new node is not explained down by its own new children (the whole
       country is new); and it is an incident only where it carries the share of a flagged ancestor's move
       (`leads`: a small new country is no incident because the total moved for another reason). Its own row
       in the detector's output stays not judged.

    1. A flagged node is explained by a flagged child (same period, same direction) that carries at least
       `anomaly_explain_share` of the node's deviation while the rest of the node moved (relatively) less than
       `anomaly_explain_breadth` times as much as the child: the move is really the child's (a spike on
       IN/Android also moves IN, Android and the total, but it is one country_os incident; an outage of all
       of IN's OS is one country incident even though Android carries 80 % of IN's drop).
    2. A flagged node not explained by a child is an explaining node (a broad move across its children: an
       outage of a whole country, a bad iOS release). A missing period is explained by the highest missing node.
    3. An explaining node under another explaining node of the same direction is a contributor, not an incident.
    Contributors of an incident: its flagged descendants, largest deviation first.
-#}
{% macro explain_incidents(relation, partition_cols=['detector'], explain_share=none) -%}
    {%- set share = explain_share or var('anomaly_explain_share') -%}
    {%- set breadth = var('anomaly_explain_breadth') -%}
    {%- set same -%}
        {% for c in partition_cols %}child.{{ c }} = parent.{{ c }} and {% endfor -%}
        child.period_ts = parent.period_ts and child.direction = parent.direction
    {%- endset -%}
    {%- set descendant_of -%}
        (
            (parent.level = 'total' and child.level != 'total')
            or (parent.level = 'country' and child.level = 'country_os' and child.country = parent.country)
            or (parent.level = 'os' and child.level = 'country_os' and child.os = parent.os)
        )
    {%- endset -%}
    {%- set pcols = partition_cols | join(', ') -%}

    with flagged_up as (
        -- the nodes flagged up: the ancestors a new series can explain (rule 0)
        select {{ pcols }}, period_ts, series_key, deviation_value
        from {{ relation }}
        where is_anomaly and direction = 'up'
    ),

    new_series as (
        -- the new series under an ancestor flagged up that period; leads: carrying the share of its move
        select
            {% for c in partition_cols %}child.{{ c }}, {% endfor %}
            child.series_key,
            child.period_ts,
            max(case when child.value >= {{ share }} * parent.deviation_value then 1 else 0 end) as leads
        from {{ relation }} as child
        inner join flagged_up as parent
            on {% for c in partition_cols %}child.{{ c }} = parent.{{ c }} and {% endfor -%}
            child.period_ts = parent.period_ts
            and parent.series_key in ('*/*', child.country || '/*', '*/' || child.os)
            and parent.series_key != child.series_key
        where not child.is_judged and child.value is not null
        group by {% for c in partition_cols %}child.{{ c }}, {% endfor %}child.series_key, child.period_ts
    ),

    nodes as (
        -- the input's columns; a series not judged yet that has a value read as a move up by its whole value
        select
            {% for c in partition_cols %}{{ c }}, {% endfor %}
            level,
            country,
            os,
            series_key,
            period_ts,
            value,
            case when is_new_series then 0 else expected_value end as expected_value,
            case when is_new_series then value else deviation_value end as deviation_value,
            case when is_new_series then null else deviation_pct end as deviation_pct,
            case when is_new_series then 'up' else direction end as direction,
            is_anomaly,
            is_judged,
            case
                when is_new_series
                    then 'not judged yet (a new series, or one back after a gap: too little recent history), '
                    || 'and its whole value is new to its parents'
                else explanation
            end as explanation,
            calendar_label,
            is_holiday,
            is_new_series
        from (
            select
                *,
                coalesce(not is_judged and value is not null, false) as is_new_series
            from {{ relation }}
        ) as marked
    ),

    flagged as (
        select
            nodes.*,
            coalesce(new_series.leads, 0) as leads
        from nodes
        left join new_series
            on {% for c in partition_cols %}nodes.{{ c }} = new_series.{{ c }} and {% endfor -%}
            nodes.series_key = new_series.series_key
            and nodes.period_ts = new_series.period_ts
        where nodes.is_anomaly or new_series.series_key is not null
    ),

    edges as (
        -- every node with its parent(s) in the lattice: a country x OS node has two, a country or an OS one
        select
            nodes.*,
            case
                when parent_kind.n = 1 then nodes.country || '/*'
                when parent_kind.n = 2 then '*/' || nodes.os
                else '*/*'
            end as parent_key
        from nodes
        inner join (select 1 as n union all select 2 union all select 3) as parent_kind
            on (nodes.level = 'country_os' and parent_kind.n in (1, 2))
            or (nodes.level in ('country', 'os') and parent_kind.n = 3)
    ),

    sibling_sums as (
        -- the move of all children of a flagged parent along one dimension
        select
            {% for c in partition_cols %}edges.{{ c }}, {% endfor %}
            edges.parent_key,
            edges.level,
            edges.period_ts,
            sum(coalesce(edges.deviation_value, 0)) as sum_deviation,
            sum(coalesce(edges.expected_value, 0)) as sum_expected
        from edges
        inner join flagged as parent
            on {% for c in partition_cols %}edges.{{ c }} = parent.{{ c }} and {% endfor -%}
            edges.parent_key = parent.series_key
            and edges.period_ts = parent.period_ts
        group by {% for c in partition_cols %}edges.{{ c }}, {% endfor %}edges.parent_key, edges.level,
            edges.period_ts
    ),

    explained_down as (
        select distinct
            {% for c in partition_cols %}parent.{{ c }}, {% endfor %}
            parent.series_key,
            parent.period_ts
        from flagged as parent
        inner join edges as child
            on {{ same }} and child.parent_key = parent.series_key
        inner join sibling_sums as sib
            on {% for c in partition_cols %}sib.{{ c }} = parent.{{ c }} and {% endfor -%}
            sib.parent_key = parent.series_key
            and sib.level = child.level
            and sib.period_ts = parent.period_ts
        where parent.direction != 'missing'
            and not parent.is_new_series
            and (child.is_anomaly or child.is_new_series)
            -- the child carries most of its parent's move ...
            and child.deviation_value / nullif(parent.deviation_value, 0) >= {{ share }}
            -- ... and its siblings together moved (relatively) much less than the child did
            and (
                child.is_new_series
                or sib.sum_expected - child.expected_value <= 0
                or abs((sib.sum_deviation - child.deviation_value)
                       / nullif(sib.sum_expected - child.expected_value, 0))
                < {{ breadth }} * abs(child.deviation_value / nullif(child.expected_value, 0))
            )
    ),

    explaining as (
        select flagged.*
        from flagged
        left join explained_down
            on {% for c in partition_cols %}flagged.{{ c }} = explained_down.{{ c }} and {% endfor -%}
            flagged.series_key = explained_down.series_key
            and flagged.period_ts = explained_down.period_ts
        where explained_down.series_key is null
    ),

    covered as (
        select distinct
            {% for c in partition_cols %}child.{{ c }}, {% endfor %}
            child.series_key,
            child.period_ts
        from explaining as child
        inner join explaining as parent
            on {{ same }} and {{ descendant_of }}
    ),

    incident_nodes as (
        select explaining.*
        from explaining
        left join covered
            on {% for c in partition_cols %}explaining.{{ c }} = covered.{{ c }} and {% endfor -%}
            explaining.series_key = covered.series_key
            and explaining.period_ts = covered.period_ts
        where covered.series_key is null
            and (not explaining.is_new_series or explaining.leads = 1)
    ),

    contributors_ranked as (
        select
            {% for c in partition_cols %}parent.{{ c }}, {% endfor %}
            parent.series_key,
            parent.period_ts,
            child.series_key as contributor_key,
            child.deviation_value as contributor_deviation,
            child.deviation_pct as contributor_pct,
            child.is_new_series as contributor_is_new,
            child.direction as contributor_direction,
            row_number() over (
                partition by {% for c in partition_cols %}parent.{{ c }}, {% endfor %}parent.series_key,
                parent.period_ts
                order by abs(child.deviation_value) desc
            ) as contributor_rank
        from incident_nodes as parent
        inner join flagged as child
            on {{ same }} and {{ descendant_of }}
    ),

    contributors as (
        select
            {{ pcols }},
            series_key,
            period_ts,
            count(*) as n_contributors,
            {{ dbt.listagg(
                "case when contributor_is_new then contributor_key || ' (new)'"
                ~ " when contributor_direction = 'missing' then contributor_key || ' (missing)'"
                ~ " else contributor_key || ' (' || coalesce(cast(round(100 * contributor_pct, 0) as "
                ~ dbt.type_string() ~ "), 'n/a') || ' %)' end",
                "', '", "order by contributor_rank") }} as contributors
        from contributors_ranked
        where contributor_rank <= 5
        group by {{ pcols }}, series_key, period_ts
    ),

    final as (
        select
            incident_nodes.*,
            coalesce(contributors.n_contributors, 0) as n_contributors,
            contributors.contributors
        from incident_nodes
        left join contributors
            on {% for c in partition_cols %}incident_nodes.{{ c }} = contributors.{{ c }} and {% endfor -%}
            incident_nodes.series_key = contributors.series_key
            and incident_nodes.period_ts = contributors.period_ts
    )

    select * from final
{%- endmacro %}
