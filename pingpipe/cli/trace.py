"""`pingpipe trace DOCUMENT_ID`: where one ping went."""

from __future__ import annotations

import click

from pingpipe.up.target import BIGQUERY

from .target import on_target


@click.command("trace")
@click.argument("document_id")
@on_target((BIGQUERY,), warehouse_help="bigquery:PROJECT to look there (default: the `up` running on --data, or its folder).")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="On BigQuery: the partitions to read, from this day on (default: the last 30 days).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="json: {document_id, places: [...]}."
)
def trace(target, document_id, since, fmt):
    """Every place a document id is known: still queued, a row (and its stable copy), an error row (why,
    and where a schema refused it), a counted duplicate of which row, replayed, shredded or expired
    (only the id is kept), or unknown.
    """
    from pingpipe.up import tasks
    from pingpipe.up.trace import lines

    result = tasks.trace(target, document_id.strip(), since.date() if since else None)
    if fmt == "json":
        from pingpipe.up.warehouse import dumps

        click.echo(dumps(result).decode("utf-8"))
        return
    click.echo("\n".join(lines(result)))
