{#- Shared tail: bounds, flags, direction, deviation and explanation, in value space. -#}
{% macro anomaly_finalize(partition, carry, method, o) -%}
    {%- set log_space = method == 'robust_seasonal' and o.log_transform -%}
    {%- set min_abs = o.min_abs_change if method == 'robust_seasonal' else 0 -%}
    {%- set window = anomaly_window_periods(method, o) -%}
    {%- set corroborate = method == 'robust_seasonal' and o.corroboration_z > 0 -%}
    {%- set jumps = method == 'robust_seasonal' and o.jump_z > 0 -%}
    {%- set novelty = method == 'robust_seasonal' and o.novelty_q > 0 -%}
    {%- set seasonal_z = corroborate and o.seasonal_z > 0 -%}
    {#- counts cannot go below zero; other measures (temperatures, latencies in log units...) can -#}
    {%- set floor_zero = o.log_transform -%}
    bounded as (
        select
            *,
            {%- if jumps %}
            -- a sudden jump is evidence enough: pass one's band (clean_k) applies, without the z-score
            q1_s - case when jump_down then k_eff * {{ o.clean_k / o.k }} else k_eff end * spread_s as lower_s,
            q3_s + case when jump_up then k_eff * {{ o.clean_k / o.k }} else k_eff end * spread_s as upper_s
            {%- else %}
            q1_s - k_eff * spread_s as lower_s,
            q3_s + k_eff * spread_s as upper_s
            {%- endif %}
        from spread
    ),

    valued as (
        -- the statistics back in value space, once
        select
            *,
            {{ anomaly_inv('center_s', log_space) }} as expected_value,
            {%- set lower = anomaly_inv('lower_s', log_space) %}
            {%- set upper = anomaly_inv('upper_s', log_space) %}
            {%- if corroborate %}
            -- a flag needs both: outside the seasonal band and a plain outlier against the recent values
            {%- set z_low = 'z_mean - ' ~ o.corroboration_z ~ ' * z_sd' %}
            {%- set z_high = 'z_mean + ' ~ o.corroboration_z ~ ' * z_sd' %}
            {%- if seasonal_z %}
            {#- ... or a z-score of the de-seasonalised values (seasonal_z): either piece of evidence will do -#}
            {%- set z_low = 'greatest(' ~ z_low ~ ', '
                ~ anomaly_inv('factor1_y + zs_mean - ' ~ o.seasonal_z ~ ' * zs_sd', log_space) ~ ')' %}
            {%- set z_high = 'least(' ~ z_high ~ ', '
                ~ anomaly_inv('factor1_y + zs_mean + ' ~ o.seasonal_z ~ ' * zs_sd', log_space) ~ ')' %}
            {%- endif %}
            {%- set lower_z = 'least(' ~ lower ~ ', ' ~ z_low ~ ')' %}
            {%- set upper_z = 'greatest(' ~ upper ~ ', ' ~ z_high ~ ')' %}
            {%- if jumps %}
            {%- set lower = 'case when jump_down then ' ~ lower ~ ' else ' ~ lower_z ~ ' end' %}
            {%- set upper = 'case when jump_up then ' ~ upper ~ ' else ' ~ upper_z ~ ' end' %}
            {%- else %}
            {%- set lower, upper = lower_z, upper_z %}
            {%- endif %}
            {%- endif %}
            {{ lower }} as lower_value,
            {{ upper }} as upper_bound
        from bounded
    ),

    judged as (
        select
            *,
            case
                when value is null then 'missing'
                when is_judged and y > upper_s {% if corroborate %}and value > upper_bound {% endif -%}
                    and abs(value - expected_value) >= {{ min_abs }} then 'up'
                when is_judged and y < lower_s {% if corroborate %}and value < lower_value {% endif -%}
                    and abs(value - expected_value) >= {{ min_abs }} then 'down'
            end as {{ 'band_direction' if novelty else 'direction' }},
            {% if floor_zero %}greatest(lower_value, 0){% else %}lower_value{% endif %} as lower_bound
        from valued
    ),
    {%- if novelty %}

    novelty_runs as (
        -- novelty: a run of flags in one direction must start unusual for the recent history, with a pass-one
        -- residual beyond novelty_q of the z-score window's (or with a sudden jump); it then lasts while the
        -- band holds. A move the series made as large within that window (a daily spike) is its normal.
        select
            *,
            case when band_direction in ('up', 'down') then band_direction end as run_direction,
            band_direction in ('up', 'down') and (
                abs(e1) > novelty_threshold
                {%- if jumps %}
                or (band_direction = 'up' and jump_up)
                or (band_direction = 'down' and jump_down)
                {%- endif %}
            ) as is_novel
        from judged
    ),

    novelty_run_ids as (
        select
            *,
            period_index - row_number() over (
                partition by {{ partition }}, run_direction order by period_ts
            ) as run_id
        from novelty_runs
    ),

    novelty_judged as (
        select
            *,
            case
                when band_direction = 'missing' then band_direction
                when run_direction is not null and max(case when is_novel then 1 else 0 end) over (
                    partition by {{ partition }}, run_direction, run_id order by period_ts
                    rows between unbounded preceding and current row
                ) = 1 then run_direction
            end as direction
        from novelty_run_ids
    ),
    {%- endif %}

    final as (
        select
            {{ carry }},
            period_ts,
            period_index,
            '{{ method }}' as detector,
            value,
            expected_value,
            {% if method == 'zscore' -%}
            cast(null as double) as q1,
            cast(null as double) as q3,
            cast(null as double) as iqr,
            {%- else -%}
            {{ anomaly_inv('q1_s', log_space) }} as q1,
            {{ anomaly_inv('q3_s', log_space) }} as q3,
            {{ anomaly_inv('q3_s', log_space) }} - {{ anomaly_inv('q1_s', log_space) }} as iqr,
            {%- endif %}
            cast(k_eff as decimal(4, 2)) as k,  -- one type for every method (the marts' contract)
            lower_bound,
            upper_bound,
            case
                when y > q3_s then (y - q3_s) / nullif(spread_s, 0)
                when y < q1_s then (y - q1_s) / nullif(spread_s, 0)
                else 0
            end as deviation_iqr,
            (y - center_s) / nullif(spread_s, 0) as score,
            (value - expected_value) / nullif(expected_value, 0) as deviation_pct,
            coalesce(value, 0) - expected_value as deviation_value,
            direction,
            direction is not null as is_anomaly,
            is_judged,
            n_window as window_size,
            season_bucket,
            is_holiday,
            case
                when direction = 'missing' then 'no data for this period: a missing row is not a zero'
                when direction is not null then
                    'value ' || cast(round(value, 1) as {{ dbt.type_string() }})
                    || ' is ' || case when direction = 'up' then 'above' else 'below' end
                    || ' the ' || case when direction = 'up' then 'upper' else 'lower' end || ' bound '
                    || cast(round(case when direction = 'up' then upper_bound else lower_bound end, 1) as {{ dbt.type_string() }})
                    || ' (expected ' || cast(round(expected_value, 1) as {{ dbt.type_string() }}) || ', '
                    || cast(round(100 * (value - expected_value) / nullif(expected_value, 0), 1) as {{ dbt.type_string() }})
                    || ' %, k=' || cast(k_eff as {{ dbt.type_string() }})
                    || case when is_holiday then ', holiday' else '' end
                    {%- if method == 'robust_seasonal' and o.season_test %}
                    || case when not uses_season then ', no seasonal cycle' else '' end
                    {%- endif %}
                    {%- if jumps %}
                    || case when (direction = 'up' and jump_up) or (direction = 'down' and jump_down)
                        then ', sudden jump' else '' end
                    {%- endif %} || ')'
                {%- if novelty %}
                when band_direction is not null then
                    'value ' || cast(round(value, 1) as {{ dbt.type_string() }})
                    || ' is ' || case when band_direction = 'up' then 'above the upper' else 'below the lower' end
                    || ' bound, but not unusual for the last {{ o.zscore_window }} periods: a move as large'
                    || ' happened in them (a run of flags starts beyond {{ '%g' | format(o.novelty_q * 100) }} % of them)'
                {%- endif %}
                when not is_judged then 'cold start: not enough history to judge'
            end as explanation,
            {{ window }} as window_periods,
            {%- for c in anomaly_state_columns() %}
            {% if method == 'robust_seasonal' %}{{ c }}{% else %}cast(null as double){% endif %} as state_{{ c }}
            {%- if not loop.last %},{% endif %}
            {%- endfor %}
        from {{ 'novelty_judged' if novelty else 'judged' }}
    )

    select * from final
{%- endmacro %}
