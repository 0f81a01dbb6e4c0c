"""`pingpipe up`, `pingpipe query`, `pingpipe status`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pingpipe.dictionary.charts import ChartConfig
from pingpipe.up.config import UI_PORT, UpConfig

from .dictionary import chart_min_clients_option
from .edge import web_options
from .target import data_option, on_target


@click.command("up")
@click.option(
    "--schemas",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    envvar="PINGPIPE_SCHEMAS",
    help="Schema repository (default: the schemas that ship with pingpipe, incl. a demo app).",
)
@data_option()
@click.option("--host", default=UpConfig.host, show_default=True)
@click.option(
    "--port",
    default=UpConfig.port,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="PINGPIPE_PORT",
    help="The edge's port: POST pings to http://HOST:PORT/submit/...",
)
@click.option(
    "--admin-port",
    default=UpConfig.admin_port,
    type=click.IntRange(0, 65535),
    help="Port for queries while running (default: any free one).",
)
@click.option(
    "--metrics-port",
    default=UpConfig.metrics_port,
    type=click.IntRange(1, 65535),
    envvar="PINGPIPE_METRICS_PORT",
    help="Serve Prometheus metrics of every stage (edge, queue, workers, commits, daily cycle) on this port (default: not served).",
)
@web_options("PINGPIPE_")
@click.option(
    "--ui-port",
    default=UpConfig.ui_port,
    type=click.IntRange(0, 65535),
    envvar="PINGPIPE_UI_PORT",
    show_default=f"{UI_PORT}, or any free port if it is taken",
    help="Port of the data dictionary and debug viewer, on 127.0.0.1 (0: any free port).",
)
@chart_min_clients_option(envvar="PINGPIPE_CHART_MIN_CLIENTS")
@click.option(
    "--debug-max-bytes",
    default=UpConfig.debug_max_bytes,
    show_default=True,
    type=click.IntRange(min=1),
    help="Memory the debug viewer's pings may take in all (their text, in bytes); the oldest go first.",
)
@click.option(
    "--debug-max-tags",
    default=UpConfig.debug_max_tags,
    show_default=True,
    type=click.IntRange(min=1),
    help="Debug tags (X-Debug-ID) the viewer keeps; the one whose last ping is oldest goes first.",
)
@click.option(
    "--debug-per-tag",
    default=UpConfig.debug_per_tag,
    show_default=True,
    type=click.IntRange(min=1),
    help="Debug pings the viewer keeps per tag (the newest).",
)
@click.option("--workers", default=None, type=int, show_default="cores - 1, at least 2", help="Decoder/loader worker processes.")
@click.option(
    "--geoip-db",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    envvar="PINGPIPE_GEOIP_DB",
    help="MaxMind City database (.mmdb) for geo columns.",
)
@click.option(
    "--dedupe-window",
    default=UpConfig.dedupe_window,
    show_default=True,
    type=float,
    help="Seconds a document id is remembered: a ping sent again within it is counted as a duplicate.",
)
@click.option(
    "--drain-timeout",
    default=UpConfig.drain_timeout,
    type=click.FloatRange(min=0),
    show_default=True,
    help="Seconds Ctrl-C waits for the queue to drain; what is left loads at the next start.",
)
@click.option(
    "--error-retention-days",
    default=UpConfig.error_retention_days,
    show_default=True,
    type=click.IntRange(min=1),
    help="Error rows (which hold raw payloads) older than this are deleted by the daily cycle.",
)
@click.option(
    "--user-ids",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML rules naming your tables' user-id columns, for shredding (see pingpipe/privacy/user_ids.yaml).",
)
@click.option(
    "--logs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A folder of server logs to follow: the Glean server events in its files load like pings (see `pingpipe logs ingest`).",
)
@click.option(
    "--max-log-tables",
    default=UpConfig.max_log_tables,
    show_default=True,
    type=click.IntRange(min=1),
    help="Tables one service's mozlog Types may make (`logs ingest --service`): a new Type's rows past it are error rows.",
)
@click.option(
    "--sql",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Your queries, as <dataset>/<table>/query.sql (bigquery-etl's layout): the daily cycle runs them with the generated ones.",
)
def up(
    schemas,
    data,
    host,
    port,
    admin_port,
    metrics_port,
    tls_cert,
    tls_key,
    cors_origins,
    ui_port,
    chart_min_clients,
    debug_max_bytes,
    debug_max_tags,
    debug_per_tag,
    workers,
    geoip_db,
    dedupe_window,
    drain_timeout,
    error_retention_days,
    user_ids,
    logs,
    max_log_tables,
    sql,
):
    """Run the whole pipeline on this machine: edge, queue, decoder, loader into DuckDB."""
    from pingpipe.up.runner import Up, UpError

    config = UpConfig(
        data=data,
        schemas=schemas,
        host=host,
        port=port,
        admin_port=admin_port,
        metrics_port=metrics_port,
        ui_port=ui_port,
        charts=ChartConfig(min_clients=chart_min_clients),
        tls_cert=tls_cert,
        tls_key=tls_key,
        cors_origins=tuple(cors_origins) or UpConfig.cors_origins,
        debug_max_bytes=debug_max_bytes,
        debug_max_tags=debug_max_tags,
        debug_per_tag=debug_per_tag,
        geoip_db=geoip_db,
        dedupe_window=dedupe_window,
        drain_timeout=drain_timeout,
        error_retention_days=error_retention_days,
        user_ids=user_ids,
        logs=logs,
        max_log_tables=max_log_tables,
        sql=sql,
    )
    if workers is not None:
        if workers < 1:
            raise click.BadParameter("must be at least 1", param_hint="--workers")
        config.workers = workers
    try:
        sys.exit(Up(config).run())
    except UpError as exc:
        raise click.ClickException(str(exc)) from None


def deprecated(old: str, new: str) -> None:
    """An old spelling still works, for one release, and says so."""
    click.echo(f"note: {old} is deprecated and goes in the next release; use {new}", err=True)


@click.command("query")
@click.argument("sql")
@on_target()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv", "table"]),
    default="text",
    show_default=True,
    help="text: an aligned table; json: one JSON object per row (no rows: nothing, and a note on stderr); "
    "csv: a header line, then one line per row. (`table` is the old name of text.)",
)
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "bigquery"]),
    default="duckdb",
    show_default=True,
    help="bigquery: the SQL is BigQuery's (a dictionary chart's \"View SQL\"), run through the ETL's transpiler.",
)
def query(sql, target, fmt, dialect):
    """Run a read-only SQL query against the warehouse (also while `pingpipe up` runs).

    It reads the warehouse's tables only: no writes, no files, no network, no settings. SHOW TABLES
    lists every dataset.table (DuckDB's own would list only its main schema, where pingpipe keeps none)."""
    from pingpipe.up import tasks, warehouse

    if fmt == "table":
        deprecated("--format table", "--format text")
    if dialect == "bigquery":
        from pingpipe.etl.sql import bigquery_to_duckdb

        try:
            sql = bigquery_to_duckdb(sql)
        except ValueError as exc:
            raise click.ClickException(f"the query {exc}") from None
    result = tasks.query(target, sql)
    if fmt == "json":
        for row in result["rows"]:
            click.echo(warehouse.dumps(dict(zip(result["columns"], row, strict=True))).decode("utf-8"))
        if not result["rows"]:  # JSON lines of no rows are no lines: said where a pipe does not read it
            click.echo(f"(0 rows; columns: {', '.join(result['columns']) or 'none'})", err=True)
    elif fmt == "csv":
        click.echo(warehouse.format_csv(result), nl=False)
    else:
        click.echo(warehouse.format_table(result))


@click.command("status")
@on_target()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(target, fmt):
    """Tables with row counts, errors by type, and the queue backlog."""
    from pingpipe.up import tasks, warehouse

    info = tasks.status(target)
    running = info["running"]
    if fmt == "json":
        click.echo(warehouse.dumps(info).decode("utf-8"))
        return
    click.echo(f"warehouse {target.path} ({'pingpipe up is running' if running else 'not running'})")
    if running:
        from pingpipe.up.client import read_state

        link = (read_state(target.data) or {}).get("ui_link")
        if link:
            click.echo(f"dictionary {link}   (open it: the link lets your browser in)")
    click.echo(warehouse.format_table({"columns": ["table", "rows"], "rows": [[t["table"], t["rows"]] for t in info["tables"]]}))
    click.echo("errors by type:" + ("" if info["errors_by_type"] else " none"))
    for error_type, n in info["errors_by_type"].items():
        click.echo(f"  {error_type}: {n}")
    b = info["backlog"]
    click.echo(
        f"queue backlog: {b['sealed_segments']} sealed segment(s), {b['sealed_bytes']} bytes; "
        f"{b['open_segments']} open ({b['open_bytes']} bytes)" + (f"; lag {info['lag_seconds']} s" if running else "")
    )
    cycle = info.get("last_cycle")
    click.echo(
        f"last cycle: {warehouse.cycle_summary(cycle)}" + (f" (finished {cycle['finished_at']})" if cycle.get("finished_at") else "")
        if cycle
        else "last cycle: none yet (`up` runs one per ended UTC day; `pingpipe cycle` runs one by hand)"
    )
    logs = info.get("logs")
    if logs:
        skipped = logs["skipped"]
        click.echo(f"logs {logs['folder']}: queued {logs['queued']} line(s), skipped {sum(skipped.values())}" + (":" if skipped else ""))
        for reason, n in sorted(skipped.items(), key=lambda item: -item[1]):
            click.echo(f"  {n} × {reason}")
