-- {{ app }}: one row per client per day, from its baseline pings ({{ generated }}).
-- Dimensions are the latest non-null value of the day.
SELECT
  DATE(submission_timestamp) AS submission_date,
  client_info.client_id AS client_id,
  MIN(sample_id) AS sample_id,
  COUNT(*) AS baseline_pings,
  COUNTIF(ping_info.reason = 'active') AS sessions,
{% if duration %}
  SUM(IF({{ duration }} BETWEEN 0 AND {{ max_duration }}, {{ duration }}, 0)) AS durations,
{% else %}
  SUM(0) AS durations,
{% endif %}
{% for d in dimensions %}
  ARRAY_AGG({{ d.expression }} IGNORE NULLS ORDER BY submission_timestamp DESC)[SAFE_OFFSET(0)] AS {{ d.name }}{{ "," if not loop.last }}
{% endfor %}
FROM
  `{{ app }}_stable.{{ baseline }}`
WHERE
  DATE(submission_timestamp) = @submission_date
  AND client_info.client_id IS NOT NULL
GROUP BY
  submission_date,
  client_id
