"""`pingpipe dictionary build`: the data dictionary as a static site."""

from __future__ import annotations

from pathlib import Path

import click

from .etl import SCHEMAS_HELP, SQL_HELP, ordered_queries, registry_of


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
