"""Derived datasets: SQL ETL in bigquery-etl's layout, run on DuckDB (through sqlglot) and BigQuery, and its lineage."""
