"""`pingpipe cycle`: run the daily cycle (dedupe a day into the stable tables, shred, expire, etl) now."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pingpipe import utc
from pingpipe.up.config import UpConfig
from pingpipe.up.target import BIGQUERY

from .etl import SQL_HELP
from .target import on_target


@click.command("cycle")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day (UTC) to copy into the stable tables [default: yesterday].",
)
@click.option(
    "--catch-up",
    is_flag=True,
    help="Instead of one day: every ended day whose cycle the warehouse has not recorded, oldest first "
    "(the last 7 at most; yesterday where none ran). What a daily schedule runs: a missed start is made up by the next.",
)
@on_target((BIGQUERY,), warehouse_help="bigquery:PROJECT to run the cycle there, as jobs where the data is (default: --data's warehouse).")
@click.option(
    "--schemas",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="When `up` is not running: the schemas whose expiration policies and Glean apps apply (default: the shipped ones).",
)
@click.option(
    "--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="When `up` is not running: " + SQL_HELP
)
@click.option(
    "--user-ids",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="When `up` is not running: YAML rules naming your tables' user-id columns, before the shipped ones.",
)
@click.option(
    "--error-retention-days",
    default=UpConfig.error_retention_days,
    show_default=True,
    type=click.IntRange(min=1),
    help="When `up` is not running: error rows older than this are deleted.",
)
def cycle(day, catch_up, target, schemas, sql, user_ids, error_retention_days):
    """Run `up`'s daily cycle now: the day's live rows into the stable tables, shred, expire, then
    the day's derived tables.

    `pingpipe up` runs it by itself once per completed UTC day; this runs it by hand (a day to redo),
    or, with --warehouse bigquery:PROJECT --catch-up, at scale (deploy/kubernetes/daily-cycle.yaml).
    Exit 1 if a query failed.
    """
    from pingpipe.up import tasks

    if catch_up and day is not None:
        raise click.UsageError("give --date or --catch-up, not both")
    days = tasks.days_due(target) if catch_up else [utc.day_or_yesterday(day)]
    if not days:
        click.echo(f"no day is due: the cycle of {utc.yesterday()} has run" + (" (`up` runs each day itself)" if target.running() else ""))
        return
    reports = tasks.cycles(target, days, schemas=schemas, sql=sql, user_ids=user_ids, error_retention_days=error_retention_days)
    failed = False
    for report in reports:
        failed = show(report) or failed
    sys.exit(1 if failed else 0)


def show(report: dict) -> bool:
    """Print a day's report; whether a query failed."""
    click.echo(f"daily cycle for {report['day']}:")
    for section, verb in (("stable", "kept"), ("shredded", "deleted"), ("expired", "expired")):
        for table, n in report[section].items():
            click.echo(f"  {table}: {verb} {n} row(s)")
    for table, days in report.get("expiry", {}).items():
        click.echo(f"  {table}: partitions now expire after {days} day(s)")
    for table in report["skipped"]:
        click.echo(f"  {table}: not shredded, it has no user id")
    for table in report.get("deferred", ()):
        click.echo(f"  {table}: shredding deferred to the next run (its newest rows are in BigQuery's streaming buffer)")
    etl = report.get("etl") or {}
    for table, rows in etl.get("ran", {}).items():
        click.echo(f"  {table}: view made" if rows is None else f"  {table}: {rows} row(s)")
    for reason in etl.get("waiting", {}).values():
        click.echo(f"  {reason}")
    for message in etl.get("failed", {}).values():
        click.echo(f"error: {message}", err=True)
    return bool(etl.get("failed"))
