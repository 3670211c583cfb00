{#- Plain rolling IQR of the raw values: the user's hint, no seasonality, no floors. -#}
{% macro anomaly_iqr_scored(partition, o) -%}
    scored as (
        select
            *,
            value as y,
            {{ anomaly_period_index(partition) }},
            {{ rolling_quantiles('value', [0.25, 0.5, 0.75], partition, 'period_ts', o.iqr_window) }} as quartiles,
            count(value) over (
                partition by {{ partition }} order by period_ts
                rows between {{ o.iqr_window }} preceding and 1 preceding
            ) as n_window,
            {{ o.iqr_k }} as k_eff
        from anomaly_input
    ),

    spread as (
        select
            *,
            {{ array_at('quartiles', 2) }} as center_s,
            {{ array_at('quartiles', 1) }} as q1_s,
            {{ array_at('quartiles', 3) }} as q3_s,
            {{ array_at('quartiles', 3) }} - {{ array_at('quartiles', 1) }} as spread_s,
            n_window >= {{ anomaly_min_periods(o, o.iqr_window) }} as is_judged
        from scored
    ),
{%- endmacro %}
