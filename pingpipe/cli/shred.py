"""`pingpipe shred`: delete the rows of every client that asked for deletion, in every table of its app."""

from __future__ import annotations

from pathlib import Path

import click

from .load import bigquery_project
from .up import DATA_HELP, ask_up, writable


@click.command("shred")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("pingpipe-data"),
    show_default=True,
    envvar="PINGPIPE_DATA",
    help=DATA_HELP,
)
@click.option("--dry-run", is_flag=True, help="Print per table how many rows would go; delete nothing.")
@click.option("--warehouse", default=None, help="bigquery:PROJECT to shred there, as DML jobs (default: the warehouse of --data).")
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
    help="json: one object, {dry_run, rows: {table: n}, skipped: [table][, deferred: [table]]}.",
)
def shred(data, dry_run, warehouse, user_ids, fmt):
    """Delete, from every table of an app, the rows of each client whose deletion-request ping is stored.

    The deletion-request rows stay (the audit trail). Rerunning deletes what is left and nothing else.
    """
    from pingpipe.privacy.shred import RulesError, load_rules
    from pingpipe.up.cycle import shred_warehouse

    try:
        rules = load_rules(user_ids)
    except RulesError as exc:
        raise click.ClickException(str(exc)) from None

    if warehouse is not None:
        result = shred_on_bigquery(bigquery_project(warehouse), dry_run, rules)
        _report(result, dry_run, fmt)
        return
    result = ask_up(data, "POST", "/shred" + ("?dry_run=1" if dry_run else ""), user_ids.read_bytes() if user_ids else b"")
    if result is None:
        with writable(data) as writer:
            result = shred_warehouse(writer, dry_run=dry_run, rules=rules)
    _report(result, dry_run, fmt)


def shred_on_bigquery(project: str, dry_run: bool, rules=None, client=None) -> dict:
    """Every _live/_stable table of the project, its schema read from BigQuery, shredded by DML jobs."""
    from pingpipe.loader.writers.bigquery import make_client
    from pingpipe.privacy.shred import shred_bigquery
    from pingpipe.up.cycle import bigquery_tables

    client = client or make_client(project)
    return shred_bigquery(client, project, bigquery_tables(client, project), dry_run=dry_run, rules=rules)


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
