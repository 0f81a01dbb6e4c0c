"""`pingpipe stats`: a day's pings, accepted and where each went."""

from __future__ import annotations

import click

from .target import on_target

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.command("stats")
@on_target()
@click.option("--date", "day", type=DAY, default=None, help="The UTC day (default: today).")
@click.option("--by", type=click.Choice(["namespace", "doctype", "table"]), default=None, help="One line per app, ping or table.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="json: the report as one object."
)
def stats(target, day, by, fmt):
    """Account for a day's pings: accepted by the edge = rows + error rows + counted duplicates + still
    queued + shredded + expired (replayed ones moved from the error rows to the rows).

    The accepted side is the queue's own ledger, kept as segments are sealed, so a restart, even a
    kill, hides nothing. Exit 1 when the identity does not hold, saying which side is larger.
    """
    from pingpipe import utc
    from pingpipe.up import tasks
    from pingpipe.up.stats import table

    result = tasks.stats(target, day.date() if day else utc.today(), by)
    if fmt == "json":
        from pingpipe.up.warehouse import dumps

        click.echo(dumps(result).decode("utf-8"))
    else:
        click.echo("\n".join(table(result)))
    if not result["holds"]:
        raise SystemExit(1)
