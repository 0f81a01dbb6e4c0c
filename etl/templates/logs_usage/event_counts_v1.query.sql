-- {{ family }}: All Event Counts, the day's log events per mozlog Type and Logger ({{ generated }}).
SELECT
  DATE(submission_timestamp) AS submission_date,
  type,
  logger,
  COUNT(*) AS events
FROM (
{% for t in types %}
  SELECT submission_timestamp, type, logger FROM `{{ family }}_stable.{{ t }}`
{% if not loop.last %}
  UNION ALL
{% endif %}
{% endfor %}
)
WHERE
  DATE(submission_timestamp) = @submission_date
GROUP BY
  submission_date,
  type,
  logger
