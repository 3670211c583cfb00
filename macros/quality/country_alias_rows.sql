{#- The rows of the country lookup both feeds validate against: the alias seed (UK -> GB) and every ISO alpha-3
    code (IND -> IN), as exports from other systems write them. Used as a CTE body: alias, alpha2. -#}
{% macro country_alias_rows() %}
    select
        alias,
        alpha2
    from {{ ref('country_aliases') }}
    union all
    select
        alpha3 as alias,
        alpha2
    from {{ ref('iso_3166_countries') }}
{% endmacro %}
