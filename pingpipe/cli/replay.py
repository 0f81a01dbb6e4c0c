"""`pingpipe replay`: error rows decoded again against the schemas as they are now, into their tables once."""

from __future__ import annotations

import click

from pingpipe.up.target import BIGQUERY

from .target import SCHEMAS, on_target

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.command("replay", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@on_target(
    (BIGQUERY,),
    warehouse_help="bigquery:PROJECT to replay there, as a Beam job (extra arguments are its pipeline options, e.g. "
    "--runner DataflowRunner; default: the warehouse of --data).",
)
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
    type=SCHEMAS,
    default=None,
    help="When `up` is not running: the schemas to decode with (default: the shipped ones; on BigQuery also a bundle, "
    "gs://BUCKET/schemas.tar.gz). A running `up` uses its own.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="json: the report as one object."
)
@click.pass_context
def replay(ctx, target, since, until, namespaces, doctypes, error_types, dry_run, no_cycle, schemas, fmt):
    """Decode the error rows of payload_bytes_error.* again, with the schemas as they are now (a schema
    deployed late, or mended), through the same decoder as new pings.

    A recovered ping becomes a row of its table once: a document its table holds already, or an
    earlier copy in the replay, is a counted duplicate. Its error row goes, in the same transaction,
    and `_pingpipe.replays` records it. A ping that fails as it did stays as it was; one that fails
    otherwise gets its new error. Counted duplicates, and rows without a URI, are never replayed.

    On BigQuery (--warehouse bigquery:PROJECT) a Beam job decodes where the data is, into staged
    tables, and one transaction then moves the rows in and the replayed error rows out.
    """
    from pingpipe.up import tasks
    from pingpipe.up.replay import Selection

    if since and until and until < since:
        raise click.UsageError("--until is before --since")
    if ctx.args and target.kind != BIGQUERY:
        raise click.UsageError(f"unknown option {ctx.args[0]!r} (Beam's pipeline options go with --warehouse bigquery:PROJECT)")
    if isinstance(schemas, str) and target.kind != BIGQUERY:
        raise click.BadParameter("a bundle in storage is for a replay on BigQuery: give a registry folder", param_hint="--schemas")
    selection = Selection(since.date() if since else None, until.date() if until else None, namespaces, doctypes, error_types)
    report = tasks.replay(
        target, selection, dry_run=dry_run, cycle_days=not no_cycle, schemas=schemas, progress=progress, beam_args=ctx.args
    )
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
    if "held_back" in report:
        click.echo(f"picked up to {report['held_back']}: newer error rows are in BigQuery's streaming buffer; replay them later")
    for table, n in report.get("shredded", {}).items():
        click.echo(f"{table}: shredded {n} recovered row(s) of clients whose deletion was processed")
    for day, rows in report.get("cycled", {}).items():
        click.echo(f"daily cycle for {day} run again: stable {rows} row(s)")
