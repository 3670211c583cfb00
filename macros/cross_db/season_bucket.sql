{#- Seasonality bucket of a timestamp: ISO weekday 1..7 for a weekly season of daily data (length 7),
    hour of day 0..23 for a daily season of hourly data (length 24), 168 = hour of week; 1 = no seasonality
    (one bucket: weekly data such as the weekly file volumes). -#}
{% macro season_bucket(ts, season_length) -%}
    {{ return(adapter.dispatch('season_bucket', 'sentinel')(ts, season_length)) }}
{%- endmacro %}

{% macro default__season_bucket(ts, season_length) -%}
    {%- if season_length | int == 1 -%} 0
    {%- elif season_length | int == 7 -%} extract(isodow from {{ ts }})
    {%- elif season_length | int == 24 -%} extract(hour from {{ ts }})
    {%- elif season_length | int == 168 -%} (extract(isodow from {{ ts }}) - 1) * 24 + extract(hour from {{ ts }})
    {%- else -%} {{ exceptions.raise_compiler_error("season_length must be 1, 7, 24 or 168, got " ~ season_length) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__season_bucket(ts, season_length) -%}
    {#- bigint, as DuckDB's extract gives (the marts' contract) -#}
    cast(
    {%- if season_length | int == 1 -%} 0
    {%- elif season_length | int == 7 -%} weekday({{ ts }}) + 1
    {%- elif season_length | int == 24 -%} hour({{ ts }})
    {%- else -%} weekday({{ ts }}) * 24 + hour({{ ts }})
    {%- endif %} as bigint)
{%- endmacro %}
