-- {{ app }}: daily, weekly and monthly active users per day, by channel and country ({{ generated }}).
-- A client counts on a day if it sent a baseline ping that day (DAU), in the 7 days ending
-- then (WAU), or in the 28 days ending then (MAU).
SELECT
  submission_date,
  normalized_channel AS channel,
  country,
  COUNTIF((days_seen_bits & 1) > 0) AS dau,
  COUNTIF((days_seen_bits & 127) > 0) AS wau,
  COUNTIF((days_seen_bits & {{ bits_28 }}) > 0) AS mau
FROM
  `{{ app }}_derived.baseline_clients_last_seen_v1`
WHERE
  submission_date = @submission_date
GROUP BY
  submission_date,
  channel,
  country
