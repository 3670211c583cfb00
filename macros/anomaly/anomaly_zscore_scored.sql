{#- Elementary-like z-score: mean +- threshold * sd over the trailing window. -#}
{% macro anomaly_zscore_scored(partition, o) -%}
    {%- set w -%}
        over (partition by {{ partition }} order by period_ts
              rows between {{ o.zscore_window }} preceding and 1 preceding)
    {%- endset -%}
    scored as (
        select
            *,
            value as y,
            {{ anomaly_period_index(partition) }},
            avg(value) {{ w }} as center_s,
            stddev_samp(value) {{ w }} as sd_s,
            count(value) {{ w }} as n_window,
            {{ o.zscore_threshold }} as k_eff
        from anomaly_input
    ),

    spread as (
        select
            *,
            center_s as q1_s,
            center_s as q3_s,
            sd_s as spread_s,
            n_window >= {{ anomaly_min_periods(o, o.zscore_window) }} as is_judged
        from scored
    ),
{%- endmacro %}
