"""`pingpipe load` and `pingpipe dedupe`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pingpipe.private import private_folder

from .beamrun import run_counted
from .up import DATA_HELP


def warehouse_spec(value: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    """(kind, target) of a --warehouse value; a mistake is one line that says what would work."""
    kind, sep, target = value.partition(":")
    if sep and kind in kinds and target:
        return kind, target
    if kind == "bigquery" and "bigquery" not in kinds:
        raise click.BadParameter("this command runs on the DuckDB warehouse (duckdb:PATH, or --data DIR)", param_hint="--warehouse")
    if "duckdb" in kinds:
        hint = f" (did you mean duckdb:{value}?)" if not sep or value.endswith(".duckdb") else ""
    else:
        hint = " (a DuckDB warehouse is --data's)"
    raise click.BadParameter(
        f"{value!r}: expected {' or '.join(k + (':PATH' if k == 'duckdb' else ':PROJECT') for k in kinds)}{hint}", param_hint="--warehouse"
    )


def bigquery_project(value: str) -> str:
    """PROJECT of `bigquery:PROJECT`, for the commands that run there or on --data's warehouse."""
    return warehouse_spec(value, ("bigquery",))[1]


def require_free(path: Path) -> None:
    """A DuckDB file another process holds (a running `pingpipe up`) cannot be written: say so now, in one line."""
    from pingpipe.up.admin import read_state

    state = read_state(path.parent)
    if state and Path(state.get("warehouse", "")).resolve() == path.resolve():
        raise click.ClickException(
            f"pingpipe up (PID {state['pid']}) holds {path}: stop it first, or send the pings to its edge ({state.get('edge', '')})"
        )
    if not path.exists():
        return
    import duckdb

    from pingpipe.loader.writers.duckdb import connect, disconnect

    try:  # waits, as every open does, while another process holds the file (writers/locks.py)
        disconnect(connect(path), path)
    except duckdb.Error as exc:
        raise click.ClickException(f"cannot open {path}: {str(exc).splitlines()[0]}") from None


@click.command("load", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    help="file:GLOB of decoded/error raw-message lines, or pubsub:projects/P/subscriptions/S (repeatable)",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("pingpipe-data"),
    show_default=True,
    envvar="PINGPIPE_DATA",
    help=DATA_HELP,
)
@click.option("--warehouse", default=None, help="duckdb:PATH or bigquery:PROJECT (default: the warehouse of --data).")
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, envvar="PINGPIPE_SCHEMAS")
@click.option("--batch-size", type=int, default=5000, show_default=True)
@click.pass_context
def load(ctx, inputs, data, warehouse, schemas, batch_size):
    """Load decoded pings into their tables and errors into payload_bytes_error.*"""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pingpipe.decoder.io import ReadRaw, SpecError, parse_input
    from pingpipe.loader.sink import WriteToWarehouse, open_warehouse

    try:
        sources = [parse_input(spec) for spec in inputs]
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    if warehouse is None:
        private_folder(data)
        warehouse = f"duckdb:{data / 'warehouse.duckdb'}"
    kind, path = warehouse_spec(warehouse, ("duckdb", "bigquery"))
    if kind == "duckdb":
        require_free(Path(path))
    options = PipelineOptions(ctx.args)
    if any(s.streaming for s in sources):
        options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=options)
    streams = [pipeline | f"Read{i}" >> ReadRaw(source) for i, source in enumerate(sources)]
    messages = streams | "All" >> beam.Flatten()
    messages | "Load" >> WriteToWarehouse(warehouse, schemas, batch_size)
    counts = run_counted(pipeline)
    click.echo(
        f"loaded {counts['loader.rows']} row(s), {counts['loader.errors']} error row(s), "
        f"{counts['loader.duplicates']} duplicate(s)"
        + (f"; {counts['loader.already_loaded']} already in their tables, skipped" if counts["loader.already_loaded"] else "")
    )
    if counts["loader.not_raw"]:  # error rows like any other (nothing is lost), but most likely the wrong file
        click.echo(
            f'  {counts["loader.not_raw"]} line(s) are not raw messages ({{"attributeMap": …, "payload": …}}): '
            "error rows of type ParseRawMessage; `pingpipe load` reads raw-message lines, the decoder's outputs",
            err=True,
        )
    if kind == "duckdb":
        writer = open_warehouse(warehouse)
        rows = writer.query("SELECT dataset, name FROM _pingpipe.tables ORDER BY 1, 2").fetchall()
        for dataset, name in rows:
            count = writer.query(f'SELECT count(*) FROM "{dataset}"."{name}"').fetchone()[0]
            click.echo(f"  {dataset}.{name}: {count} row(s)")


@click.command("dedupe")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day (UTC) to copy [default: yesterday, as `etl run` and `cycle`].",
)
@click.option("--warehouse", default=None, help="duckdb:PATH or bigquery:PROJECT (default: the warehouse of --data)")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("pingpipe-data"),
    show_default=True,
    envvar="PINGPIPE_DATA",
    help="`pingpipe up`'s data folder; while it runs, the copy runs inside it.",
)
def dedupe(day, warehouse, data):
    """Copy a day of every live table into <family>_stable, one row per document_id; make the views."""
    from pingpipe import utc
    from pingpipe.loader.sink import open_warehouse
    from pingpipe.loader.stable import copy_deduplicate

    day = day or dt.datetime.combine(utc.yesterday(), dt.time())
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
    kind, path = warehouse_spec(warehouse, ("duckdb", "bigquery"))
    if kind == "bigquery":  # jobs where the data is: a DELETE and an INSERT … SELECT per table
        from pingpipe.loader.stable import copy_deduplicate_bigquery
        from pingpipe.loader.writers.bigquery import make_client

        for table, count in copy_deduplicate_bigquery(make_client(path), path, day.date()).items():
            click.echo(f"{table} {day.date()}: {count} row(s)")
        return
    if not Path(path).exists():
        raise click.ClickException(f"no warehouse at {path}")
    require_free(Path(path))
    writer = open_warehouse(warehouse)
    for table, count in copy_deduplicate(writer, day.date()).items():
        click.echo(f"{table} {day.date()}: {count} row(s)")
