-- {{ app }}: checks of each day of active_users_v1 ({{ generated }}).

-- DAU is the count of clients whose days_seen_bits has the day's bit.
#fail
WITH dau AS (
  SELECT
    COALESCE(SUM(dau), 0) AS n
  FROM
    `{{ app }}_derived.active_users_v1`
  WHERE
    submission_date = @submission_date
),
seen AS (
  SELECT
    COUNTIF((days_seen_bits & 1) > 0) AS n
  FROM
    `{{ app }}_derived.baseline_clients_last_seen_v1`
  WHERE
    submission_date = @submission_date
)
SELECT
  IF(
    (SELECT n FROM dau) != (SELECT n FROM seen),
    ERROR(CONCAT('DAU ', CAST((SELECT n FROM dau) AS STRING), ' in active_users_v1, but ', CAST((SELECT n FROM seen) AS STRING), ' clients seen on the day in last_seen')),
    NULL
  )
{% raw %}

#warn
{{ row_count_within_past_partitions_avg(7, 50) }}
{% endraw %}
