"""`pingpipe cycle`: run the daily cycle (dedupe a day into the stable tables, shred, expire) now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pingpipe.up.config import UpConfig

from .up import DATA_HELP, ask_up, writable


@click.command("cycle")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day (UTC) to copy into the stable tables [default: yesterday].")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=Path("pingpipe-data"), show_default=True,
              envvar="PINGPIPE_DATA", help=DATA_HELP)
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="When `up` is not running: the schemas whose expiration policies apply (default: the shipped ones).")
@click.option("--error-retention-days", default=UpConfig.error_retention_days, show_default=True, type=click.IntRange(min=1),
              help="When `up` is not running: error rows older than this are deleted.")
def cycle(day, data, schemas, error_retention_days):
    """Run `up`'s daily cycle now: the day's live rows into the stable tables, then shred and expire.

    `pingpipe up` runs it by itself once per completed UTC day; this runs it by hand (a day to redo).
    """
    from pingpipe.schemas.registry import Registry
    from pingpipe.up import cycle as daily

    day = day.date() if day else dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    report = ask_up(data, "POST", f"/cycle?date={day}", b"")
    if report is None:
        with writable(data) as writer:
            report = daily.run_cycle(writer, Registry.load(schemas), day, error_retention_days=error_retention_days)
    click.echo(f"daily cycle for {report['day']}:")
    for section, verb in (("stable", "kept"), ("shredded", "deleted"), ("expired", "expired")):
        for table, n in report[section].items():
            click.echo(f"  {table}: {verb} {n} row(s)")
    for table in report["skipped"]:
        click.echo(f"  {table}: not shredded, it has no user id")
