"""The daily cycle, once per completed UTC day: live -> stable (dedupe), shred, expire, then the
day's derived tables (etl). One plan (cycle_plan.py), run in one order (`run_plan`) by either engine:

- `DuckDBCycle`: `up`'s warehouse, between commits, on the writer's own connection. The copy is one
  transaction, shred and expiry another (then the file is rewritten without the deleted rows), each
  derived table its own: a kill mid-cycle leaves each whole or undone, and the rerun of the day
  replaces what it made. Each day it finished is recorded in `_pingpipe.cycles`, so a restart
  neither skips a day nor runs one twice. `pingpipe cycle` runs it by hand (a day to redo).
- `BigQueryCycle`: jobs where the data is (`pingpipe cycle --warehouse bigquery:PROJECT`, a daily
  CronJob); each day's copy is one MERGE, so a rerun gives the same tables. Each day it finished is
  recorded in the project's `_pingpipe.cycles`, so `--catch-up` runs the days a missed start left.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from pingpipe import faults, utc
from pingpipe.etl import catalog
from pingpipe.etl.bigquery import qualified
from pingpipe.etl.copy_deduplicate import in_day
from pingpipe.etl.queries import QueryError
from pingpipe.etl.run import Report, existing, run
from pingpipe.etl.sql import to_duckdb
from pingpipe.loader.dayjob import replace_day
from pingpipe.loader.evolution import additions, merge
from pingpipe.loader.tables import quote
from pingpipe.loader.writers.bigquery import ensure_dataset, project_tables
from pingpipe.privacy.expire import ERROR_RETENTION_DAYS, expire, expire_bigquery, retention
from pingpipe.privacy.shred import Plan as ShredPlan
from pingpipe.privacy.shred import shred, shred_bigquery
from pingpipe.schemas.names import CYCLES, META_DATASET, SHREDDED, SUBMISSION_DATE, SUBMISSION_TIMESTAMP

from .cycle_plan import DELETE, ETL, STABLE, STEPS, Copy, Plan, Tables, plan

CYCLES_DDL = f"CREATE TABLE IF NOT EXISTS {CYCLES} (day DATE PRIMARY KEY, finished_at TIMESTAMPTZ, report JSON)"


LAST_CYCLE = "SELECT day, finished_at FROM {} ORDER BY day DESC, finished_at DESC LIMIT 1"


def last_cycle(writer) -> tuple[dt.date, dt.datetime] | None:
    """The latest day cycled, and when its cycle finished (`utc.days_due`): an older day redone by
    hand since says nothing of the days after the latest."""
    writer.query(CYCLES_DDL)
    return writer.query(LAST_CYCLE.format(CYCLES)).fetchone()


CATCH_UP_DAYS = 7  # a warehouse stopped longer runs its last week by itself; older days by `--date`


def due(writer, today: dt.date) -> dt.date | None:
    """The oldest ended day whose cycle has not run (the day a cycle covers must be complete): a
    stop of a few days is caught up one day at a time, in order."""
    return next(iter(utc.days_due(last_cycle(writer), today, CATCH_UP_DAYS)), None)


def last_cycle_bigquery(client, project: str) -> tuple[dt.date, dt.datetime] | None:
    """`last_cycle` of a project (`BigQueryCycle.record`)."""
    from google.api_core.exceptions import NotFound

    try:
        client.get_table(f"{project}.{CYCLES}")
    except NotFound:
        return None
    rows = list(client.query(LAST_CYCLE.format(f"`{project}.{CYCLES}`")).result())
    return (rows[0][0], rows[0][1]) if rows else None


def tables_of(writer) -> dict[tuple[str, str], list[dict]]:
    """(dataset, table) -> fields, for every table the writer holds."""
    return {(t.dataset, t.table): writer.table_fields(t) for t in writer.tables()}


def shred_warehouse(writer, *, dry_run: bool = False, rules: list | None = None, full: bool = False, since: dt.date | None = None) -> dict:
    """Shred every app's deleted clients, in one transaction between commits (privacy/shred.py), then
    rewrite the file without their bytes; `since`: partitions from that day on are read, whatever the scope."""
    with writer.transaction() as con:
        result = shred(con, tables_of(writer), dry_run=dry_run, rules=rules, full=full, since=since)
        if not dry_run:
            mark_purge(writer, con, result["rows"], {})
    if not dry_run:
        purge(writer)
    return result


def shred_on_bigquery(client, project: str, tables: Tables, **options) -> dict:
    """privacy/shred.py's shred_bigquery, its bookkeeping dataset made first (where `ensure_dataset` says)."""
    if not options.get("dry_run"):
        ensure_dataset(client, project, META_DATASET)
    return shred_bigquery(client, project, tables, **options)


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


def cycled_days(writer) -> set[dt.date]:
    """The days whose cycle a DuckDB warehouse recorded."""
    held = writer.query(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
        CYCLES.split("."),
    ).fetchone()[0]
    return {day for (day,) in writer.query(f"SELECT day FROM {CYCLES}").fetchall()} if held else set()


def purge(writer) -> None:
    """Deleted rows' bytes out of the warehouse file (DuckDBWriter.purge), if any are due."""
    if writer.purge_due():
        writer.purge()


