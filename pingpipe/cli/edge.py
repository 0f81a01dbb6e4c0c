"""`pingpipe edge`: the HTTP edge."""

from __future__ import annotations

from pathlib import Path

import click

from pingpipe.edge.config import DEFAULT_HEADERS, ConfigError, EdgeConfig, load_route_table
from pingpipe.reason import one_line

D = EdgeConfig  # every default comes from the dataclass: one place for them


def web_options(envvar_prefix: str):
    """--tls-cert, --tls-key and --cors-origin: what web pages' pings need, for `edge` and `up` alike."""

    def decorate(command):
        for option in reversed(
            [
                click.option(
                    "--tls-cert",
                    type=click.Path(exists=True, dir_okay=False, path_type=Path),
                    default=None,
                    envvar=f"{envvar_prefix}TLS_CERT",
                    help="Serve HTTPS with this certificate (PEM; with --tls-key).",
                ),
                click.option(
                    "--tls-key",
                    type=click.Path(exists=True, dir_okay=False, path_type=Path),
                    default=None,
                    envvar=f"{envvar_prefix}TLS_KEY",
                    help="The certificate's private key (PEM).",
                ),
                click.option(
                    "--cors-origin",
                    "cors_origins",
                    multiple=True,
                    envvar=f"{envvar_prefix}CORS_ORIGINS",
                    help="An origin whose web pages may send pings with fetch (repeatable; default: any, `*`).",
                ),
            ]
        ):
            command = option(command)
        return command

    return decorate


