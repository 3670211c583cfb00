{#-
    Hierarchy explanation over the country x OS lattice (levels country_os, country, os, total).

    Input: the output of detect_anomalies over all four levels (columns detector, level, country, os,
    series_key, period_ts, value, expected_value, deviation_value, deviation_pct, direction,
    is_anomaly, explanation, calendar_label).
    Output: one row per period and *incident node*: the highest flagged node that explains the move.

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

    with flagged as (
        select * from {{ relation }}
        where is_anomaly
    ),

    edges as (
        -- every node with its parent(s) in the lattice
        select *, country || '/*' as parent_key from {{ relation }} where level = 'country_os'
        union all
        select *, '*/' || os as parent_key from {{ relation }} where level = 'country_os'
        union all
        select *, '*/*' as parent_key from {{ relation }} where level in ('country', 'os')
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
            and child.is_anomaly
            -- the child carries most of its parent's move ...
            and child.deviation_value / nullif(parent.deviation_value, 0) >= {{ share }}
            -- ... and its siblings together moved (relatively) much less than the child did
            and (
                sib.sum_expected - child.expected_value <= 0
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
    ),

    contributors_ranked as (
        select
            {% for c in partition_cols %}parent.{{ c }}, {% endfor %}
            parent.series_key,
            parent.period_ts,
            child.series_key as contributor_key,
            child.deviation_value as contributor_deviation,
            child.deviation_pct as contributor_pct,
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
                "contributor_key || ' (' || coalesce(cast(round(100 * contributor_pct, 0) as " ~ dbt.type_string()
                ~ "), 'n/a') || ' %)'",
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
