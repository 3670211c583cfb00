{#-
    The anomaly detector macro family. One entry point, three methods, one output shape:

        {{ detect_anomalies(relation, series_cols=['series_key'], time_col='period_ts',
                            value_col='request_count', method='robust_seasonal',
                            passthrough_cols=['level'], options={...}) }}

    `relation` is any relation (or CTE name) with a regular grain: one row per series and period (build it on a
    date spine so a missing period is a row with a null value, not an absent row: the seasonal factors read the
    rows one, two... seasons back). `series_cols` identify a series and are every window's partition: pass the
    fewest that do (one key is fastest) and carry the others in `passthrough_cols` (robust_seasonal sorts what it
    carries seven times: for it, joining wide columns back afterwards is faster). Options default to the
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
                      With novelty_q (hour grain), a run of flags must also start unusual for the recent
                      history: a residual beyond that quantile of the z-score window's residuals, or a jump.
                      With season_test, the seasonal factor is used only where it narrows the residuals' spread;
                      with seasonal_z, a z-score of the de-seasonalised values also corroborates a flag.
    Every method shares the output columns and the rule that a missing period of a live series is an alert.
-#}

{% macro detect_anomalies(relation, series_cols, time_col, value_col, method=none, holiday_col=none,
                          passthrough_cols=[], options=none, state_relation=none) -%}
    {%- set method = method or anomaly_option(options, 'method') -%}
    {%- set o = anomaly_settings(options) -%}
    {%- do o.update({'method': method, 'state': state_relation is not none and method == 'robust_seasonal'}) -%}
    {%- if method not in ['iqr', 'zscore', 'robust_seasonal'] -%}
        {{ exceptions.raise_compiler_error("anomaly method must be iqr, zscore or robust_seasonal, got " ~ method) }}
    {%- endif -%}
    {%- if o.state and o.novelty_q > 0 -%}
        {{ exceptions.raise_compiler_error(
            "anomaly novelty_q needs a full rebuild: a run of flags may start before the stored state's lookback") }}
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
            {% if holiday_col %}coalesce(anomaly_source.{{ holiday_col }}, false){% else %}false{% endif %}
                as is_holiday,
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

    {{ anomaly_finalize(partition, carry, method, o) }}
{%- endmacro %}
