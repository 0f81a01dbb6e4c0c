"""The same queries on BigQuery, as written: each table's day replaced by one MERGE job (the date
as a query parameter; loader/dayjob.py), each view created as written; tables named
`dataset.table` are qualified with the project. A table made from declared fields is
day-partitioned on its date column, as bigquery-etl's are."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlglot import exp

from pingpipe.loader.dayjob import replace_day
from pingpipe.loader.writers.bigquery import ensure_dataset, project_tables
from pingpipe.reason import one_line

from .checks import checks_of
from .functions import ensure_bigquery
from .queries import Query, QueryError
from .run import Report, check_outcome, hold, schedule
from .sql import parse


def qualified(q: Query, project: str) -> tuple[str, list[str]]:
    """The query with every table in `project`, as BigQuery SQL; and its result's column names."""
    tree = parse(q).copy()
    for table in tree.find_all(exp.Table):
        if table.db:
            table.set("catalog", exp.to_identifier(project))
    columns = [] if q.view else list(tree.named_selects)
    return tree.sql(dialect="bigquery"), columns


def run_checks_bigquery(client, project: str, q: Query, config) -> list[dict]:
    """`q`'s checks on what its job wrote, each one job with the query's date parameter (`config`):
    a check whose ERROR() fails the job failed, with BigQuery's message."""
    outcomes = []
    for check in checks_of(q):
        sql, _ = qualified(dataclasses.replace(q, sql=check.sql, path=q.checks_path or q.path, view=False), project)
        try:
            client.query(sql, job_config=config).result()
            error = None
        except QueryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the job failed: what the check found (or why it could not run)
            error = one_line(exc)
        outcomes.append(check_outcome(check, error))
    return outcomes


def existing_bigquery(client, project: str) -> set[str]:
    """The project's tables and views, as `dataset.table`."""
    return {str(t) for t in project_tables(client, project)}


def run_bigquery(
    client, project: str, queries: list[Query], day: dt.date, *, only: set[str] | None = None, expected: set[str] = frozenset()
) -> Report:
    """`run`'s rules on BigQuery: a query reading a table that does not exist yet waits (`expected`),
    one reading what nothing makes fails; each table's day is replaced by one job."""
    from google.cloud import bigquery

    report = Report()
    ensure_bigquery(client, project)  # udf.bits28_*, for the queries that call them
    held, made = existing_bigquery(client, project), {q.name for q in queries}
    for q, reads_of in schedule(queries, report, only):
        if hold(report, q, reads_of, held, made, expected):
            continue
        params = [bigquery.ScalarQueryParameter(q.date_parameter, "DATE", day)] if q.date_parameter else []
        config = bigquery.QueryJobConfig(query_parameters=params)
        try:
            sql, columns = qualified(q, project)
            ensure_dataset(client, project, q.dataset)
            if q.view:
                client.query(sql).result()
                report.ran[q.name] = None
                held.add(q.name)
                continue
            table = f"`{project}.{q.dataset}.{q.table}`"
            if q.fields:
                target = bigquery.Table(
                    f"{project}.{q.dataset}.{q.table}", schema=[bigquery.SchemaField.from_api_repr(f) for f in q.fields]
                )
                if any(f["name"] == q.date_parameter and f["type"] == "DATE" for f in q.fields):
                    target.time_partitioning = bigquery.TimePartitioning(field=q.date_parameter)
                client.create_table(target, exists_ok=True)
            else:
                client.query(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM ({sql}) LIMIT 0", job_config=config).result()
            rows = f"target.`{q.date_parameter}` = @{q.date_parameter}" if q.date_parameter else "TRUE"
            report.ran[q.name] = replace_day(client, table, columns, sql, rows, config)
            held.add(q.name)
            report.checked(q, run_checks_bigquery(client, project, q, config))
        except QueryError as exc:
            report.failed[q.name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - BigQuery's refusal, one line, with the file
            report.failed[q.name] = f"{q.path}: {one_line(exc)}"
    return report
