"""The `pingpipe` command: one entry point, a subcommand per stage.

Command-line wiring lives here alone: these modules import the stages, and no stage imports them.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from pingpipe import logformat
from pingpipe.reason import failure

from .audit import audit
from .cycle import cycle
from .decode import decode
from .demo import demo
from .dictionary import dictionary
from .edge import edge, pubsub_setup
from .edge_volumes import edge_volumes
from .etl import etl, lineage
from .load import dedupe, load
from .logs import logs
from .replay import replay
from .schemas import schemas
from .shred import shred
from .stats import stats
from .trace import trace
from .up import query, status, up

DEBUG_ENV = "PINGPIPE_DEBUG"


class _BeamNoise(logging.Filter):
    """Beam warns at import that its own BigQuery client (apitools, in its [gcp] extra) is missing:
    pingpipe writes BigQuery with google-cloud-bigquery and never uses it (`pingpipe[dataflow]` has it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_BeamNoise())


class Commands(click.Group):
    """The `pingpipe` group: a mistake or a failure is one line and a non-zero exit, never a traceback
    (PINGPIPE_DEBUG=1 shows it, for a bug report)."""

    def invoke(self, ctx):
        try:
            return self.invoke_command(ctx)
        except click.ClickException as exc:  # with --log-format json, an error record too
            logformat.failed(ctx.invoked_subcommand or ctx.info_name, exc.format_message())
            raise

    def invoke_command(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except BrokenPipeError:  # the reader left (`| head`): as a Unix tool, stop quietly (128 + SIGPIPE)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise click.ClickException(f"{failure(exc)} ({DEBUG_ENV}=1 shows where)") from None


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pingpipe")
@click.option(
    "--log-format",
    type=click.Choice(logformat.FORMATS),
    default="text",
    show_default=True,
    envvar=logformat.FORMAT_ENV,
    help="json: logs, and a command's failure, as mozlog JSON lines on stdout (for Cloud Logging), here and in what it starts.",
)
def main(log_format: str) -> None:
    """pingpipe: telemetry pings in, per-application warehouse tables out."""
    logformat.configure(log_format)


main.add_command(schemas)
main.add_command(edge)
main.add_command(pubsub_setup)
main.add_command(edge_volumes)
main.add_command(decode)
main.add_command(load)
main.add_command(dedupe)
main.add_command(up)
main.add_command(query)
main.add_command(status)
main.add_command(audit)
main.add_command(shred)
main.add_command(replay)
main.add_command(trace)
main.add_command(stats)
main.add_command(cycle)
main.add_command(etl)
main.add_command(lineage)
main.add_command(dictionary)
main.add_command(logs)
main.add_command(demo)


def _show_envvars(command: click.Command) -> None:
    """Every option read from a PINGPIPE_* variable says so in --help."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    for sub in getattr(command, "commands", {}).values():
        _show_envvars(sub)


_show_envvars(main)
