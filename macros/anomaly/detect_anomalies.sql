{#-
    The anomaly detector macro family. One entry point, three methods, one output shape:

        {{ detect_anomalies(relation, series_cols=['series_key'], time_col='period_ts',
                            value_col='request_count', method='robust_seasonal',
                            passthrough_cols=['level'], options={...}) }}

    `relation` is any relation (or CTE name) with a regular grain: one row per series and period (build it on a
    date spine so a missing period is a row with a null value, not an absent row: the seasonal factors read the
    rows one, two... seasons back). `series_cols` identify a series and are every window's partition: pass the
    fewest that do (one key is fastest) and carry the others in `passthrough_cols`. Options default to the
    `anomaly_*` dbt vars (see dbt_project.yml); pass `options` to override per call (e.g. hourly data).

    Methods (all trailing windows exclude the period under test):
    * iqr             the user's hint: [Q1 - k*IQR, Q3 + k*IQR] of the raw values over the last N periods.
    * zscore          Elementary-like: mean +- threshold * sd over the last N periods.
    * robust_seasonal the default (docs/anomaly_detection.md): log space; level = median of the last season;
                      seasonal factor = median same-bucket residual over the last seasons; IQR of the
                      residuals over the window; two passes so flagged periods leave the baseline; Poisson and
                      relative floors on the spread, a minimum absolute change; wider k on holidays; cold start;
                      a flag is corroborated by a plain z-score (|z| > corroboration_z over the z-score window)
                      or by a sudden jump: a change from the previous period above jump_z robust sd of the
                      window's changes and above 99 % of them; a jump needs only pass one's band (clean_k).
    Every method shares the output columns and the rule that a missing period of a live series is an alert.
-#}

{% macro anomaly_option(options, key) -%}
    {%- if options is not none and key in options -%}{{ return(options[key]) }}
    {%- else -%}{{ return(var('anomaly_' ~ key)) }}{%- endif -%}
{%- endmacro %}

{#- The per-row state of robust_seasonal that later rows' windows read. The mart stores it (`state_<name>`), so a
    daily run takes it from the stored rows instead of recomputing the whole chain of windows. -#}
{% macro anomaly_state_columns() -%}
    {{ return(['level0_y', 'factor1_y', 'level1_y', 'y_clean', 'factor_y', 'level_y']) }}
{%- endmacro %}

{#- `expr` for a new row, the stored value for a history row (a stored null is a value: a flagged period's
    y_clean is null on purpose). -#}
{% macro anomaly_stored(o, name, expr) -%}
    {%- if o.state -%}case when is_stored then state_{{ name }} else {{ expr }} end
    {%- else -%}{{ expr }}{%- endif -%}
{%- endmacro %}

{#- How much history an incremental run with the stored state needs: the longest single window (the seasonal
    lags reach season_window seasons back; a jump reads one period before its window). -#}
{% macro anomaly_state_lookback_periods(options=none) -%}
    {{ return([
        (anomaly_option(options, 'season_window') | int) * (anomaly_option(options, 'season_length') | int),
        (anomaly_option(options, 'window') | int) + 1,
        2 * (anomaly_option(options, 'level_window') | int),
        anomaly_option(options, 'zscore_window') | int,
    ] | max) }}
{%- endmacro %}

{#- How many periods back the verdict on the newest period can depend on: the longest chain of trailing
    windows of the method (robust_seasonal: quartiles <- clean level <- clean seasonal factor <- pass-one flags
    <- pass-one quartiles <- pass-one level <- pass-one factor <- rough level). An incremental run that reads this
    much history gives exactly the rows of a full rebuild. -#}
{% macro anomaly_lookback_periods(options=none) -%}
    {%- set method = anomaly_option(options, 'method') -%}
    {%- if method in ['iqr', 'zscore'] -%}
        {{ return(anomaly_window_periods(method, options)) }}
    {%- endif -%}
    {%- set level = anomaly_option(options, 'level_window') | int -%}
    {%- set season = (anomaly_option(options, 'season_window') | int) * (anomaly_option(options, 'season_length') | int) -%}
    {#- pass-two quartiles (window) <- clean level (2 x level, its fallback) <- clean factor (season) <-
        pass-one flags: quartiles (window) <- level (level) <- factor (season) <- rough level (level) -#}
    {%- set chain = 2 * (anomaly_option(options, 'window') | int) + 2 * season + 4 * level -%}
    {#- the corroborating z-score reads the raw values of its own window only -#}
    {{ return([chain, anomaly_window_periods(method, options)] | max) }}
{%- endmacro %}

{#- The settings for a grain other than the daily default (the vars). One place for the evaluation marts and
    `python -m ml detect`. Hourly: a daily cycle (a weekly one, season 168, was measured and lost AIOps), raw
    values (not only counts), no count floors, and stricter thresholds: a day holds 24 judged hours, so a per-hour
    rule as loose as the per-day one raises 24 times the false alarms per day. -#}
{% macro anomaly_grain_options(grain) -%}
    {%- if grain == 'hour' -%}
        {{ return({
            'season_length': 24, 'window': 168, 'level_window': 24, 'season_window': 7,
            'iqr_window': 336, 'zscore_window': 336, 'poisson_floor': false, 'min_abs_change': 0,
            'log_transform': false,
            'k': 4.0, 'corroboration_z': 2.0,
        }) }}
    {%- elif grain == 'day' -%}
        {{ return({}) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("anomaly grain must be hour or day, got " ~ grain) }}
    {%- endif -%}
{%- endmacro %}

{#- The methods the evaluation compares, side by side with the baselines `always` and `never`. -#}
{% macro anomaly_evaluated_methods() -%}
    {{ return(['iqr', 'zscore', 'robust_seasonal']) }}
{%- endmacro %}

{#- The longest trailing window of a method: the warm-up an evaluation leaves unscored for every detector
    compared (docs/anomaly_detection.md, "Evaluation"). -#}
{% macro anomaly_window_periods(method, options=none) -%}
    {%- if method == 'iqr' -%}
        {{ return(anomaly_option(options, 'iqr_window') | int) }}
    {%- elif method == 'zscore' -%}
        {{ return(anomaly_option(options, 'zscore_window') | int) }}
    {%- elif (anomaly_option(options, 'corroboration_z') or 0) | float > 0 -%}
        {{ return([anomaly_option(options, 'window') | int, anomaly_option(options, 'zscore_window') | int] | max) }}
    {%- else -%}
        {{ return(anomaly_option(options, 'window') | int) }}
    {%- endif -%}
{%- endmacro %}

{% macro detect_anomalies(relation, series_cols, time_col, value_col, method=none, holiday_col=none,
                          passthrough_cols=[], options=none, state_relation=none) -%}
    {%- set method = method or anomaly_option(options, 'method') -%}
    {%- set o = {
        'season_length': anomaly_option(options, 'season_length') | int,
        'window': anomaly_option(options, 'window') | int,
        'level_window': anomaly_option(options, 'level_window') | int,
        'season_window': anomaly_option(options, 'season_window') | int,
        'min_seasons': anomaly_option(options, 'min_seasons') | int,
        'k': anomaly_option(options, 'k') | float,
        'clean_k': anomaly_option(options, 'clean_k') | float,
        'iqr_k': anomaly_option(options, 'iqr_k') | float,
        'iqr_window': anomaly_option(options, 'iqr_window') | int,
        'zscore_window': anomaly_option(options, 'zscore_window') | int,
        'zscore_threshold': anomaly_option(options, 'zscore_threshold') | float,
        'min_iqr_log': anomaly_option(options, 'min_iqr_log') | float,
        'poisson_floor': anomaly_option(options, 'poisson_floor'),
        'min_abs_change': anomaly_option(options, 'min_abs_change') | float,
        'holiday_k_factor': anomaly_option(options, 'holiday_k_factor') | float,
        'log_transform': anomaly_option(options, 'log_transform'),
        'corroboration_z': anomaly_option(options, 'corroboration_z') | float,
        'jump_z': anomaly_option(options, 'jump_z') | float,
        'state': state_relation is not none and method == 'robust_seasonal',
    } -%}
    {%- if method not in ['iqr', 'zscore', 'robust_seasonal'] -%}
        {{ exceptions.raise_compiler_error("anomaly method must be iqr, zscore or robust_seasonal, got " ~ method) }}
    {%- endif -%}
    {%- set partition = series_cols | join(', ') -%}
    {%- set carry = (series_cols + passthrough_cols) | join(', ') -%}
    {%- set holiday = ('coalesce(' ~ holiday_col ~ ', false)') if holiday_col else 'false' -%}

    with anomaly_input as (
        {%- if o.state %}
        -- the stored state of the history rows (anomaly_state_columns): an incremental run reads it instead of
        -- recomputing the chain of windows, so it needs only the longest single window of history
        select
            {%- for c in series_cols + passthrough_cols %}
            anomaly_source.{{ c }},
            {%- endfor %}
            anomaly_source.{{ time_col }} as period_ts,
            cast(anomaly_source.{{ value_col }} as double) as value,
            {{ season_bucket('anomaly_source.' ~ time_col, o.season_length) }} as season_bucket,
            {{ holiday | replace(holiday_col or '#', 'anomaly_source.' ~ holiday_col) }} as is_holiday,
            {%- for c in anomaly_state_columns() %}
            anomaly_state.state_{{ c }},
            {%- endfor %}
            anomaly_state.period_ts is not null as is_stored
        from {{ relation }} as anomaly_source
        left join {{ state_relation }} as anomaly_state
            on
                {% for c in series_cols %}anomaly_source.{{ c }} = anomaly_state.{{ c }} and {% endfor -%}
                anomaly_source.{{ time_col }} = anomaly_state.period_ts
        {%- else %}
        select
            {{ carry }},
            {{ time_col }} as period_ts,
            cast({{ value_col }} as double) as value,
            {{ season_bucket(time_col, o.season_length) }} as season_bucket,
            {{ holiday }} as is_holiday
        from {{ relation }}
        {%- endif %}
    ),

    {% if method == 'iqr' %}
        {{ anomaly_iqr_scored(partition, o) }}
    {% elif method == 'zscore' %}
        {{ anomaly_zscore_scored(partition, o) }}
    {% else %}
        {{ anomaly_robust_seasonal_scored(partition, o) }}
    {% endif %}

    {{ anomaly_finalize(carry, method, o) }}
{%- endmacro %}


{#- The period's position in its series: computed in each method's first window step, which sorts the same way
    (one sort fewer than a step of its own). -#}
{% macro anomaly_period_index(partition) -%}
    row_number() over (partition by {{ partition }} order by period_ts) as period_index
{%- endmacro %}


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
            n_window >= {{ [o.iqr_window // 2, 2] | max }} as is_judged
        from scored
    ),
{%- endmacro %}


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
            n_window >= {{ [o.zscore_window // 2, 2] | max }} as is_judged
        from scored
    ),
{%- endmacro %}


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
            {{ anomaly_period_index(partition) }},
            {{ anomaly_stored(o, 'level0_y', rolling_quantile('y_base', 0.5, partition, 'period_ts', o.level_window)) }}
                as level0_y
            {%- if o.jump_z > 0 %},
            -- the change from the previous period (a sudden jump is evidence of its own)
            y - lag(y) over (partition by {{ partition }} order by period_ts) as jump
            {%- endif %}
            {%- if o.corroboration_z > 0 %},
            -- corroboration: the raw values' plain mean and sd over the z-score window
            avg(value) {{ wz }} as z_mean,
            stddev_samp(value) {{ wz }} as z_sd,
            count(value) {{ wz }} as n_z
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
            {%- if o.jump_z > 0 %},
            -- the window's usual changes: their quartiles and the size only 1 % of them exceed
            {{ rolling_quantiles('jump', [0.25, 0.75], partition, 'period_ts', o.window) }} as jump_quartiles,
            {{ rolling_quantile('abs(jump)', 0.99, partition, 'period_ts', o.window) }} as jump_q99
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
            level_y + factor_y as center_s,
            y_clean - (level_y + factor_y) as e_clean
        from level_pass2
    ),

    scored as (
        select
            *,
            {{ rolling_quantiles('e_clean', [0.25, 0.75], partition, 'period_ts', o.window) }} as quartiles_e,
            count(e_clean) {{ ww }} as n_window
        from resid_pass2
    ),

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
                and n_z >= {{ [o.zscore_window // 2, 2] | max }}
                {%- endif %},
                false
            ) as is_judged
        from scored
    ),

{%- endmacro %}


{#- The floor on the residual spread: min_iqr_log in log space is a relative spread (2 % by default); on raw
    values the same relative floor, so it does not depend on the unit of the measure. -#}
{% macro anomaly_min_spread(o, center) -%}
    {%- if o.log_transform -%}{{ o.min_iqr_log }}
    {%- else -%}{{ o.min_iqr_log }} * abs({{ center }}){%- endif -%}
{%- endmacro %}


{#- Back from the detector's space to value space (log1p for robust_seasonal). -#}
{% macro anomaly_inv(x, log_space) -%}
    {%- if log_space %}(exp({{ x }}) - 1){% else %}({{ x }}){% endif -%}
{%- endmacro %}


{#- Shared tail: bounds, flags, direction, deviation and explanation, in value space. -#}
{% macro anomaly_finalize(carry, method, o) -%}
    {%- set log_space = method == 'robust_seasonal' and o.log_transform -%}
    {%- set min_abs = o.min_abs_change if method == 'robust_seasonal' else 0 -%}
    {%- set window = anomaly_window_periods(method, o) -%}
    {%- set corroborate = method == 'robust_seasonal' and o.corroboration_z > 0 -%}
    {%- set jumps = method == 'robust_seasonal' and o.jump_z > 0 -%}
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
            {%- set lower_z = 'least(' ~ lower ~ ', z_mean - ' ~ o.corroboration_z ~ ' * z_sd)' %}
            {%- set upper_z = 'greatest(' ~ upper ~ ', z_mean + ' ~ o.corroboration_z ~ ' * z_sd)' %}
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
            end as direction,
            {% if floor_zero %}greatest(lower_value, 0){% else %}lower_value{% endif %} as lower_bound
        from valued
    ),

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
                    'value ' || cast(round(value, 1) as varchar)
                    || ' is ' || case when direction = 'up' then 'above' else 'below' end
                    || ' the ' || case when direction = 'up' then 'upper' else 'lower' end || ' bound '
                    || cast(round(case when direction = 'up' then upper_bound else lower_bound end, 1) as varchar)
                    || ' (expected ' || cast(round(expected_value, 1) as varchar) || ', '
                    || cast(round(100 * (value - expected_value) / nullif(expected_value, 0), 1) as varchar)
                    || ' %, k=' || cast(k_eff as varchar)
                    || case when is_holiday then ', holiday' else '' end
                    {%- if jumps %}
                    || case when (direction = 'up' and jump_up) or (direction = 'down' and jump_down)
                        then ', sudden jump' else '' end
                    {%- endif %} || ')'
                when not is_judged then 'cold start: not enough history to judge'
            end as explanation,
            {{ window }} as window_periods,
            {%- for c in anomaly_state_columns() %}
            {% if method == 'robust_seasonal' %}{{ c }}{% else %}cast(null as double){% endif %} as state_{{ c }}
            {%- if not loop.last %},{% endif %}
            {%- endfor %}
        from judged
    )

    select * from final
{%- endmacro %}
