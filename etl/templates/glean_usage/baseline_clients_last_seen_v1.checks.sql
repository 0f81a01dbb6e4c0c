-- {{ app }}: checks of each day of baseline_clients_last_seen_v1 ({{ generated }}).
{% raw %}
#fail
{{ is_unique(["client_id"], "submission_date = @submission_date") }}

#fail
{{ not_null(["submission_date", "client_id"], "submission_date = @submission_date") }}
{% endraw %}

-- The clients seen on the day (bit 0) are the day's clients of baseline_clients_daily_v1.
#fail
WITH seen AS (
  SELECT
    COUNTIF((days_seen_bits & 1) > 0) AS n
  FROM
    `{{ app }}_derived.baseline_clients_last_seen_v1`
  WHERE
    submission_date = @submission_date
),
daily AS (
  SELECT
    COUNT(DISTINCT client_id) AS n
  FROM
    `{{ app }}_derived.baseline_clients_daily_v1`
  WHERE
    submission_date = @submission_date
)
SELECT
  IF(
    (SELECT n FROM seen) != (SELECT n FROM daily),
    ERROR(CONCAT('clients seen on the day: ', CAST((SELECT n FROM seen) AS STRING), ' in last_seen, ', CAST((SELECT n FROM daily) AS STRING), ' in baseline_clients_daily_v1')),
    NULL
  )
