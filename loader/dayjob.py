"""One day of a BigQuery table replaced by a query, as one job where the data is.

The job is a MERGE that deletes the day's rows the query does not produce and inserts those it
does: BigQuery's own atomic "replace a partition" statement, so a failed job leaves the day as it
was, and a rerun gives the same day. (A WRITE_TRUNCATE query to a `table$YYYYMMDD` destination is
BigQuery's other way; bqemulator accepts it and silently writes nothing, so it could not be tested.)
"""

from __future__ import annotations


def replace_day_sql(table: str, columns: list[str], select_sql: str, day: str) -> str:
    """The MERGE replacing the rows of `table` that `day` matches by the rows of `select_sql`.

    `day` is a condition on the table's own columns, written against the alias `target`
    (e.g. "target.submission_date = @submission_date"); `columns` are the select's and the table's."""
    names = ", ".join(f"`{c}`" for c in columns)
    return (
        f"MERGE {table} AS target USING ({select_sql}) AS source ON FALSE "
        f"WHEN NOT MATCHED BY SOURCE AND {day} THEN DELETE "
        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({names})"
    )


def replace_day(client, table: str, columns: list[str], select_sql: str, day: str, job_config) -> int:
    """Run the MERGE; the rows the day holds after it (counted: dml statistics are not everywhere)."""
    client.query(replace_day_sql(table, columns, select_sql, day), job_config=job_config).result()
    count = f"SELECT count(*) FROM {table} AS target WHERE {day}"
    (n,) = next(iter(client.query(count, job_config=job_config).result()))
    return int(n)
