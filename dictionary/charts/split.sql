{% from "_pings.sql" import pings with context %}
/* {{ title }}: {{ metric }} in {{ table }}, per UTC day from {{ first }} to {{ last }}{{ note }}.
   The {{ top }} {{ key_name }}s of the span by {{ rank_name }}; a cell with fewer than {{ min_clients }} clients is left out. */
WITH pings AS (
{{ pings(values, unnests, conditions) }}
),
top AS (
  SELECT
    key
  FROM
    pings
  GROUP BY
    key
  ORDER BY
    {{ measure }} DESC,
    key
  LIMIT
    {{ top }}
),
days AS (
  SELECT
    day,
    {{ measure }} AS day_total
  FROM
    pings
  GROUP BY
    day
)
SELECT
  day,
  key AS {{ key_name }},
  COUNT(DISTINCT client_id) AS clients,
  {{ measure }} AS {{ measure_name }},
  {{ measure }} / day_total AS share
FROM
  pings
JOIN
  top
USING
  (key)
JOIN
  days
USING
  (day)
GROUP BY
  day,
  key,
  day_total
HAVING
  COUNT(DISTINCT client_id) >= {{ min_clients }}
ORDER BY
  day,
  {{ key_name }}
