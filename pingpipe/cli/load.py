"""`pingpipe load` and `pingpipe dedupe`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("load", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--input", "inputs", multiple=True, required=True,
              help="file:GLOB of decoded/error raw-message lines, or pubsub:projects/P/subscriptions/S (repeatable)")
@click.option("--warehouse", required=True, help="duckdb:PATH or bigquery:PROJECT")
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--batch-size", type=int, default=5000, show_default=True)
@click.pass_context
def load(ctx, inputs, warehouse, schemas, batch_size):
    """Load decoded pings into their tables and errors into payload_bytes_error.*"""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pingpipe.decoder.io import ReadRaw, SpecError, parse_input

    from pingpipe.loader.sink import WriteToWarehouse, open_warehouse

    try:
        sources = [parse_input(spec) for spec in inputs]
        kind = warehouse.partition(":")[0]
        if kind not in ("duckdb", "bigquery") or not warehouse.partition(":")[2]:
            raise SpecError(f"warehouse {warehouse!r}: expected duckdb:PATH or bigquery:PROJECT")
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    options = PipelineOptions(ctx.args)
    if any(s.streaming for s in sources):
        options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as pipeline:
        streams = [pipeline | f"Read{i}" >> ReadRaw(source) for i, source in enumerate(sources)]
        messages = streams | "All" >> beam.Flatten()
        messages | "Load" >> WriteToWarehouse(warehouse, schemas, batch_size)
    if kind == "duckdb":
        writer = open_warehouse(warehouse)
        rows = writer.query("SELECT dataset, name FROM _pingpipe.tables ORDER BY 1, 2").fetchall()
        for dataset, name in rows:
            count = writer.query(f'SELECT count(*) FROM "{dataset}"."{name}"').fetchone()[0]
            click.echo(f"{dataset}.{name}: {count} row(s)")


@click.command("dedupe")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="The day (UTC) to copy.")
@click.option("--warehouse", default=None, help="duckdb:PATH (default: the warehouse of --data)")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=Path("pingpipe-data"), show_default=True,
              envvar="PINGPIPE_DATA", help="`pingpipe up`'s data folder; while it runs, the copy runs inside it.")
def dedupe(day, warehouse, data):
    """Copy a day of every live table into <family>_stable, one row per document_id; make the views."""
    from pingpipe.loader.sink import open_warehouse
    from pingpipe.loader.stable import copy_deduplicate

    if warehouse is None:
        from pingpipe.up.admin import NotRunning, call
        from pingpipe.up.warehouse import QueryError

        try:  # a running `pingpipe up` holds the file: ask it to do the copy
            kept = call(data, "POST", f"/dedupe?date={day.date()}")["kept"]
        except NotRunning:
            warehouse = f"duckdb:{data / 'warehouse.duckdb'}"
        except QueryError as exc:
            raise click.ClickException(str(exc)) from None
        else:
            for table, count in kept.items():
                click.echo(f"{table} {day.date()}: {count} row(s)")
            return
    if not warehouse.startswith("duckdb:"):
        raise click.ClickException("dedupe runs on the DuckDB warehouse; on BigQuery use bigquery-etl's copy_deduplicate")
    if not Path(warehouse.partition(":")[2]).exists():
        raise click.ClickException(f"no warehouse at {warehouse.partition(':')[2]}")
    writer = open_warehouse(warehouse)
    for table, count in copy_deduplicate(writer, day.date()).items():
        click.echo(f"{table} {day.date()}: {count} row(s)")
