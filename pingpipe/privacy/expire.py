"""Expiry: rows older than their table's retention are deleted.

A ping's retention is its schema's `mozPipelineMetadata.expiration_policy.delete_after_days`
(on BigQuery it is each table's partition expiry, set when the table is made and kept by the daily
cycle; on DuckDB this deletes the days past it, live and stable tables alike). Error rows hold raw payloads, which may carry
identifiers a client put there: they are not shredded, they expire after `error_retention_days`.
`plan` (which tables, how many days) is pure; `expire` runs it on DuckDB, `expire_bigquery` on BigQuery.
"""

from __future__ import annotations

import datetime as dt

from pingpipe import utc
from pingpipe.schemas.names import DELETED, DELETED_COLUMNS, DELETED_DDL, DOCUMENT_ID, ERROR_DATASET, SUBMISSION_TIMESTAMP, TableId, live_of

COLUMNS = "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?"
DELETED_DAYS = 90  # how long `trace` can say a document was shredded or expired (names.DELETED)
ERROR_RETENTION_DAYS = 14  # raw error payloads are kept briefly: long enough to find and replay a bad deploy's


def retention(registry) -> dict[str, int]:
    """live table ("dataset.table") -> days, for the schemas that set an expiration."""
    out = {}
    for entry in registry:
        days = entry.metadata.expiration_policy.get("delete_after_days")
        if days:
            out[entry.live_table] = int(days)
    return out


def days_kept(dataset: str, table: str, days: dict[str, int], error_retention_days: int) -> int | None:
    """How many days a table's rows are kept (None: for ever): its ping's retention, live and stable
    alike, or the error tables' own."""
    if dataset == ERROR_DATASET:
        return error_retention_days
    live = live_of(TableId(dataset, table))
    return None if live is None else days.get(str(live))


def plan(
    tables: list[tuple[str, str]], days: dict[str, int], error_retention_days: int = ERROR_RETENTION_DAYS
) -> dict[tuple[str, str], int]:
    """(dataset, table) -> the days its rows are kept, for each of `tables` that has a retention."""
    kept = {table: days_kept(*table, days, error_retention_days) for table in tables}
    return {table: keep for table, keep in kept.items() if keep is not None}


def expire(con, planned: dict[tuple[str, str], int], *, now: dt.datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete (or count, dry_run) the rows of each planned table older than its days, on DuckDB; rows per table."""
    from .shred import record_deleted

    now = now or utc.now()
    done = {}
    for (dataset, name), keep in planned.items():
        before = now - dt.timedelta(days=keep)
        if not dry_run:
            have = {c for (c,) in con.execute(COLUMNS, [dataset, name]).fetchall()}
            columns = [c for c in DELETED_COLUMNS if c in have]
            if DOCUMENT_ID in have:
                cursor = con.execute(f'SELECT {", ".join(columns)} FROM "{dataset}"."{name}" WHERE submission_timestamp < ?', [before])
                record_deleted(con, f"{dataset}.{name}", columns, cursor.fetchall(), "expired")
        verb = "SELECT count(*) FROM" if dry_run else "DELETE FROM"
        (n,) = con.execute(f'{verb} "{dataset}"."{name}" WHERE submission_timestamp < ?', [before]).fetchone()
        if n:
            done[f"{dataset}.{name}"] = n
    if not dry_run:  # the ids deleted are kept a while for `trace`, not for ever
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {DELETED.split('.')[0]}")
        con.execute(DELETED_DDL)
        con.execute(f"DELETE FROM {DELETED} WHERE deleted_at < ?", [now - dt.timedelta(days=DELETED_DAYS)])
    return done


def expire_bigquery(client, project: str, planned: dict[tuple[str, str], int]) -> tuple[dict[str, int], dict[str, int]]:
    """The same retention on BigQuery, kept by BigQuery itself: the partition expiry of each
    day-partitioned planned table is set to its days (a change in a schema's policy reaches tables
    made before it). A table with no partitioning has its old rows deleted by a DML job instead.
    Returns the days per table whose expiry changed, and the rows deleted per table."""
    from google.cloud import bigquery

    changed, deleted = {}, {}
    for (dataset, name), keep in planned.items():
        ref, table = f"{dataset}.{name}", client.get_table(f"{project}.{dataset}.{name}")
        if table.time_partitioning is not None:
            if table.time_partitioning.expiration_ms != keep * 86_400_000:
                table.partition_expiration = keep * 86_400_000
                client.update_table(table, ["partition_expiration"])
                changed[ref] = keep
        elif any(f.name == SUBMISSION_TIMESTAMP for f in table.schema):
            config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("days", "INT64", keep)])
            job = client.query(
                f"DELETE FROM `{project}.{ref}` WHERE submission_timestamp < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)",
                job_config=config,
            )
            job.result()
            if job.num_dml_affected_rows:
                deleted[ref] = job.num_dml_affected_rows
    return changed, deleted
