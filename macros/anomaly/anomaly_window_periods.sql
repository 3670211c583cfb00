{#- The longest trailing window of a method: the warm-up an evaluation leaves unscored for every detector
    compared (docs/anomaly_detection.md, "Evaluation"). -#}
{% macro anomaly_window_periods(method, options=none) -%}
    {%- if method == 'iqr' -%}
        {{ return(anomaly_option(options, 'iqr_window') | int) }}
    {%- elif method == 'zscore' -%}
        {{ return(anomaly_option(options, 'zscore_window') | int) }}
    {%- elif (anomaly_option(options, 'corroboration_z') or 0) | float > 0
        or (anomaly_option(options, 'novelty_q') or 0) | float > 0 -%}
        {{ return([anomaly_option(options, 'window') | int, anomaly_option(options, 'zscore_window') | int] | max) }}
    {%- else -%}
        {{ return(anomaly_option(options, 'window') | int) }}
    {%- endif -%}
{%- endmacro %}
