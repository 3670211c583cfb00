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

{#- A short text that changes whenever a setting of anomaly_settings does (the MD5 of their JSON, keys sorted).
    The incremental detection mart stores it on every row and judges again the days judged under other settings. -#}
{% macro anomaly_settings_fingerprint(options=none) -%}
    {{ return(local_md5(tojson(anomaly_settings(options), sort_keys=true))) }}
{%- endmacro %}
