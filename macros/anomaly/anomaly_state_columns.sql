{#- The per-row state of robust_seasonal that later rows' windows read. The mart stores it (`state_<name>`), so a
    daily run takes it from the stored rows instead of recomputing the whole chain of windows. -#}
{% macro anomaly_state_columns() -%}
    {{ return(['level0_y', 'factor1_y', 'level1_y', 'y_clean', 'factor_y', 'level_y']) }}
{%- endmacro %}
