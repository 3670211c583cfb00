{#- The settings for a grain other than the daily default (the vars). One place for the evaluation marts and
    `python -m ml detect`. Hourly: a daily cycle (a weekly one, season 168, was measured and lost AIOps), raw
    values (not only counts), no count floors, and stricter thresholds: a day holds 24 judged hours, so a per-hour
    rule as loose as the per-day one raises 24 times the false alarms per day; for the same reason a run of
    flags must start unusual for the last two weeks (novelty_q: beyond 99.7 % of their residuals, about the
    largest but one), so a spike the series makes every few days is not an alarm each time. The daily factor is
    used only where it narrows the residuals (season_test: not every hourly series has a daily cycle), and a
    z-score of the de-seasonalised values beyond 4 corroborates a flag as the plain one does (seasonal_z: the
    plain z-score's sd is mostly the daily cycle on a smooth KPI). A trailing window of two weeks judges once it
    holds two days of values (min_periods), not half its length: a series is judged from its third day, not its
    eighth, and a sparse one (NAB's TravelTime) is judged at all. -#}
{% macro anomaly_grain_options(grain) -%}
    {%- if grain == 'hour' -%}
        {{ return({
            'season_length': 24, 'window': 168, 'level_window': 24, 'season_window': 7,
            'iqr_window': 336, 'zscore_window': 336, 'poisson_floor': false, 'min_abs_change': 0,
            'log_transform': false,
            'k': 4.0, 'corroboration_z': 2.0, 'novelty_q': 0.997, 'season_test': true, 'seasonal_z': 4.0,
            'min_periods': 48,
        }) }}
    {%- elif grain == 'day' -%}
        {{ return({}) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("anomaly grain must be hour or day, got " ~ grain) }}
    {%- endif -%}
{%- endmacro %}
