/* The channels and app versions {{ table }} holds from {{ first }} to {{ last }}: the page's filters. */
SELECT
  normalized_channel AS channel,
  client_info.app_display_version AS version,
  COUNT(DISTINCT client_info.client_id) AS clients
FROM
  `{{ table }}`
WHERE
  submission_timestamp >= TIMESTAMP '{{ first }}'
  AND submission_timestamp < TIMESTAMP '{{ end }}'
GROUP BY
  channel,
  version
ORDER BY
  clients DESC,
  channel,
  version
