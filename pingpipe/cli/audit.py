"""`pingpipe audit`: prove that no table keeps an IP or e-mail address or a raw user agent, and with
--deep that no byte of a deleted row is left under the data folder."""

from __future__ import annotations

import sys

import click

from .target import on_target


@click.command("audit")
@on_target()
@click.option(
    "--deep",
    is_flag=True,
    help="Also read every byte of every file under DATA for the values of rows that shreds deleted "
    "(recorded then as keyed hashes, never as they were); each trace is a file and an offset.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object, {rows, findings[, deep]}; the exit status is the same.",
)
def audit(target, deep, fmt):
    """Scan every table, error payloads included, for IP and e-mail addresses and raw user agents; exit 1 if any is found.

    Each finding is one line, `table.column: count, example`. Columns where such a shape is
    legitimate (version numbers) are allowed by name, with their reason, in pingpipe/privacy/audit.py.
    """
    from pingpipe.up import tasks

    result = tasks.audit(target, deep, progress=lambda path: click.echo(f"reading {path}", err=True))
    traces = result["traces"]
    if fmt == "json":
        from pingpipe.up.warehouse import dumps

        out = {"rows": result["rows"], "findings": result["findings"]}
        if traces is not None:
            out["deep"] = {"traces": traces["deep"], "files": traces["files"], "recorded": traces["recorded"], "kept": traces["kept"]}
        click.echo(dumps(out).decode("utf-8"))
        sys.exit(1 if result["findings"] or (traces and traces["deep"]) else 0)
    for line in result["findings"]:
        click.echo(line)
    found = len(result["findings"])
    click.echo(f"audit: {result['rows']} row(s) scanned, {found} column(s) with identifiers" + ("" if found else ": none"), err=bool(found))
    if traces is not None:
        for line in traces["deep"]:
            click.echo(line)
        left = len(traces["deep"])
        click.echo(
            f"deep: {traces['files']} file(s) read for {traces['recorded']} value(s) of deleted rows: "
            f"{left} trace(s)"
            + ("" if left else ": none")
            + (f" ({traces['kept']} place(s) hold a value rows still kept hold too)" if traces["kept"] else ""),
            err=bool(left),
        )
        found += left
    sys.exit(1 if found else 0)
