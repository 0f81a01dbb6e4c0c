"""`pingpipe edge`: the HTTP edge."""

from __future__ import annotations

from pathlib import Path

import click

from .config import DEFAULT_HEADERS, ConfigError, EdgeConfig, load_route_table


@click.command("edge")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="PINGPIPE_EDGE_HOST")
@click.option("--port", default=8080, show_default=True, type=int, envvar="PINGPIPE_EDGE_PORT")
@click.option("--workers", default=1, show_default=True, type=int, envvar="PINGPIPE_EDGE_WORKERS",
              help="Worker processes sharing the port; each writes its own queue segments.")
@click.option("--queue", "queue_dir", type=click.Path(file_okay=False, path_type=Path), envvar="PINGPIPE_EDGE_QUEUE",
              help="Local durable queue directory (embedded transport), or Pub/Sub's disk fallback.")
@click.option("--pubsub-project", envvar="PINGPIPE_EDGE_PUBSUB_PROJECT", help="Publish to Google Cloud Pub/Sub in this project.")
@click.option("--route-table", type=click.Path(dir_okay=False, path_type=Path), envvar="PINGPIPE_EDGE_ROUTE_TABLE",
              help='JSON list of [uri pattern, topic(, methods)], e.g. [["/submit/<suffix:path>", "raw"]].')
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True, type=int, envvar="PINGPIPE_EDGE_MAX_BODY_BYTES")
@click.option("--publish-timeout", default=1.0, show_default=True, type=float, envvar="PINGPIPE_EDGE_PUBLISH_TIMEOUT",
              help="Seconds to wait for a Pub/Sub ack before spooling to disk.")
@click.option("--min-free-bytes", default=100 * 1024 * 1024, show_default=True, type=int, envvar="PINGPIPE_EDGE_MIN_FREE_BYTES",
              help="Answer 507 when the queue's disk has less free space than this.")
@click.option("--metrics-port", type=int, default=None, envvar="PINGPIPE_EDGE_METRICS_PORT", help="Serve Prometheus metrics here.")
@click.option("--header", "headers", multiple=True, envvar="PINGPIPE_EDGE_HEADERS",
              help="Request header to keep as an attribute (repeatable; replaces the default list).")
@click.option("--segment-max-age", default=1.0, show_default=True, type=float, envvar="PINGPIPE_EDGE_SEGMENT_MAX_AGE",
              help="Seconds before an open queue segment is sealed for readers.")
def edge(host, port, workers, queue_dir, pubsub_project, route_table, max_body_bytes, publish_timeout,
         min_free_bytes, metrics_port, headers, segment_max_age):
    """Run the HTTP edge: accept pings at /submit/..., answer 200 once each is durable."""
    from .server import run

    try:
        routes = load_route_table(route_table, pubsub_project) if route_table else ()
        config = EdgeConfig(
            host=host, port=port, workers=workers, queue_dir=queue_dir, pubsub_project=pubsub_project, routes=routes,
            max_body_bytes=max_body_bytes, publish_timeout=publish_timeout, min_free_bytes=min_free_bytes,
            metrics_port=metrics_port, metadata_headers=tuple(headers) or DEFAULT_HEADERS, segment_max_age=segment_max_age,
        ).check()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    where = f"Pub/Sub project {pubsub_project} (disk fallback {config.spool_dir})" if config.uses_pubsub else f"queue {config.spool_dir}"
    click.echo(f"pingpipe edge on http://{host}:{port}/submit/... -> {where}", err=True)
    run(config)
