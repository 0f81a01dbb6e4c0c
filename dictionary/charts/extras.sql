{% from "_pings.sql" import pings with context %}
/* {{ title }}: {{ metric }} in {{ table }}, from {{ first }} to {{ last }} (UTC days){{ note }}.
   The {{ top }} most sent; a value with fewer than {{ min_clients }} clients is left out. */
WITH pings AS (
{{ pings(values, unnests, conditions) }}
)
SELECT
  extra_key,
  extra_value,
  COUNT(*) AS events,
  COUNT(DISTINCT client_id) AS clients
FROM
  pings
GROUP BY
  extra_key,
  extra_value
HAVING
  COUNT(DISTINCT client_id) >= {{ min_clients }}
ORDER BY
  events DESC,
  extra_key,
  extra_value
LIMIT
  {{ top }}
