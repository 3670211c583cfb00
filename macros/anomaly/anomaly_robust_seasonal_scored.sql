{#- The default detector. See docs/anomaly_detection.md for the reasoning behind each step. -#}
{% macro anomaly_robust_seasonal_scored(partition, o) -%}
    {%- set wl -%}
        over (partition by {{ partition }} order by period_ts
              rows between {{ o.level_window }} preceding and 1 preceding)
    {%- endset -%}
    {%- set ww -%}
        over (partition by {{ partition }} order by period_ts
              rows between {{ o.window }} preceding and 1 preceding)
    {%- endset -%}
    {%- set wz -%}
        over (partition by {{ partition }} order by period_ts
              rows between {{ o.zscore_window }} preceding and 1 preceding)
    {%- endset -%}
    logged as (
        -- log space: multiplicative moves and steady growth become additive and symmetric.
        -- Holidays are expected behaviour: judged (with a wider k) but kept out of every baseline.
        select
            *,
            {%- if o.log_transform %}
            case when value >= 0 then ln(value + 1) end as y,
            case when value >= 0 and not is_holiday then ln(value + 1) end as y_base
            {%- else %}
            value as y,
            case when not is_holiday then value end as y_base
            {%- endif %}
        from anomaly_input
    ),

    leveled as (
        -- a rough level: median of the last season of raw values (robust to 1-3 odd periods).
        select
            *,
            {{ anomaly_stored(o, 'level0_y', rolling_quantile('y_base', 0.5, partition, 'period_ts', o.level_window)) }}
                as level0_y
            {%- if o.jump_z > 0 %},
            -- the change from the previous period (a sudden jump is evidence of its own)
            y - lag(y) over (partition by {{ partition }} order by period_ts) as jump
            {%- endif %}
        from logged
    ),

    factor_pass1 as (
        -- seasonal factor: median of the same bucket's offsets from the level over the last seasons.
        select
            *,
            {{ seasonal_median('y_base - level0_y', partition, 'period_ts', 'season_bucket', o.season_length,
                               o.season_window, 'factor1_calc' if o.state else 'factor1_y') }}
        from leveled
    ),
    {%- if o.state %}

    factor_pass1_stored as (
        select *, {{ anomaly_stored(o, 'factor1_y', 'factor1_calc') }} as factor1_y from factor_pass1
    ),
    {%- endif %}

    level_pass1 as (
        -- level of the de-seasonalised values, so losing a day from the window does not bias it.
        select
            *,
            {{ anomaly_stored(o, 'level1_y',
                rolling_quantile('y_base - factor1_y', 0.5, partition, 'period_ts', o.level_window)) }} as level1_y
        from {{ 'factor_pass1_stored' if o.state else 'factor_pass1' }}
    ),

    quart_pass1 as (
        select
            *,
            y - (level1_y + factor1_y) as e1,
            {{ rolling_quantiles('y_base - (level1_y + factor1_y)', [0.25, 0.75], partition, 'period_ts', o.window) }}
                as quartiles_1
            {%- if o.novelty_q > 0 %},
            -- novelty: how far pass one's residuals went over the z-score window (the recent history)
            {{ rolling_quantile('abs(y_base - (level1_y + factor1_y))', o.novelty_q, partition, 'period_ts',
                                o.zscore_window) }} as novelty_threshold
            {%- endif %}
        from level_pass1
    ),

    {%- set q1_1 = array_at('quartiles_1', 1) %}
    {%- set q3_1 = array_at('quartiles_1', 2) %}
    {%- set floor_1 = anomaly_min_spread(o, 'level1_y + factor1_y') %}
    flag_pass1 as (
        -- first pass: which periods are clearly abnormal, so that they leave the baseline in pass two.
        select
            *,
            {%- set y_clean -%}
            case
                when e1 < {{ q1_1 }} - {{ o.clean_k }} * greatest({{ q3_1 }} - {{ q1_1 }}, {{ floor_1 }})
                    or e1 > {{ q3_1 }} + {{ o.clean_k }} * greatest({{ q3_1 }} - {{ q1_1 }}, {{ floor_1 }})
                    then null
                else y_base
            end
            {%- endset %}
            {{ anomaly_stored(o, 'y_clean', y_clean) }} as y_clean
        from quart_pass1
    ),

    factor_pass2 as (
        select
            *,
            {{ seasonal_median('y_clean - level0_y', partition, 'period_ts', 'season_bucket', o.season_length,
                               o.season_window, 'factor_calc' if o.state else 'factor_y') }}
        from flag_pass1
    ),
    {%- if o.state %}

    factor_pass2_stored as (
        select *, {{ anomaly_stored(o, 'factor_y', 'factor_calc') }} as factor_y, n_factor_calc as n_factor_y
        from factor_pass2
    ),
    {%- endif %}

    level_pass2 as (
        -- a persistent shift is flagged in pass one until the rough level catches up (about half a
        -- season), then it enters the clean level: detected once, then re-learnt.
        select
            *,
            {%- set level_y -%}
            coalesce(
                case when count(y_clean - factor_y) {{ wl }} >= {{ (o.level_window + 1) // 2 }} then
                    {{ rolling_quantile('y_clean - factor_y', 0.5, partition, 'period_ts', o.level_window) }}
                end,
                -- after a holiday week or a long incident: look back twice as far for clean periods
                {{ rolling_quantile('y_clean - factor_y', 0.5, partition, 'period_ts', 2 * o.level_window) }}
            )
            {%- endset %}
            {{ anomaly_stored(o, 'level_y', level_y) }} as level_y,
            count(y_clean - factor_y) over (
                partition by {{ partition }} order by period_ts
                rows between {{ 2 * o.level_window }} preceding and 1 preceding
            ) as n_level
        from {{ 'factor_pass2_stored' if o.state else 'factor_pass2' }}
    ),

    resid_pass2 as (
        select
            *,
            level_y + factor_y as {{ 'center_seasonal' if o.season_test else 'center_s' }},
            y_clean - (level_y + factor_y) as e_clean
        from level_pass2
    ),

    scored as (
        select
            *,
            {{ rolling_quantiles('e_clean', [0.25, 0.75], partition, 'period_ts', o.window) }}
                as {{ 'quartiles_seasonal' if o.season_test else 'quartiles_e' }},
            {%- if o.season_test %}
            -- the same residuals without the seasonal factor
            {{ rolling_quantiles('y_clean - level_y', [0.25, 0.75], partition, 'period_ts', o.window) }}
                as quartiles_flat,
            {%- endif %}
            count(e_clean) {{ ww }} as n_window,
            {{ anomaly_period_index(partition) }}
            {%- if o.jump_z > 0 %},
            -- the window's usual changes: their quartiles and the size only 1 % of them exceed
            {{ rolling_quantiles('jump', [0.25, 0.75], partition, 'period_ts', o.window) }} as jump_quartiles,
            {{ rolling_quantile('abs(jump)', 0.99, partition, 'period_ts', o.window) }} as jump_q99
            {%- endif %}
            {%- if o.corroboration_z > 0 %},
            -- corroboration: the raw values' plain mean and sd over the z-score window
            avg(value) {{ wz }} as z_mean,
            stddev_samp(value) {{ wz }} as z_sd,
            count(value) {{ wz }} as n_z
            {%- if o.seasonal_z > 0 %},
            -- corroboration for a KPI whose cycle dominates its variance: the de-seasonalised values' mean and sd
            -- over the z-score window
            avg(y_base - factor1_y) {{ wz }} as zs_mean,
            stddev_samp(y_base - factor1_y) {{ wz }} as zs_sd
            {%- endif %}
            {%- endif %}
        from resid_pass2
    ),
    {%- if o.season_test %}

    season_strength as (
        -- seasonal strength: the seasonal factor is used only where it narrows the residuals' spread over the
        -- window; a series without that cycle is judged against its level alone
        select
            *,
            coalesce(
                {{ array_at('quartiles_seasonal', 2) }} - {{ array_at('quartiles_seasonal', 1) }}
                < {{ array_at('quartiles_flat', 2) }} - {{ array_at('quartiles_flat', 1) }},
                true
            ) as uses_season
        from scored
    ),

    season_tested as (
        select
            *,
            case when uses_season then center_seasonal else level_y end as center_s,
            case when uses_season then quartiles_seasonal else quartiles_flat end as quartiles_e
        from season_strength
    ),
    {%- endif %}

    spread as (
        select
            *,
            center_s + {{ array_at('quartiles_e', 1) }} as q1_s,
            center_s + {{ array_at('quartiles_e', 2) }} as q3_s,
            greatest(
                {{ array_at('quartiles_e', 2) }} - {{ array_at('quartiles_e', 1) }},
                {{ anomaly_min_spread(o, 'center_s') }}
                {%- if o.poisson_floor and o.log_transform %},
                -- Poisson: sd of ln(X + 1) is about 1 / sqrt(lambda); an IQR is 1.349 sd.
                1.349 / sqrt(greatest(exp(center_s) - 1, 1.0))
                {%- endif %}
            ) as spread_s,
            {{ o.k }} * case when is_holiday then {{ o.holiday_k_factor }} else 1.0 end as k_eff,
            {%- if o.jump_z > 0 %}
            {%- set jump_big -%}
                abs(jump) > {{ o.jump_z }} * greatest(
                    ({{ array_at('jump_quartiles', 2) }} - {{ array_at('jump_quartiles', 1) }}) / 1.349,
                    {{ anomaly_min_spread(o, 'center_s') }}
                )
                and abs(jump) > jump_q99
            {%- endset %}
            coalesce(jump > 0 and {{ jump_big }}, false) as jump_up,
            coalesce(jump < 0 and {{ jump_big }}, false) as jump_down,
            {%- endif %}
            coalesce(
                -- cold start: at least min_seasons full seasons of history, a level, a seasonal factor and
                -- a few clean residuals for the quartiles
                period_index > {{ o.min_seasons * o.season_length }}
                and n_level >= {{ (o.level_window + 1) // 2 }}
                and n_factor_y >= 1
                and n_window >= {{ [o.season_length, o.window // 2] | min }}
                {%- if o.corroboration_z > 0 %}
                and n_z >= {{ anomaly_min_periods(o, o.zscore_window) }}
                {%- endif %},
                false
            ) as is_judged
        from {{ 'season_tested' if o.season_test else 'scored' }}
    ),

{%- endmacro %}