def run_cycle(
    writer,
    registry,
    day: dt.date,
    *,
    error_retention_days: int = ERROR_RETENTION_DAYS,
    rules: list | None = None,
    sql: Path | None = None,
    steps: tuple[str, ...] = STEPS,
) -> dict:
    """Dedupe `day` into the stable tables, shred and expire everything, then run the day's queries
    (the generated ones and those under `sql`) on DuckDB; returns what each did. A query that fails
    is reported, and the cycle still counts as done (`pingpipe etl run --date` redoes it)."""
    return cycle_on(DuckDBCycle(writer, registry, sql), registry, day, error_retention_days, rules, steps)


def run_cycle_bigquery(
    client,
    project: str,
    registry,
    day: dt.date,
    *,
    error_retention_days: int = ERROR_RETENTION_DAYS,
    rules: list | None = None,
    sql: Path | None = None,
    steps: tuple[str, ...] = STEPS,
) -> dict:
    """The same cycle on BigQuery; retention is kept as partition expiry, and a live table whose
    newest rows are in the streaming buffer has its shred deferred to the next run."""
    return cycle_on(BigQueryCycle(client, project, registry, sql), registry, day, error_retention_days, rules, steps)


def copy_deduplicate(writer, day: dt.date) -> dict[str, int]:
    """Only the copy of `day` into the stable tables, on DuckDB (`pingpipe dedupe`); rows kept per table."""
    return run_cycle(writer, None, day, steps=(STABLE,))[STABLE]


def copy_deduplicate_bigquery(client, project: str, day: dt.date) -> dict[str, int]:
    """Only the copy of `day` into the stable tables, on BigQuery; rows kept per table."""
    return run_cycle_bigquery(client, project, None, day, steps=(STABLE,))[STABLE]


def cycle_on(engine, registry, day: dt.date, error_retention_days: int, rules: list | None, steps: tuple[str, ...]) -> dict:
    """Plan the cycle from the tables the engine's warehouse holds, and run it there."""
    days = retention(registry) if registry is not None and DELETE in steps else {}
    return run_plan(engine, plan(engine.tables(), day, retention=days, error_retention_days=error_retention_days, rules=rules, steps=steps))


def run_plan(engine, p: Plan) -> dict:
    """The steps of `p`, in the cycle's order, on `engine`; the report of what each did. Only a
    whole cycle is recorded as the day's."""
    report: dict = {"day": p.day.isoformat(), "seconds": {}}
    for step in (STABLE, DELETE, ETL):
        if step not in p.steps:
            continue
        started = time.monotonic()
        if step == STABLE:
            report[STABLE] = engine.copy(p.copies, p.day)
        elif step == DELETE:
            report.update(engine.delete(p.shred, p.expiry))
        else:
            report[ETL] = engine.etl(p.day)
        report["seconds"][step] = round(time.monotonic() - started, 3)
    if p.whole:
        engine.record(p.day, report)
    return report


class DuckDBCycle:
    """The cycle's steps on a DuckDB warehouse (DuckDBWriter), between commits."""

    def __init__(self, writer, registry=None, sql: Path | None = None):
        self.writer, self.registry, self.sql = writer, registry, sql

    def tables(self) -> Tables:
        return tables_of(self.writer)

    def copy(self, copies: list[Copy], day: dt.date) -> dict[str, int]:
        """Every copy in one transaction: each stable table made or widened, its day replaced by the
        template's rows (transpiled), its view made."""
        kept: dict[str, int] = {}
        start, end = utc.bounds(day)
        with self.writer.transaction() as con:
            for c in copies:
                self.writer.ensure_table(c.stable, c.fields)
                table = f"{quote(c.stable.dataset)}.{quote(c.stable.table)}"
                in_the_day = f"{SUBMISSION_TIMESTAMP} >= ? AND {SUBMISSION_TIMESTAMP} < ?"
                con.execute(f"DELETE FROM {table} WHERE {in_the_day}", [start, end])
                con.execute(f"INSERT INTO {table} BY NAME {to_duckdb(c.query, day)}")
                faults.point("cycle.copy")  # tests: a crash with a table copied, none committed
                (kept[str(c.stable)],) = con.execute(f"SELECT count(*) FROM {table} WHERE {in_the_day}", [start, end]).fetchone()
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(c.view.dataset)}")
                con.execute(to_duckdb(c.view, None))
        return kept

    def delete(self, shredding: ShredPlan, expiry: dict[tuple[str, str], int]) -> dict:
        """Shred and expire in one transaction, then the deleted rows' bytes out of the file."""
        with self.writer.transaction() as con:
            shredded = shred(con, {}, planned=shredding)
            expired = expire(con, expiry)
            mark_purge(self.writer, con, shredded["rows"], expired)
        purge(self.writer)
        return {"shredded": shredded["rows"], "skipped": shredded["skipped"], "expired": expired}

    def etl(self, day: dt.date) -> dict:
        return run_etl(self.writer, self.registry, day, sql=self.sql).as_dict()

    def record(self, day: dt.date, report: dict) -> None:
        faults.point("cycle.record")  # tests: a crash with every step done, the day not recorded
        with self.writer.transaction() as con:
            con.execute(CYCLES_DDL)
            con.execute(f"INSERT OR REPLACE INTO {CYCLES} VALUES (?, now(), ?)", [day, json.dumps(report)])


