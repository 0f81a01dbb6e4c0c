"""`up`'s daily cycle, once per completed UTC day: live -> stable (dedupe), shred, expire, then the
day's derived tables (etl).

It runs between commits, on the writer's own connection, and records each day it finished in
`_pingpipe.cycles`, so a restart neither skips a day nor runs one twice. `pingpipe cycle` runs
it by hand (tests, or a day to redo). At scale the same cycle runs on BigQuery as jobs where the
data is (`run_cycle_bigquery`, `pingpipe cycle --warehouse bigquery:PROJECT`, a daily CronJob).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pingpipe.etl import catalog
from pingpipe.etl.queries import QueryError
from pingpipe.etl.run import Report, existing, run
from pingpipe.loader.stable import copy_deduplicate, copy_deduplicate_bigquery
from pingpipe.loader.writers.bigquery import project_tables
from pingpipe.loader.writers.duckdb import META_SCHEMA
from pingpipe.privacy.expire import ERROR_RETENTION_DAYS, expire, expire_bigquery, retention
from pingpipe.privacy.shred import SHREDDED, family_of, shred, shred_bigquery

CYCLES = f"{META_SCHEMA}.cycles"
CYCLES_DDL = f"CREATE TABLE IF NOT EXISTS {CYCLES} (day DATE PRIMARY KEY, finished_at TIMESTAMPTZ, report JSON)"


def last_day(writer) -> dt.date | None:
    """The last day whose cycle finished, if any."""
    writer.query(CYCLES_DDL)
    (day,) = writer.query(f"SELECT max(day) FROM {CYCLES}").fetchone()
    return day


def due(writer, today: dt.date) -> dt.date | None:
    """Yesterday, if its cycle has not run (the day a cycle covers must be complete)."""
    yesterday = today - dt.timedelta(days=1)
    last = last_day(writer)
    return yesterday if last is None or last < yesterday else None


def tables_of(writer) -> dict[tuple[str, str], list[dict]]:
    """(dataset, table) -> fields, for every table the writer holds."""
    return {(t.dataset, t.table): writer.table_fields(t) for t in writer.tables()}


def shred_warehouse(writer, *, dry_run: bool = False, rules: list | None = None) -> dict:
    """Shred every app's deleted clients, in one transaction between commits (privacy/shred.py), then
    rewrite the file without their bytes."""
    with writer.transaction() as con:
        result = shred(con, tables_of(writer), dry_run=dry_run, rules=rules)
        if not dry_run:
            mark_purge(writer, con, result["rows"], {})
    if not dry_run:
        purge(writer)
    return result


def mark_purge(writer, con, shredded: dict[str, int], expired: dict[str, int]) -> None:
    """In the transaction that deleted rows: their bytes must leave the file, now or at the next open."""
    if any(shredded.values()) or any(expired.values()):
        writer.mark_purge(con, "shred" if any(shredded.values()) else "expiry")


def shredded_ids(writer) -> set[str]:
    """Every user id whose deletion was processed (privacy/shred.py's audit trail)."""
    held = writer.query(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
        SHREDDED.split("."),
    ).fetchone()[0]
    return {i for (i,) in writer.query(f"SELECT DISTINCT client_id FROM {SHREDDED}").fetchall()} if held else set()


def purge(writer) -> None:
    """Deleted rows' bytes out of the warehouse file (DuckDBWriter.purge), if any are due."""
    if writer.purge_due():
        writer.purge()


def run_cycle(
    writer, registry, day: dt.date, *, error_retention_days: int = ERROR_RETENTION_DAYS, rules: list | None = None, sql: Path | None = None
) -> dict:
    """Dedupe `day` into the stable tables, shred and expire everything, then run the day's queries
    (the generated ones and those under `sql`); returns what each did. A query that fails is
    reported, and the cycle still counts as done (`pingpipe etl run --date` redoes it)."""
    import json

    kept = copy_deduplicate(writer, day)
    with writer.transaction() as con:
        tables = tables_of(writer)
        shredded = shred(con, tables, rules=rules)
        expired = expire(con, list(tables), retention(registry), error_retention_days=error_retention_days)
        mark_purge(writer, con, shredded["rows"], expired)
        report = {"day": day.isoformat(), "stable": kept, "shredded": shredded["rows"], "skipped": shredded["skipped"], "expired": expired}
    purge(writer)
    report["etl"] = run_etl(writer, registry, day, sql=sql).as_dict()
    with writer.transaction() as con:
        con.execute(CYCLES_DDL)
        con.execute(f"INSERT OR REPLACE INTO {CYCLES} VALUES (?, now(), ?)", [day, json.dumps(report)])
    return report


def run_etl(writer, registry, day: dt.date, *, sql: Path | None = None, only: set[str] | None = None):
    """The day's derived tables: the registry's generated queries and the user's (etl/)."""
    tables = existing(writer)
    try:
        queries = catalog.queries(registry, sql, tables)
    except QueryError as exc:
        return Report(failed={exc.path: str(exc)})
    return run(writer, queries, day, only=only, expected=catalog.expected(registry, tables))


def bigquery_tables(client, project: str) -> dict[tuple[str, str], list[dict]]:
    """(dataset, table) -> fields, for every table of an app's datasets, read from BigQuery."""
    return {
        (t.dataset, t.table): [f.to_api_repr() for f in client.get_table(f"{project}.{t}").schema]
        for t in project_tables(client, project)
        if family_of(t.dataset) is not None
    }


def run_etl_bigquery(client, project: str, registry, day: dt.date, *, sql: Path | None = None, only: set[str] | None = None) -> Report:
    """The day's derived tables on BigQuery: the same queries as `run_etl`, as written."""
    from pingpipe.etl.bigquery import existing_bigquery, run_bigquery

    tables = existing_bigquery(client, project)
    try:
        queries = catalog.queries(registry, sql, tables)
    except QueryError as exc:
        return Report(failed={exc.path: str(exc)})
    return run_bigquery(client, project, queries, day, only=only, expected=catalog.expected(registry, tables))


def run_cycle_bigquery(
    client,
    project: str,
    registry,
    day: dt.date,
    *,
    error_retention_days: int = ERROR_RETENTION_DAYS,
    rules: list | None = None,
    sql: Path | None = None,
) -> dict:
    """The daily cycle on BigQuery, in `run_cycle`'s order: `day` copied into the stable tables,
    deleted clients shredded, retention applied as partition expiry, then the day's queries."""
    kept = copy_deduplicate_bigquery(client, project, day)
    shredded = shred_bigquery(client, project, bigquery_tables(client, project), rules=rules)
    tables = [(t.dataset, t.table) for t in project_tables(client, project)]
    expiry, expired = expire_bigquery(client, project, tables, retention(registry), error_retention_days=error_retention_days)
    report = {
        "day": day.isoformat(),
        "stable": kept,
        "shredded": shredded["rows"],
        "skipped": shredded["skipped"],
        "deferred": shredded["deferred"],
        "expired": expired,
        "expiry": expiry,
    }
    report["etl"] = run_etl_bigquery(client, project, registry, day, sql=sql).as_dict()
    return report
