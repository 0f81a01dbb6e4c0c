{% from "_pings.sql" import pings with context %}
/* {{ title }}: {{ metric }} in {{ table }}, on {{ day }} against {{ against }} (UTC days){{ note }}.
   Each bucket's share of the day's samples; a day with fewer than {{ min_clients }} clients is left out. */
WITH pings AS (
{{ pings(values, unnests, conditions) }}
),
days AS (
  SELECT
    day,
    SUM(samples) AS day_samples
  FROM
    pings
  WHERE
    day IN (DATE '{{ day }}', DATE '{{ against }}')
  GROUP BY
    day
  HAVING
    COUNT(DISTINCT client_id) >= {{ min_clients }}
)
SELECT
  day,
  bucket,
  SUM(samples) AS samples,
  SUM(samples) / day_samples AS share
FROM
  pings
JOIN
  days
USING
  (day)
GROUP BY
  day,
  bucket,
  day_samples
ORDER BY
  bucket,
  day
