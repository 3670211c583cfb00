{#- An aggregate: a 64-bit checksum of a group of rows, whatever their order (the XOR of a hash of each row's
    `exprs`). Two groups of distinct rows with the same checksum are the same rows but for a chance of 2^-64; used
    to find the days whose input changed since they were judged without joining the whole history row by row
    (0.06 s against 0.5 to 1.1 s on 7.3M rows). Rows must be distinct within a group: two equal rows cancel out. -#}
{% macro row_checksum(exprs) -%}
    {{ return(adapter.dispatch('row_checksum', 'sentinel')(exprs)) }}
{%- endmacro %}

{% macro default__row_checksum(exprs) -%}
    bit_xor(hash({{ exprs | join(', ') }}))
{%- endmacro %}

{% macro spark__row_checksum(exprs) -%}
    bit_xor(xxhash64({{ exprs | join(', ') }}))
{%- endmacro %}
