"""`--data` and `--warehouse`, declared once: each command's options resolve to one `Target`
(pingpipe/up/target.py), its `target` argument, and what goes wrong on it is one line."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import click

from pingpipe.reason import one_line
from pingpipe.up.config import UpConfig
from pingpipe.up.target import DUCKDB, CommandError, resolve

DATA_HELP = "Where the queue and the warehouse live (DATA/queue, DATA/warehouse.duckdb)."


def data_option(help: str = DATA_HELP):
    return click.option(
        "--data",
        type=click.Path(file_okay=False, path_type=Path),
        default=UpConfig.data,
        show_default=True,
        envvar="PINGPIPE_DATA",
        help=help,
    )


def warehouse_option(kinds: tuple[str, ...], help: str | None = None):
    names = " or ".join(k + (":PATH" if k == DUCKDB else ":PROJECT") for k in kinds)
    return click.option("--warehouse", default=None, help=help or f"{names} (default: the warehouse of --data).")


class SchemasParam(click.ParamType):
    """A registry folder, or a bundle in storage (gs://BUCKET/schemas.tar.gz), which workers fetch."""

    name = "schemas"

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.startswith("gs://"):
            if not value.endswith(".tar.gz"):
                self.fail(f"{value}: a bundle in storage is a .tar.gz of a registry folder", param, ctx)
            return value
        return click.Path(exists=True, file_okay=False, path_type=Path).convert(value, param, ctx)


SCHEMAS = SchemasParam()


def bigquery_options(f):
    """--bigquery-location and --dead-letter: what a bigquery: output is told beyond its project."""
    f = click.option(
        "--dead-letter",
        default=None,
        envvar="PINGPIPE_DEAD_LETTER",
        help="BigQuery: a folder (gs://BUCKET/PREFIX, or a path) for error rows the error table itself refuses, "
        "as JSON lines `bq load` takes back; without it such a row stops the load until it is mended.",
    )(f)
    return click.option(
        "--bigquery-location",
        default=None,
        envvar="PINGPIPE_BIGQUERY_LOCATION",
        help="BigQuery: the location (US, EU or a region) of the datasets this makes; required with a bigquery: output, "
        "as a dataset never moves once made.",
    )(f)


def require_location(spec: str, location: str | None, option: str) -> None:
    """A bigquery: output without --bigquery-location: refused before anything runs (on Dataflow, the
    workers would find out one table at a time)."""
    if spec.startswith("bigquery:") and not location:
        raise click.BadParameter(
            "a bigquery: output makes its datasets where --bigquery-location (or PINGPIPE_BIGQUERY_LOCATION) says: "
            "give US, EU or a region (a dataset never moves once made)",
            param_hint=option,
        )


@contextlib.contextmanager
def one_line_errors():
    """A target's refusal, or a mistake in what a command was given, as one line (exit 2 when an
    option is at fault, else 1)."""
    try:
        yield
    except CommandError as exc:
        if exc.option:
            raise click.BadParameter(str(exc), param_hint=exc.option) from None
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        from pingpipe.privacy.shred import RulesError
        from pingpipe.schemas.registry import RegistryError
        from pingpipe.up.warehouse import QueryError

        if isinstance(exc, (QueryError, RulesError)):  # messages written for the user: a refused query, `up` not answering
            raise click.ClickException(str(exc)) from None
        if isinstance(exc, RegistryError):
            raise click.ClickException(one_line(exc)) from None
        raise


def on_target(kinds: tuple[str, ...] = (), *, up: bool = True, data_help: str = DATA_HELP, warehouse_help: str | None = None):
    """Declare --data (and --warehouse naming one of `kinds`, when there are any) and hand the
    command the `target` they resolve to: without --warehouse, the `up` running on DATA (unless `up`
    is False), else DATA's DuckDB file. Place it under @click.command."""

    def decorate(f):
        @functools.wraps(f)
        def command(*args, data: Path, warehouse: str | None = None, **kwargs):
            with one_line_errors():
                return f(*args, target=resolve(data, warehouse, kinds, up=up), **kwargs)

        command = data_option(data_help)(command)
        return warehouse_option(kinds, warehouse_help)(command) if kinds else command

    return decorate
