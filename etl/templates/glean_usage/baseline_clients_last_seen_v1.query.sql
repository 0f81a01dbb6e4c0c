-- {{ app }}: each client seen in the last 28 days, with its activity as bits ({{ generated }}).
-- days_seen_bits: bit 0 is the day itself, bit n the day n days before (Mozilla's definition).
-- Dimensions are the latest seen.
WITH _current AS (
  SELECT
    client_id,
    1 AS days_seen_bits,
    {{ carried | join(", ") }}
  FROM
    `{{ app }}_derived.baseline_clients_daily_v1`
  WHERE
    submission_date = @submission_date
),
_previous AS (
  SELECT
    client_id,
    days_seen_bits,
    {{ carried | join(", ") }}
  FROM
    `{{ app }}_derived.baseline_clients_last_seen_v1`
  WHERE
    submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)
    AND ((days_seen_bits << 1) & {{ bits_28 }}) > 0
)
SELECT
  @submission_date AS submission_date,
  COALESCE(_current.client_id, _previous.client_id) AS client_id,
  ((COALESCE(_previous.days_seen_bits, 0) << 1) & {{ bits_28 }}) | COALESCE(_current.days_seen_bits, 0) AS days_seen_bits,
{% for c in carried %}
  COALESCE(_current.{{ c }}, _previous.{{ c }}) AS {{ c }}{{ "," if not loop.last }}
{% endfor %}
FROM
  _current
FULL OUTER JOIN
  _previous
  ON _current.client_id = _previous.client_id