@click.command("edge")
@click.option("--host", default=D.host, show_default=True, envvar="PINGPIPE_EDGE_HOST")
@click.option("--port", default=D.port, show_default=True, type=int, envvar="PINGPIPE_EDGE_PORT")
@click.option(
    "--workers",
    default=D.workers,
    show_default=True,
    type=int,
    envvar="PINGPIPE_EDGE_WORKERS",
    help="Worker processes sharing the port; each writes its own queue segments.",
)
@click.option(
    "--queue",
    "queue_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PINGPIPE_EDGE_QUEUE",
    help="Local durable queue directory (embedded transport), or Pub/Sub's disk fallback.",
)
@click.option("--pubsub-project", envvar="PINGPIPE_EDGE_PUBSUB_PROJECT", help="Publish to Google Cloud Pub/Sub in this project.")
@click.option(
    "--route-table",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="PINGPIPE_EDGE_ROUTE_TABLE",
    help='JSON list of [uri pattern, topic(, methods)], e.g. [["/submit/<suffix:path>", "raw"]].',
)
@click.option("--max-body-bytes", default=D.max_body_bytes, show_default=True, type=int, envvar="PINGPIPE_EDGE_MAX_BODY_BYTES")
@web_options("PINGPIPE_EDGE_")
@click.option(
    "--shutdown-drain-seconds",
    default=D.shutdown_drain_seconds,
    show_default=True,
    type=click.FloatRange(min=0),
    envvar="PINGPIPE_EDGE_SHUTDOWN_DRAIN_SECONDS",
    help="On SIGTERM, how long requests in flight may take to finish before their connections close.",
)
@click.option(
    "--shutdown-flush-seconds",
    default=D.shutdown_flush_seconds,
    show_default=True,
    type=click.FloatRange(min=0),
    envvar="PINGPIPE_EDGE_SHUTDOWN_FLUSH_SECONDS",
    help="On SIGTERM, how long to republish what was spooled to disk during a Pub/Sub outage.",
)
@click.option(
    "--publish-timeout",
    default=D.publish_timeout,
    show_default=True,
    type=float,
    envvar="PINGPIPE_EDGE_PUBLISH_TIMEOUT",
    help="Seconds to wait for a Pub/Sub ack before spooling to disk.",
)
@click.option(
    "--min-free-bytes",
    default=D.min_free_bytes,
    show_default=True,
    type=int,
    envvar="PINGPIPE_EDGE_MIN_FREE_BYTES",
    help="Answer 507 when the queue's disk has less free space than this.",
)
@click.option("--metrics-port", type=int, default=None, envvar="PINGPIPE_EDGE_METRICS_PORT", help="Serve Prometheus metrics here.")
@click.option(
    "--header",
    "headers",
    multiple=True,
    envvar="PINGPIPE_EDGE_HEADERS",
    help="Request header to keep as an attribute (repeatable; replaces the default list).",
)
@click.option(
    "--segment-max-age",
    default=D.segment_max_age,
    show_default=True,
    type=float,
    envvar="PINGPIPE_EDGE_SEGMENT_MAX_AGE",
    help="Seconds before an open queue segment is sealed for readers.",
)
@click.option(
    "--max-url-bytes",
    default=D.max_url_bytes,
    show_default=True,
    type=int,
    envvar="PINGPIPE_EDGE_MAX_URL_BYTES",
    help="Longest request target (path and query) read; longer gets 414.",
)
@click.option(
    "--max-header-bytes",
    default=D.max_header_bytes,
    show_default=True,
    type=int,
    envvar="PINGPIPE_EDGE_MAX_HEADER_BYTES",
    help="Most bytes of url, header names and values read; more gets 431.",
)
@click.option(
    "--max-headers",
    default=D.max_headers,
    show_default=True,
    type=int,
    envvar="PINGPIPE_EDGE_MAX_HEADERS",
    help="Most header lines read; more gets 431.",
)
@click.option(
    "--keep-alive-timeout",
    default=D.keep_alive_timeout,
    show_default=True,
    type=float,
    envvar="PINGPIPE_EDGE_KEEP_ALIVE_TIMEOUT",
    help="Seconds a connection may wait, idle, for its next (or first) request.",
)
@click.option(
    "--header-timeout",
    default=D.header_timeout,
    show_default=True,
    type=float,
    envvar="PINGPIPE_EDGE_HEADER_TIMEOUT",
    help="Seconds from a request's first byte to the end of its headers; else 408.",
)
@click.option(
    "--body-timeout",
    default=D.body_timeout,
    show_default=True,
    type=float,
    envvar="PINGPIPE_EDGE_BODY_TIMEOUT",
    help="Seconds from the end of the headers to the end of the body; else 408.",
)
@click.option(
    "--fd-reserve",
    default=D.fd_reserve,
    show_default=True,
    type=int,
    envvar="PINGPIPE_EDGE_FD_RESERVE",
    help="Open-file descriptors kept for the queue: connections beyond the limit minus these get 503.",
)
@click.option(
    "--drain",
    is_flag=True,
    help="Serve nothing: republish the spool in --queue to Pub/Sub (retrying while it refuses), and exit once "
    "it is empty. For a volume whose pod is gone (deploy/kubernetes/drain-spool.yaml).",
)
def edge(
    host,
    port,
    workers,
    queue_dir,
    pubsub_project,
    route_table,
    max_body_bytes,
    tls_cert,
    tls_key,
    cors_origins,
    shutdown_drain_seconds,
    shutdown_flush_seconds,
    publish_timeout,
    min_free_bytes,
    metrics_port,
    headers,
    segment_max_age,
    max_url_bytes,
    max_header_bytes,
    max_headers,
    keep_alive_timeout,
    header_timeout,
    body_timeout,
    fd_reserve,
    drain,
):
    """Run the HTTP edge: accept pings at /submit/..., answer 200 once each is durable."""
    from pingpipe.edge.server import run

    try:
        routes = load_route_table(route_table, pubsub_project) if route_table else ()
        config = EdgeConfig(
            host=host,
            port=port,
            workers=workers,
            queue_dir=queue_dir,
            pubsub_project=pubsub_project,
            routes=routes,
            max_body_bytes=max_body_bytes,
            publish_timeout=publish_timeout,
            min_free_bytes=min_free_bytes,
            shutdown_drain_seconds=shutdown_drain_seconds,
            shutdown_flush_seconds=shutdown_flush_seconds,
            tls_cert=tls_cert,
            tls_key=tls_key,
            cors_origins=tuple(cors_origins) or D.cors_origins,
            metrics_port=metrics_port,
            metadata_headers=tuple(headers) or DEFAULT_HEADERS,
            segment_max_age=segment_max_age,
            max_url_bytes=max_url_bytes,
            max_header_bytes=max_header_bytes,
            max_headers=max_headers,
            keep_alive_timeout=keep_alive_timeout,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            fd_reserve=fd_reserve,
        ).check()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if config.uses_pubsub:
        _require_credentials(pubsub_project)
    if drain:
        from pingpipe.edge.server import drain as drain_spool

        if not config.uses_pubsub or queue_dir is None:
            raise click.UsageError("--drain needs --queue and Pub/Sub (--pubsub-project and --route-table)")
        click.echo(f"draining {config.spool_dir} to Pub/Sub project {pubsub_project}", err=True)
        from pingpipe.edge.publish.pubsub import unroutable

        total = drain_spool(config, lambda n, left: click.echo(f"  republished {n}, {left} segment(s) left", err=True))
        kept = unroutable(config.spool_dir)
        if kept:  # accepted pings: the volume must not be deleted with them
            lines = sum(len(p.read_bytes().splitlines()) for p in kept)
            raise click.ClickException(
                f"republished {total} message(s); {lines} match no route of the route table and stay in "
                f"{', '.join(p.name for p in kept)} in {config.spool_dir}: route or move them before deleting the volume"
            )
        click.echo(f"drained {config.spool_dir}: republished {total} message(s); it is empty")
        return
    where = f"Pub/Sub project {pubsub_project} (disk fallback {config.spool_dir})" if config.uses_pubsub else f"queue {config.spool_dir}"
    scheme = "https" if config.tls_cert else "http"
    click.echo(f"pingpipe edge on {scheme}://{host}:{port}/submit/... -> {where}", err=True)
    run(config)


def _require_credentials(project: str) -> None:
    """Say now, in one line, that Pub/Sub cannot be reached without credentials (not at the first ping)."""
    import os

    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError as exc:
        cause = one_line(exc)
        raise click.ClickException(
            f"no Google credentials for Pub/Sub project {project} ({cause}): set GOOGLE_APPLICATION_CREDENTIALS, run "
            "`gcloud auth application-default login`, or set PUBSUB_EMULATOR_HOST for the emulator"
        ) from None


@click.command("pubsub-setup")
@click.option("--pubsub-project", required=True, envvar="PINGPIPE_EDGE_PUBSUB_PROJECT", help="The project of the topics.")
@click.option(
    "--route-table",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="PINGPIPE_EDGE_ROUTE_TABLE",
    help="The edge's route table: its topics are the raw topics.",
)
@click.option("--errors-topic", default="errors", show_default=True, help="The decoder's error topic (--errors pubsub:...).")
def pubsub_setup(pubsub_project, route_table, errors_topic):
    """Create the Pub/Sub topics and subscriptions a deployment needs, if missing: each raw topic of the
    route table with its `<topic>-decoder` subscription, and the errors topic with `<errors>-loader`."""
    from pingpipe.edge import topics

    try:
        routes = load_route_table(route_table, pubsub_project)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _require_credentials(pubsub_project)
    for line in topics.apply(topics.plan(routes, pubsub_project, errors_topic)):
        click.echo(line)
