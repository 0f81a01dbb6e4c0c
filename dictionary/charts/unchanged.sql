/* What says whether {{ table }}'s rows before {{ today }} changed: a chart's days before today are kept while this is the same. */
SELECT
  COUNT(*) AS n,
  MAX({{ column }}) AS latest
FROM
  `{{ table }}`
WHERE
  {{ column }} < {{ "TIMESTAMP" if column == "submission_timestamp" else "DATE" }} '{{ today }}'
