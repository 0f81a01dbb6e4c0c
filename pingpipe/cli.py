"""The `pingpipe` command: one entry point, a subcommand group per stage."""

from __future__ import annotations

import click

from pingpipe.decoder.commands import decode
from pingpipe.edge.commands import edge
from pingpipe.loader.commands import dedupe, load
from pingpipe.schemas.commands import schemas
from pingpipe.up.commands import query, status, up


@click.group()
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

if __name__ == "__main__":  # pragma: no cover
    main()