class BigQueryCycle:
    """The cycle's steps on a BigQuery project, as jobs where the data is."""

    def __init__(self, client, project: str, registry=None, sql: Path | None = None):
        self.client, self.project, self.registry, self.sql = client, project, registry, sql

    def tables(self) -> Tables:
        return bigquery_tables(self.client, self.project)

    def copy(self, copies: list[Copy], day: dt.date) -> dict[str, int]:
        """Each stable table made like its live table (partitioning with its expiry, clustering) or
        widened to its columns, its day replaced by one MERGE of the template's rows; the view made."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter(SUBMISSION_DATE, "DATE", day)])
        kept: dict[str, int] = {}
        for c in copies:
            self.ensure_stable(c)
            select, columns = qualified(c.query, self.project)
            kept[str(c.stable)] = replace_day(
                self.client, f"`{self.project}.{c.stable}`", columns, select, in_day(f"target.{SUBMISSION_TIMESTAMP}"), config
            )
            ensure_dataset(self.client, self.project, c.view.dataset)
            self.client.query(qualified(c.view, self.project)[0]).result()
        return kept

    def ensure_stable(self, c: Copy) -> None:
        from google.cloud import bigquery

        source = self.client.get_table(f"{self.project}.{c.live}")
        ensure_dataset(self.client, self.project, c.stable.dataset)
        target = bigquery.Table(f"{self.project}.{c.stable}", schema=source.schema)
        target.time_partitioning, target.clustering_fields = source.time_partitioning, source.clustering_fields
        target = self.client.create_table(target, exists_ok=True)
        held = [f.to_api_repr() for f in target.schema]
        if additions(held, c.fields):
            target.schema = [bigquery.SchemaField.from_api_repr(f) for f in merge(held, c.fields)]
            self.client.update_table(target, ["schema"])

    def delete(self, shredding: ShredPlan, expiry: dict[tuple[str, str], int]) -> dict:
        """Shred as one DML job per table; expiry as each table's partition expiry (or a DELETE job)."""
        shredded = shred_on_bigquery(self.client, self.project, {}, planned=shredding)
        changed, expired = expire_bigquery(self.client, self.project, expiry)
        return {
            "shredded": shredded["rows"],
            "skipped": shredded["skipped"],
            "deferred": shredded["deferred"],
            "expired": expired,
            "expiry": changed,
        }

    def etl(self, day: dt.date) -> dict:
        return run_etl_bigquery(self.client, self.project, self.registry, day, sql=self.sql).as_dict()

    def record(self, day: dt.date, report: dict) -> None:
        """The day, when it finished and its report, in the project (`--catch-up` reads the last)."""
        from google.cloud import bigquery

        ensure_dataset(self.client, self.project, META_DATASET)
        table = bigquery.Table(
            f"{self.project}.{CYCLES}",
            schema=[
                bigquery.SchemaField("day", "DATE"),
                bigquery.SchemaField("finished_at", "TIMESTAMP"),
                bigquery.SchemaField("report", "STRING"),
            ],
        )
        self.client.create_table(table, exists_ok=True)
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("day", "DATE", day),
                bigquery.ScalarQueryParameter("report", "STRING", json.dumps(report, default=str)),
            ]
        )
        self.client.query(
            f"INSERT INTO `{self.project}.{CYCLES}` (day, finished_at, report) VALUES (@day, CURRENT_TIMESTAMP(), @report)",
            job_config=config,
        ).result()


def run_etl(writer, registry, day: dt.date, *, sql: Path | None = None, only: set[str] | None = None):
    """The day's derived tables: the registry's generated queries and the user's (etl/)."""
    tables = existing(writer)
    try:
        queries = catalog.queries(registry, sql, tables)
    except QueryError as exc:
        return Report(failed={exc.path: str(exc)})
    return run(writer, queries, day, only=only, expected=catalog.expected(registry, tables))


def bigquery_tables(client, project: str) -> Tables:
    """(dataset, table) -> fields, for every table of the project (views aside), read from BigQuery."""
    out = {}
    for t in project_tables(client, project):
        table = client.get_table(f"{project}.{t}")
        if table.table_type != "VIEW":
            out[(t.dataset, t.table)] = [f.to_api_repr() for f in table.schema]
    return out


def run_etl_bigquery(client, project: str, registry, day: dt.date, *, sql: Path | None = None, only: set[str] | None = None) -> Report:
    """The day's derived tables on BigQuery: the same queries as `run_etl`, as written."""
    from pingpipe.etl.bigquery import existing_bigquery, run_bigquery

    tables = existing_bigquery(client, project)
    try:
        queries = catalog.queries(registry, sql, tables)
    except QueryError as exc:
        return Report(failed={exc.path: str(exc)})
    return run_bigquery(client, project, queries, day, only=only, expected=catalog.expected(registry, tables))
