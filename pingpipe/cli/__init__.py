"""The `pingpipe` command: one entry point, a subcommand per stage.

Command-line wiring lives here alone: these modules import the stages, and no stage imports them.
"""

from __future__ import annotations

import click

from .audit import audit
from .cycle import cycle
from .decode import decode
from .dictionary import dictionary
from .edge import edge
from .etl import etl, lineage
from .load import dedupe, load
from .logs import logs
from .schemas import schemas
from .shred import shred
from .up import query, status, up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pingpipe")
def main() -> None:
    """pingpipe: telemetry pings in, per-application warehouse tables out."""


main.add_command(schemas)
main.add_command(edge)
main.add_command(decode)
main.add_command(load)
main.add_command(dedupe)
main.add_command(up)
main.add_command(query)
main.add_command(status)
main.add_command(audit)
main.add_command(shred)
main.add_command(cycle)
main.add_command(etl)
main.add_command(lineage)
main.add_command(dictionary)
main.add_command(logs)
