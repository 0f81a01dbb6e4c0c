"""`pingpipe shred`: delete the rows of every client that asked for deletion, in every table of its app."""

from __future__ import annotations

from pathlib import Path

import click

from .up import DATA_HELP, ask_up


@click.command("shred")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=Path("pingpipe-data"), show_default=True,
              envvar="PINGPIPE_DATA", help=DATA_HELP)
@click.option("--dry-run", is_flag=True, help="Print per table how many rows would go; delete nothing.")
def shred(data, dry_run):
    """Delete, from every table of an app, the rows of each client whose deletion-request ping is stored.

    The deletion-request rows stay (the audit trail). Rerunning deletes what is left and nothing else.
    """
    from pingpipe.loader.writers.duckdb import DuckDBWriter
    from pingpipe.up.admin import shred_warehouse

    result = ask_up(data, "POST", "/shred" + ("?dry_run=1" if dry_run else ""), b"")
    if result is None:
        path = data / "warehouse.duckdb"
        if not path.exists():
            raise click.ClickException(f"no warehouse at {path}: start `pingpipe up --data {data}` first")
        writer = DuckDBWriter(path)
        try:
            result = shred_warehouse(writer, dry_run=dry_run)
        finally:
            writer.close()
    verb = "would delete" if dry_run else "deleted"
    for table, n in result["rows"].items():
        click.echo(f"{table}: {verb} {n} row(s)")
    for table in result["skipped"]:
        click.echo(f"{table}: skipped, it has no user id")
    if not result["rows"] and not result["skipped"]:
        click.echo("no deletion request: nothing to shred")
