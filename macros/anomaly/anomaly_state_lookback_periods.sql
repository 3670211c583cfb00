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
