{#- Stable bucket 0..n-1 of a text key (first 32 bits of its MD5), the same on every run and engine version:
    used to keep all rows of one number on one side of a train/test split. -#}
{% macro hash_bucket(expr, n) -%}
    {{ return(adapter.dispatch('hash_bucket', 'sentinel')(expr, n)) }}
{%- endmacro %}

{% macro default__hash_bucket(expr, n) -%}
    {{ exceptions.raise_compiler_error("hash_bucket: no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro duckdb__hash_bucket(expr, n) -%}
    cast(cast(('0x' || substr(md5({{ expr }}), 1, 8)) as bigint) % {{ n }} as integer)
{%- endmacro %}

{% macro spark__hash_bucket(expr, n) -%}
    cast(pmod(cast(conv(substr(md5({{ expr }}), 1, 8), 16, 10) as bigint), {{ n }}) as int)
{%- endmacro %}
