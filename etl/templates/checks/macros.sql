{#- The checks a checks.sql can call, as bigquery-etl names them (its tests/checks). Each renders one
    SELECT that raises ERROR() with what it found when the check fails, and returns NULL when it
    passes. `table` is the checked table (dataset.table); `where` is injected as a condition. -#}

{% macro _where(where) %}{% if where %}{{ "\n" }}WHERE{{ "\n" }}  {{ where }}{% endif %}{% endmacro %}


{% macro not_null(columns, where=none) -%}
{% set columns = [columns] if columns is string else columns -%}
SELECT
  IF(
    {% for column in columns %}COUNTIF({{ column }} IS NULL){% if not loop.last %} + {% endif %}{% endfor %} > 0,
    ERROR(CONCAT('NULL values in ', ARRAY_TO_STRING([{% for column in columns %}IF(COUNTIF({{ column }} IS NULL) > 0, '{{ column }}', NULL){% if not loop.last %}, {% endif %}{% endfor %}], ', '))),
    NULL
  )
FROM
  `{{ table }}`{{ _where(where) }}
{%- endmacro %}

{% macro is_unique(columns, where=none) -%}
{% set columns = [columns] if columns is string else columns -%}
WITH repeated AS (
  SELECT
    {{ columns | join(", ") }}
  FROM
    `{{ table }}`{{ _where(where) }}
  GROUP BY
    {{ columns | join(", ") }}
  HAVING
    COUNT(*) > 1
)
SELECT
  IF(
    (SELECT COUNT(*) FROM repeated) > 0,
    ERROR(CONCAT(CAST((SELECT COUNT(*) FROM repeated) AS STRING), ' value(s) of ({{ columns | join(", ") }}) are not unique')),
    NULL
  )
{%- endmacro %}

{% macro min_row_count(threshold=1, where=none) -%}
SELECT
  IF(
    COUNT(*) < {{ threshold }},
    ERROR(CONCAT(CAST(COUNT(*) AS STRING), ' row(s), fewer than {{ threshold }}')),
    NULL
  )
FROM
  `{{ table }}`{{ _where(where) }}
{%- endmacro %}

{% macro in_range(columns, min=none, max=none, where=none) -%}
{% set columns = [columns] if columns is string else columns -%}
SELECT
  IF(
    {% for column in columns %}COUNTIF({% if min is not none %}{{ column }} < {{ min }}{% endif %}{% if min is not none and max is not none %} OR {% endif %}{% if max is not none %}{{ column }} > {{ max }}{% endif %}){% if not loop.last %} + {% endif %}{% endfor %} > 0,
    ERROR('values of {{ columns | join(", ") }} outside [{{ "" if min is none else min }}, {{ "" if max is none else max }}]'),
    NULL
  )
FROM
  `{{ table }}`{{ _where(where) }}
{%- endmacro %}

{% macro accepted_values(column, values, where=none) -%}
SELECT
  IF(
    COUNTIF({{ column }} NOT IN ({% for v in values %}'{{ v | replace("'", "\\'") }}'{% if not loop.last %}, {% endif %}{% endfor %})) > 0,
    ERROR(CONCAT(CAST(COUNTIF({{ column }} NOT IN ({% for v in values %}'{{ v | replace("'", "\\'") }}'{% if not loop.last %}, {% endif %}{% endfor %})) AS STRING), ' value(s) of {{ column }} not accepted')),
    NULL
  )
FROM
  `{{ table }}`{{ _where(where) }}
{%- endmacro %}

{% macro matches_pattern(column, pattern, where=none, threshold_fail_percentage=0, message=none) -%}
SELECT
  IF(
    COUNTIF(NOT REGEXP_CONTAINS({{ column }}, r'{{ pattern }}')) * 100 > {{ threshold_fail_percentage }} * GREATEST(COUNT(*), 1),
    ERROR('{{ (message or (column ~ " does not match " ~ pattern ~ " in more than " ~ threshold_fail_percentage ~ "% of rows")) | replace("'", "\\'") }}'),
    NULL
  )
FROM
  `{{ table }}`{{ _where(where) }}
{%- endmacro %}

{% macro row_count_within_past_partitions_avg(number_of_days, threshold_percentage, partition_field="submission_date") -%}
WITH days AS (
  SELECT
    {{ partition_field }} AS day,
    COUNT(*) AS n
  FROM
    `{{ table }}`
  WHERE
    {{ partition_field }} BETWEEN DATE_SUB(@{{ partition_field }}, INTERVAL {{ number_of_days }} DAY) AND @{{ partition_field }}
  GROUP BY
    day
),
counts AS (
  SELECT
    COALESCE(SUM(IF(day = @{{ partition_field }}, n, 0)), 0) AS today,
    AVG(IF(day < @{{ partition_field }}, n, NULL)) AS past
  FROM
    days
)
SELECT
  IF(
    past IS NOT NULL AND ABS(today - past) * 100 > {{ threshold_percentage }} * past,
    ERROR(CONCAT(CAST(today AS STRING), ' row(s), more than {{ threshold_percentage }}% from the past {{ number_of_days }} days\' average of ', CAST(ROUND(past, 1) AS STRING))),
    NULL
  )
FROM
  counts
{%- endmacro %}
