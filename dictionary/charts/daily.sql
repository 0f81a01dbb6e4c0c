{% from "_pings.sql" import pings with context %}
/* {{ title }}: {{ metric }} in {{ table }}, per UTC day from {{ first }} to {{ last }}{{ note }}.
   A day with fewer than {{ min_clients }} clients is left out. */
WITH pings AS (
{{ pings(values, unnests, conditions) }}
),
days AS (
  SELECT
    day,
    COUNT(DISTINCT client_id) AS clients,
    MAX(submitted) AS last_received
  FROM
    pings
  GROUP BY
    day
  HAVING
    COUNT(DISTINCT client_id) >= {{ min_clients }}
){% if percentiles %},
counted AS (
  SELECT
    day,
    value,
    SUM({{ weight }}) AS weight
  FROM
    pings
  GROUP BY
    day,
    value
),
ranked AS (
  SELECT
    day,
    value,
    SUM(weight) OVER (PARTITION BY day ORDER BY value ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n,
    SUM(weight) OVER (PARTITION BY day) AS day_total
  FROM
    counted
),
measured AS (
  SELECT
    day{% for p in percentiles %},
    MIN(IF(n * 100 >= {{ p }} * day_total, value, NULL)) AS p{{ p }}{% endfor %}

  FROM
    ranked
  GROUP BY
    day
){% elif measures %},
measured AS (
  SELECT
    day{% for name, expr in measures %},
    {{ expr }} AS {{ name }}{% endfor %}

  FROM
    pings
  GROUP BY
    day
){% endif %}

SELECT
  day,
  clients,
  last_received{% for name in measure_names %},
  {{ name }}{% endfor %}

FROM
  days{% if percentiles or measures %}

JOIN
  measured
USING
  (day){% endif %}

ORDER BY
  day
