"""`pingpipe dictionary build`: the data dictionary as a static site."""

from __future__ import annotations

from pathlib import Path

import click

from pingpipe.dictionary.charts import ChartConfig

from .etl import SCHEMAS_HELP, SQL_HELP, ordered_queries, registry_of


def chart_min_clients_option(envvar: str | None = None):
    """The least clients a chart's day or value needs to be shown: `up`'s and `dictionary serve`'s."""
    return click.option(
        "--chart-min-clients",
        default=ChartConfig.min_clients,
        show_default=True,
        type=click.IntRange(min=1),
        envvar=envvar,
        help="The dictionary's charts leave out a day or value sent by fewer clients than this.",
    )


@click.group("dictionary")
def dictionary():
    """The data dictionary: apps → pings → metrics → the table and column each lands in.

    `pingpipe up` serves it live (with row counts and a debug viewer) at the address its banner prints."""


@dictionary.command("build")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the site into (open it through any static web server).",
)
@click.option(
    "--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, envvar="PINGPIPE_SCHEMAS", help=SCHEMAS_HELP
)
@click.option("--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SQL_HELP)
def build(out, schemas, sql):
    """Write every page of the dictionary as a static site, without warehouse figures."""
    from pingpipe.dictionary import catalog
    from pingpipe.dictionary.pages import Site, build_site
    from pingpipe.schemas import definitions

    registry = registry_of(schemas)
    d = catalog.build(registry, ordered_queries(registry, sql), definitions.load(registry.root))
    for folder, problem in d.problems.items():
        click.echo(f"skipped the definitions in {folder}: {problem}", err=True)
    try:
        count = build_site(Site(d), out)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    metrics = sum(len(a.metrics) for a in d.apps.values())
    click.echo(
        f"wrote {count} file(s) to {out}: {len(d.apps)} app(s), {metrics} metric(s), {len(d.tables)} table(s); "
        f"open {out / 'index.html'} through a web server (e.g. python3 -m http.server -d {out})"
    )


@dictionary.command("serve")
@click.option(
    "--warehouse",
    required=True,
    metavar="bigquery:PROJECT",
    help="The BigQuery project whose tables the metric pages' charts read (`pingpipe up` serves the dictionary of its own warehouse).",
)
@click.option(
    "--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, envvar="PINGPIPE_SCHEMAS", help=SCHEMAS_HELP
)
@click.option("--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SQL_HELP)
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1 (0: any free port).")
@chart_min_clients_option()
def serve(warehouse, schemas, sql, port, chart_min_clients):
    """Serve the dictionary with its metric charts read from BigQuery, on 127.0.0.1, until Ctrl-C.

    Each chart is one query with a partition filter on its days, at most the client's bytes-billed
    ceiling; its rows are kept for a minute. Open the link it prints (it carries the page's token)."""
    import signal
    import threading

    from markupsafe import escape

    from pingpipe.dictionary import catalog, chartdata
    from pingpipe.dictionary.pages import Site
    from pingpipe.dictionary.server import UIServer
    from pingpipe.loader.writers.bigquery import make_client

    kind, _, project = warehouse.partition(":")
    if kind != "bigquery" or not project:
        raise click.BadParameter("give bigquery:PROJECT", param_hint="--warehouse")
    registry = registry_of(schemas)
    config = ChartConfig(min_clients=chart_min_clients)
    site = Site(
        lambda: catalog.for_registry(registry, sql),
        charts=chartdata.ChartQueries(chartdata.on_bigquery(make_client(project)), config),
        chart_config=config,
        source=f"BigQuery project <code>{escape(project)}</code>",
    )
    try:
        server = UIServer(site, "127.0.0.1", port)
    except OSError as exc:
        raise click.ClickException(f"the dictionary could not start on 127.0.0.1:{port}: {exc.strerror}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    click.echo(f"dictionary of bigquery:{project} at {server.link}   (Ctrl-C stops it)", err=False)
    stop.wait()
    server.close()
