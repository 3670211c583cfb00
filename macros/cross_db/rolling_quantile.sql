{#- Quantile of `expr` over the `preceding` rows before the current one (the current row is excluded, so a
    value never widens its own baseline). Engine-specific: windowed quantiles are spelled differently. -#}
{% macro rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    {{ return(adapter.dispatch('rolling_quantile', 'sentinel')(expr, quantile, partition_by, order_by, preceding)) }}
{%- endmacro %}

{% macro default__rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    percentile_cont({{ quantile }}) within group (order by {{ expr }}) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between {{ preceding }} preceding and 1 preceding
    )
{%- endmacro %}

{#- DuckDB: a median over a short frame is cheaper as the median of the frame's list than as a windowed quantile
    (about 2x on 7-48 rows); both ignore nulls and interpolate the same way, so the values are identical. -#}
{% macro duckdb__rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    {%- set frame -%}
        over (
            partition by {{ partition_by }} order by {{ order_by }}
            rows between {{ preceding }} preceding and 1 preceding
        )
    {%- endset -%}
    {%- if quantile == 0.5 and preceding | int <= 64 -%}
        list_median(list({{ expr }}) {{ frame }})
    {%- else -%}
        quantile_cont({{ expr }}, {{ quantile }}) {{ frame }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__rolling_quantile(expr, quantile, partition_by, order_by, preceding) -%}
    percentile({{ expr }}, {{ quantile }}) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between {{ preceding }} preceding and 1 preceding
    )
{%- endmacro %}


{#- Several quantiles of one frame as an array (1-based: read element i with `array_at`): one window state
    instead of one per quantile. -#}
{% macro rolling_quantiles(expr, quantiles, partition_by, order_by, preceding) -%}
    {{ return(adapter.dispatch('rolling_quantiles', 'sentinel')(expr, quantiles, partition_by, order_by, preceding)) }}
{%- endmacro %}

{% macro default__rolling_quantiles(expr, quantiles, partition_by, order_by, preceding) -%}
    array[
        {%- for q in quantiles %}
        {{ rolling_quantile(expr, q, partition_by, order_by, preceding) }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    ]
{%- endmacro %}

{% macro duckdb__rolling_quantiles(expr, quantiles, partition_by, order_by, preceding) -%}
    quantile_cont({{ expr }}, [{{ quantiles | join(', ') }}]) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between {{ preceding }} preceding and 1 preceding
    )
{%- endmacro %}

{% macro spark__rolling_quantiles(expr, quantiles, partition_by, order_by, preceding) -%}
    percentile({{ expr }}, array({{ quantiles | join(', ') }})) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between {{ preceding }} preceding and 1 preceding
    )
{%- endmacro %}


{#- Element i (1-based) of an array. -#}
{% macro array_at(arr, i) -%}
    {{ return(adapter.dispatch('array_at', 'sentinel')(arr, i)) }}
{%- endmacro %}

{% macro default__array_at(arr, i) -%}{{ arr }}[{{ i }}]{%- endmacro %}

{% macro spark__array_at(arr, i) -%}element_at({{ arr }}, {{ i }}){%- endmacro %}


{#- Median and count of `expr` at the same position of the last `seasons` seasons (`season_length` periods
    apart), before the current row. The input is on a regular spine (one row per period, null when missing), so
    "the last seasons of this season bucket" is the same as "the rows season_length, 2 x season_length, ...
    back". DuckDB reads those rows with lag() on the series' own ordering (no second sort by season bucket);
    other engines use a frame over the season bucket. Emits two columns: `<alias>` and `n_<alias>`. -#}
{% macro seasonal_median(expr, partition_by, order_by, season_bucket, season_length, seasons, alias) -%}
    {{ return(adapter.dispatch('seasonal_median', 'sentinel')(expr, partition_by, order_by, season_bucket,
                                                              season_length, seasons, alias)) }}
{%- endmacro %}

{% macro default__seasonal_median(expr, partition_by, order_by, season_bucket, season_length, seasons, alias) -%}
    {{ rolling_quantile(expr, 0.5, partition_by ~ ', ' ~ season_bucket, order_by, seasons) }} as {{ alias }},
    count({{ expr }}) over (
        partition by {{ partition_by }}, {{ season_bucket }} order by {{ order_by }}
        rows between {{ seasons }} preceding and 1 preceding
    ) as n_{{ alias }}
{%- endmacro %}

{% macro duckdb__seasonal_median(expr, partition_by, order_by, season_bucket, season_length, seasons, alias) -%}
    {%- set lags -%}
        [{%- for i in range(1, seasons + 1) -%}
            lag({{ expr }}, {{ i * season_length }}) over (partition by {{ partition_by }} order by {{ order_by }})
            {%- if not loop.last %}, {% endif -%}
        {%- endfor -%}]
    {%- endset -%}
    list_median({{ lags }}) as {{ alias }},
    list_count({{ lags }}) as n_{{ alias }}
{%- endmacro %}
