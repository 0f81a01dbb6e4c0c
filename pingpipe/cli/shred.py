"""`pingpipe shred`: delete the rows of every client that asked for deletion, in every table of its app."""

from __future__ import annotations

from pathlib import Path

import click

from pingpipe.up.target import BIGQUERY

from .target import on_target


@click.command("shred")
@on_target((BIGQUERY,), warehouse_help="bigquery:PROJECT to shred there, as DML jobs (default: the warehouse of --data).")
@click.option("--dry-run", is_flag=True, help="Print per table how many rows would go; delete nothing.")
@click.option(
    "--full",
    is_flag=True,
    help="Scan every partition of every table. By default only the tables of apps with new requests are "
    "scanned whole, the others from shortly before the last run; a full run also comes by itself every four weeks.",
)
@click.option(
    "--user-ids",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML rules naming your tables' user-id columns (and secondary ids), before the shipped ones "
    "(privacy/user_ids.yaml) and a running `up`'s own (up --user-ids).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object, {dry_run, rows: {table: n}, skipped: [table], scope[, deferred: [table]]}.",
)
def shred(target, dry_run, full, user_ids, fmt):
    """Delete, from every table of an app, the rows of each client whose deletion-request ping is stored.

    The deletion-request rows stay (the audit trail). Rerunning deletes what is left and nothing else.
    """
    from pingpipe.up import tasks

    _report(tasks.shred(target, dry_run, user_ids, full), dry_run, fmt)


def _report(result: dict, dry_run: bool, fmt: str = "text") -> None:
    if fmt == "json":
        from pingpipe.up.warehouse import dumps

        click.echo(dumps({"dry_run": dry_run, **result}).decode("utf-8"))
        return
    verb = "would delete" if dry_run else "deleted"
    for table, n in result["rows"].items():
        click.echo(f"{table}: {verb} {n} row(s)")
    for table in result["skipped"]:
        click.echo(f"{table}: skipped, it has no user id")
    for table in result.get("deferred", ()):
        click.echo(f"{table}: deferred: BigQuery refuses DML over its newest rows (the streaming buffer); the next run deletes them")
    if not result["rows"] and not result["skipped"]:
        click.echo("no deletion request: nothing to shred")
    elif "scope" in result:
        click.echo(f"scanned: {result['scope']}")
