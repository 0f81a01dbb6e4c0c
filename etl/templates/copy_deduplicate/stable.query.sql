-- {{ stable }}: a day of {{ live }}, one row per document_id ({{ generated }}).
-- bigquery-etl's copy_deduplicate: of the copies of a document, the one received first is kept.
-- NULLS LAST: the day has no NULL timestamps, and DuckDB sorts faster without NULLS FIRST (bench_etl.py).
SELECT
{% for column in columns %}
  `{{ column }}`{{ "," if not loop.last }}
{% endfor %}
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY document_id ORDER BY submission_timestamp NULLS LAST) AS _n
  FROM
    `{{ live }}`
  WHERE
    {{ in_day }}
)
WHERE
  _n = 1
