"""The same queries on BigQuery, as written: each table's day replaced by DML (DELETE, then INSERT …
SELECT with the date as a query parameter), each view created as written; tables named
`dataset.table` are qualified with the project."""

from __future__ import annotations

import datetime as dt

from sqlglot import exp

from .queries import Query, QueryError
from .run import Report, schedule
from .sql import parse


def qualified(q: Query, project: str) -> tuple[str, list[str]]:
    """The query with every table in `project`, as BigQuery SQL; and its result's column names."""
    tree = parse(q).copy()
    for table in tree.find_all(exp.Table):
        if table.db:
            table.set("catalog", exp.to_identifier(project))
    columns = [] if q.view else list(tree.named_selects)
    return tree.sql(dialect="bigquery"), columns


def run_bigquery(client, project: str, queries: list[Query], day: dt.date, *, only: set[str] | None = None) -> Report:
    from google.cloud import bigquery

    report = Report()
    for q, _ in schedule(queries, report, only):
        params = [bigquery.ScalarQueryParameter(q.date_parameter, "DATE", day)] if q.date_parameter else []
        config = bigquery.QueryJobConfig(query_parameters=params)
        try:
            sql, columns = qualified(q, project)
            client.create_dataset(f"{project}.{q.dataset}", exists_ok=True)
            if q.view:
                client.query(sql).result()
                report.ran[q.name] = None
                continue
            table = f"`{project}.{q.dataset}.{q.table}`"
            if q.fields:
                schema = [bigquery.SchemaField.from_api_repr(f) for f in q.fields]
                client.create_table(bigquery.Table(f"{project}.{q.dataset}.{q.table}", schema=schema), exists_ok=True)
            else:
                client.query(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM ({sql}) LIMIT 0", job_config=config).result()
            where = f"{q.date_parameter} = @{q.date_parameter}" if q.date_parameter else "TRUE"
            client.query(f"DELETE FROM {table} WHERE {where}", job_config=config).result()
            job = client.query(f"INSERT INTO {table} ({', '.join(columns)}) {sql}", job_config=config)
            job.result()
            report.ran[q.name] = job.num_dml_affected_rows or 0
        except QueryError as exc:
            report.failed[q.name] = str(exc)
        except Exception as exc:  # BigQuery's refusal, one line, with the file
            report.failed[q.name] = f"{q.path}: {str(exc).splitlines()[0]}"
    return report
