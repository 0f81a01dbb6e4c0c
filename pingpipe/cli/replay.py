"""`pingpipe replay`: error rows decoded again against the schemas as they are now, into their tables once."""

from __future__ import annotations

from pathlib import Path

import click

from .target import on_target

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.command("replay")
@on_target()
@click.option("--since", type=DAY, default=None, help="Only error rows submitted on or after this day (UTC).")
@click.option("--until", type=DAY, default=None, help="Only error rows submitted on or before this day (UTC).")
@click.option("--namespace", "namespaces", multiple=True, help="Only this document namespace (repeat for more).")
@click.option("--doctype", "doctypes", multiple=True, help="Only this document type (repeat for more).")
@click.option("--error-type", "error_types", multiple=True, help="Only this error type, e.g. ParsePayload (repeat for more).")
@click.option("--dry-run", is_flag=True, help="Say what would be recovered, per table and per error type left; change nothing.")
@click.option(
    "--no-cycle",
    is_flag=True,
    help="Leave the stable and derived tables of replayed days already cycled as they are (by default their cycle runs again).",
)
@click.option(
    "--schemas",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="When `up` is not running: the schemas to decode with (default: the shipped ones). A running `up` uses its own.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="json: the report as one object."
)
def replay(target, since, until, namespaces, doctypes, error_types, dry_run, no_cycle, schemas, fmt):
    """Decode the error rows of payload_bytes_error.* again, with the schemas as they are now (a schema
    deployed late, or mended), through the same decoder as new pings.

    A recovered ping becomes a row of its table once: a document its table holds already, or an
    earlier copy in the replay, is a counted duplicate. Its error row goes, in the same transaction,
    and `_pingpipe.replays` records it. A ping that fails as it did stays as it was; one that fails
    otherwise gets its new error. Counted duplicates, and rows without a URI, are never replayed.
    """
    from pingpipe.up import tasks
    from pingpipe.up.replay import Selection

    if since and until and until < since:
        raise click.UsageError("--until is before --since")
    selection = Selection(since.date() if since else None, until.date() if until else None, namespaces, doctypes, error_types)
    report = tasks.replay(target, selection, dry_run=dry_run, cycle_days=not no_cycle, schemas=schemas, progress=progress)
    if fmt == "json":
        from pingpipe.up.warehouse import dumps

        click.echo(dumps({"dry_run": dry_run, **report}).decode("utf-8"))
        return
    show(report, dry_run)


def progress(done: int, picked: int) -> None:
    """Long replays say how far they are (on stderr: stdout is the report); a running `up` answers at the end."""
    if picked > 5000:
        click.echo(f"  {done:,} of {picked:,} error rows", err=True)


def show(report: dict, dry_run: bool) -> None:
    verb = "would recover" if dry_run else "recovered"
    click.echo(f"{report['picked']} error row(s) picked")
    for table, counts in report["tables"].items():
        click.echo(f"{table}: {verb} {counts.get('rows', 0)} row(s), {counts.get('duplicates', 0)} duplicate(s)")
    for error_type, n in report["errors"].items():
        click.echo(f"{'would fail' if dry_run else 'failing'} otherwise than before: {n} ({error_type})")
    if report["unchanged"]:
        click.echo(f"failing as before, left as they are: {report['unchanged']}")
    for table, n in report.get("shredded", {}).items():
        click.echo(f"{table}: shredded {n} recovered row(s) of clients whose deletion was processed")
    for day, rows in report.get("cycled", {}).items():
        click.echo(f"daily cycle for {day} run again: stable {rows} row(s)")
