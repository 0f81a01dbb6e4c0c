"""`pingpipe decode`: run the decoder pipeline (DirectRunner here; Dataflow, Flink, Spark at scale)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from pingpipe.decoder.core import DecoderConfig
from pingpipe.decoder.dedupe import DedupeConfig

from .beamrun import errors_by_type, run_and_report
from .target import SCHEMAS, bigquery_options, require_location


@click.command("decode", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--input", "input_spec", required=True, help="file:GLOB of raw-message lines, or pubsub:projects/P/subscriptions/S")
@click.option(
    "--output",
    "output_spec",
    required=True,
    help="file:PREFIX or pubsub:projects/P/topics/T for decoded messages, or duckdb:PATH / bigquery:PROJECT "
    "to load them into tables in the same pipeline",
)
@click.option(
    "--errors",
    "errors_spec",
    default=None,
    help="file:PREFIX or pubsub:projects/P/topics/T for the error output (default with a warehouse --output: its error tables)",
)
@click.option(
    "--schemas",
    type=SCHEMAS,
    default=None,
    help="Schema repository, or a bundle of one in storage, gs://BUCKET/schemas.tar.gz, which each worker fetches "
    "when it starts (default: the schemas that ship with pingpipe).",
)
@click.option(
    "--geoip-db",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    envvar="PINGPIPE_GEOIP_DB",
    help="MaxMind City database (.mmdb).",
)
@click.option(
    "--geo-city-filter",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="GeoNames cities file; cities not in it (or below --min-city-population) are not reported.",
)
@click.option("--min-city-population", type=int, default=15000, show_default=True)
@click.option(
    "--max-payload-bytes",
    type=int,
    default=8 * 1024 * 1024,
    show_default=True,
    help="Largest decompressed payload; larger ones (gzip bombs) are errors.",
)
@bigquery_options
@click.option(
    "--forwarded-hops",
    type=click.IntRange(min=0),
    default=DecoderConfig.forwarded_hops,
    show_default=True,
    help="Where the client is in X-Forwarded-For: the entry this far from the end, the first your front door "
    "appended (2 behind Google's HTTPS load balancer alone; 0 trusts none and takes the edge's peer).",
)
@click.option(
    "--dedupe-window",
    type=float,
    default=DedupeConfig.window,
    show_default=True,
    help="Streaming: seconds a delivered document id is remembered; a copy within it is a duplicate.",
)
@click.pass_context
def decode(
    ctx,
    input_spec,
    output_spec,
    errors_spec,
    schemas,
    geoip_db,
    geo_city_filter,
    min_city_population,
    max_payload_bytes,
    bigquery_location,
    dead_letter,
    forwarded_hops,
    dedupe_window,
):
    """Decode raw messages into validated, identifier-free pings, or errors.

    Extra arguments are Beam pipeline options, e.g. --runner DataflowRunner --project P
    --region R --temp_location gs://... --extra_package dist/pingpipe-0.1.0-py3-none-any.whl (pingpipe for
    the workers: `pip wheel --no-deps -w dist .`; or a worker image, deploy/dataflow/Dockerfile).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pingpipe.decoder.build import build_pipeline, one_process
    from pingpipe.decoder.io import SpecError, parse_input
    from pingpipe.loader.sink import WriteToWarehouse
    from pingpipe.loader.writers.bigquery import BigQueryConfig

    if geoip_db is not None:
        from pingpipe.decoder.steps.geo import GeoDatabaseError, check_database

        try:
            check_database(geoip_db)
        except GeoDatabaseError as exc:
            raise click.BadParameter(str(exc), param_hint="--geoip-db") from None
    config = DecoderConfig(
        schemas=schemas,
        geoip_db=geoip_db,
        geo_city_filter=geo_city_filter,
        min_city_population=min_city_population,
        max_payload_bytes=max_payload_bytes,
        forwarded_hops=forwarded_hops,
    )
    require_location(output_spec, bigquery_location, "--output")
    try:
        streaming = parse_input(input_spec).streaming
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None
    options = PipelineOptions(ctx.args)
    options.view_as(StandardOptions).streaming = streaming or options.view_as(StandardOptions).streaming
    if output_spec.startswith("duckdb:") and not one_process(options):
        raise click.BadParameter(
            "a DuckDB file is written by one process, and these options run workers in several: "
            "write file: outputs and `pingpipe load` them, or write to bigquery:PROJECT",
            param_hint="--output",
        )
    from pingpipe.decoder import ondask

    if ondask.is_dask(options.view_as(StandardOptions).runner):
        return decode_on_dask(options, config, input_spec, output_spec, errors_spec)
    pipeline = beam.Pipeline(options=options)
    try:
        load = functools.partial(WriteToWarehouse, bigquery=BigQueryConfig(bigquery_location, dead_letter))
        build_pipeline(pipeline, config, input_spec, output_spec, errors_spec, dedupe_window, show_progress=True, load=load)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(run_and_report(pipeline, decoded_summary))


def decoded_summary(counts) -> str:
    return (
        f"read {counts['decoder.in']}: decoded {counts['decoder.out'] - counts['decoder.duplicate']}, "
        f"duplicates {counts['decoder.duplicate']}, errors by type: {errors_by_type(counts, 'decoder')}"
    )


def decode_on_dask(options, config: DecoderConfig, input_spec: str, output_spec: str, errors_spec: str | None) -> None:
    """Batch, files to files, on a Dask cluster (`--dask_client_address`, else a local one): the
    bag gets a partition per byte range of the input unless --dask_npartitions says otherwise."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    from pingpipe.decoder import ondask
    from pingpipe.decoder.io import SpecError, parse_input, parse_output

    try:
        import distributed  # noqa: F401 - the DaskRunner needs it, and says so only once it runs
        from apache_beam.runners.dask.dask_runner import DaskOptions
    except ImportError:
        raise click.ClickException("the DaskRunner needs dask: pip install 'pingpipe[dask]'") from None
    if options.view_as(StandardOptions).streaming:
        raise click.BadParameter("the DaskRunner runs batch only: read files (file:GLOB)", param_hint="--input")
    if not errors_spec:
        raise click.BadParameter("give --errors file:PREFIX (on the DaskRunner, outputs are files)", param_hint="--errors")
    options.view_as(StandardOptions).runner = ondask.RUNNER
    try:
        ranges = ondask.input_ranges(parse_input(input_spec))
        outputs = {"decoded": parse_output(output_spec), "errors": parse_output(errors_spec)}
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    dask = options.view_as(DaskOptions)
    if dask.npartitions is None and dask.partition_size is None:
        dask.npartitions = len(ranges)  # before the pipeline is made: it reads its options then
    pipeline = beam.Pipeline(options=options)
    try:
        ondask.build(pipeline, config, ranges, outputs)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    result = pipeline.run()
    try:
        result.wait_until_finish()
    finally:
        result.client.close()
    click.echo(
        f"decoded on the DaskRunner in {dask.npartitions or len(ranges)} partition(s); it reports no counters: "
        "`pingpipe load` the outputs to count them"
    )
