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
