{#- Every setting the detector reads (the anomaly_* vars, or `options` over them), typed as detect_anomalies uses
    them: the one list, so that the fingerprint below cannot miss a setting the detector reads. -#}
{% macro anomaly_settings(options=none) -%}
    {{ return({
        'method': anomaly_option(options, 'method'),
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
        'min_periods': anomaly_option(options, 'min_periods') | int,
        'min_iqr_log': anomaly_option(options, 'min_iqr_log') | float,
        'poisson_floor': anomaly_option(options, 'poisson_floor'),
        'min_abs_change': anomaly_option(options, 'min_abs_change') | float,
        'holiday_k_factor': anomaly_option(options, 'holiday_k_factor') | float,
        'log_transform': anomaly_option(options, 'log_transform'),
        'corroboration_z': anomaly_option(options, 'corroboration_z') | float,
        'jump_z': anomaly_option(options, 'jump_z') | float,
        'novelty_q': anomaly_option(options, 'novelty_q') | float,
        'season_test': anomaly_option(options, 'season_test'),
        'seasonal_z': anomaly_option(options, 'seasonal_z') | float,
    }) }}
{%- endmacro %}

{#- A short text that changes whenever a setting of anomaly_settings does, or the detector's code: the MD5 of the
    settings as JSON (keys sorted) and of the SQL detect_anomalies renders for them, in both forms the mart runs (a
    full rebuild, and a daily run reading the stored state). The incremental detection mart stores it on every row
    and judges again the days judged under other settings or by another version of the detector, so neither a
    changed var nor an upgrade needs --full-refresh. The SQL is the engine's own (dispatched macros): each engine's
    warehouse has its own fingerprints, and Spark's parity checks leave the column aside. `model_code`: the calling
    model's own code (the mart passes its raw_code), so a new version of the SQL around the detector (its final
    select, what it joins back) also judges the days again. -#}
{% macro anomaly_settings_fingerprint(options=none, model_code='') -%}
    {%- set settings = anomaly_settings(options) -%}
    {%- set rendered = [] -%}
    {%- for state in ([none, 'stored_state'] if settings.method == 'robust_seasonal' and settings.novelty_q == 0
                      else [none]) -%}
        {%- do rendered.append(detect_anomalies(
            'judged_input', series_cols=['series_key'], time_col='series_date', value_col='value',
            holiday_col='is_holiday', options=options, state_relation=state)) -%}
    {%- endfor -%}
    {{ return(local_md5(tojson(settings, sort_keys=true) ~ (rendered | join('\n')) ~ model_code)) }}
{%- endmacro %}
