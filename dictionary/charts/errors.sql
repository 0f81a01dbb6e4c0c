/* {{ title }}: what the Glean SDK counted against {{ metric }} in {{ table }}, per UTC day from {{ first }} to {{ last }}{{ note }}.
   Glean's error metrics (glean.error.*) are labeled by the metric's id; a cell with fewer than {{ min_clients }} clients is left out. */
WITH errors AS ({% for error in errors %}

  {{ "UNION ALL" if not loop.first }}
  SELECT
    DATE(submission_timestamp) AS day,
    client_info.client_id AS client_id,
    '{{ error }}' AS error,
    e.value AS value
  FROM
    `{{ table }}`,
    UNNEST(metrics.labeled_counter.glean_error_{{ error }}) AS e
  WHERE
    submission_timestamp >= TIMESTAMP '{{ first }}'
    AND submission_timestamp < TIMESTAMP '{{ end }}'
    AND e.key = {{ identifier }}{% for c in conditions %}

    AND {{ c }}{% endfor %}{% endfor %}

)
SELECT
  day,
  error,
  COUNT(DISTINCT client_id) AS clients,
  SUM(value) AS errors
FROM
  errors
GROUP BY
  day,
  error
HAVING
  COUNT(DISTINCT client_id) >= {{ min_clients }}
ORDER BY
  day,
  error
