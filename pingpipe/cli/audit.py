"""`pingpipe audit`: prove that no table keeps an IP address or a raw user agent."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .up import DATA_HELP, ask_up, read_only


@click.command("audit")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=Path("pingpipe-data"), show_default=True,
              envvar="PINGPIPE_DATA", help=DATA_HELP)
def audit(data):
    """Scan every table, error payloads included, for IP addresses and raw user agents; exit 1 if any is found.

    Each finding is one line, `table.column: count, example`. Columns where such a shape is
    legitimate (version numbers) are allowed by name, with their reason, in pingpipe/privacy/audit.py.
    """
    from pingpipe.loader.writers.duckdb import cursor
    from pingpipe.privacy.audit import audit as run_audit

    result = ask_up(data, "GET", "/audit")
    if result is None:
        with read_only(data) as con:
            findings = run_audit(con, cursor)
        result = {"findings": findings.lines(), "rows": findings.scanned}
    for line in result["findings"]:
        click.echo(line)
    found = len(result["findings"])
    click.echo(f"audit: {result['rows']} row(s) scanned, {found} column(s) with identifiers" + ("" if found else ": none"),
               err=bool(found))
    sys.exit(1 if found else 0)
