"""`pingpipe load` and `pingpipe dedupe`."""

from __future__ import annotations

import click

from pingpipe import utc
from pingpipe.private import private_folder
from pingpipe.up.target import BIGQUERY, DUCKDB

from .beamrun import run_and_report
from .target import SCHEMAS, bigquery_options, on_target, require_location


@click.command("load", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    help="file:GLOB of decoded/error raw-message lines, or pubsub:projects/P/subscriptions/S (repeatable)",
)
@on_target((DUCKDB, BIGQUERY), up=False)
@click.option(
    "--schemas",
    type=SCHEMAS,
    default=None,
    envvar="PINGPIPE_SCHEMAS",
    help="Schema repository, or gs://BUCKET/schemas.tar.gz (default: the shipped schemas).",
)
@click.option("--batch-size", type=int, default=5000, show_default=True)
@bigquery_options
@click.pass_context
def load(ctx, inputs, target, schemas, batch_size, bigquery_location, dead_letter):
    """Load decoded pings into their tables and errors into payload_bytes_error.*"""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pingpipe.decoder.io import SpecError, parse_input
    from pingpipe.loader.sink import build_load

    require_location(target.spec, bigquery_location, "--warehouse")
    try:
        sources = [parse_input(spec) for spec in inputs]
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    if target.kind == DUCKDB:
        if target.data is not None:
            private_folder(target.data)
        target.require_free()
    options = PipelineOptions(ctx.args)
    if any(s.streaming for s in sources):
        options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=options)
    from pingpipe.loader.writers.bigquery import BigQueryConfig

    build_load(pipeline, sources, target.spec, schemas, batch_size, BigQueryConfig(bigquery_location, dead_letter))
    click.echo(run_and_report(pipeline, loaded_summary))
    if target.kind == DUCKDB and target.path.exists():  # no line read: no file made
        with target.writable() as writer:
            for table, count in writer.row_counts().items():
                click.echo(f"  {table}: {count} row(s)")


def loaded_summary(counts) -> str:
    if counts["loader.not_raw"]:  # error rows like any other (nothing is lost), but most likely the wrong file
        click.echo(
            f'  {counts["loader.not_raw"]} line(s) are not raw messages ({{"attributeMap": …, "payload": …}}): '
            "error rows of type ParseRawMessage; `pingpipe load` reads raw-message lines, the decoder's outputs",
            err=True,
        )
    skipped = counts["loader.already_loaded"]
    line = f"loaded {counts['loader.rows']} row(s), {counts['loader.errors']} error row(s), {counts['loader.duplicates']} duplicate(s)"
    return line + (f"; {skipped} already in their tables, skipped" if skipped else "")


@click.command("dedupe")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day (UTC) to copy [default: yesterday, as `etl run` and `cycle`].",
)
@on_target((DUCKDB, BIGQUERY), data_help="`pingpipe up`'s data folder; while it runs, the copy runs inside it.")
def dedupe(day, target):
    """Copy a day of every live table into <family>_stable, one row per document_id; make the views."""
    from pingpipe.up import tasks

    day = utc.day_or_yesterday(day)
    for table, count in tasks.dedupe(target, day).items():
        click.echo(f"{table} {day}: {count} row(s)")
