"""`pingpipe etl` (run the day's queries, write the generated ones) and `pingpipe lineage`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pingpipe import utc
from pingpipe.reason import one_line
from pingpipe.up.target import BIGQUERY

from .target import on_target

SQL_HELP = "Your queries, as <dataset>/<table>/query.sql or view.sql (bigquery-etl's layout); they replace generated ones of the same name."
SCHEMAS_HELP = "The schema registry whose Glean apps get generated queries (default: the shipped one)."


def registry_of(schemas: Path | None):
    from pingpipe.schemas.registry import Registry, RegistryError

    try:
        return Registry.load(schemas)
    except RegistryError as exc:
        raise click.ClickException(one_line(exc)) from None


def ordered_queries(registry, sql: Path | None):
    from pingpipe.etl import catalog
    from pingpipe.etl.graph import order
    from pingpipe.etl.queries import QueryError

    try:
        return order(catalog.queries(registry, sql))
    except QueryError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("etl")
def etl():
    """Derived tables: SQL in bigquery-etl's layout, generated for every Glean app, plus your own."""


@etl.command("run")
@click.option(
    "--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="The day (UTC) to compute [default: yesterday]."
)
@click.option("--table", "tables", multiple=True, help="Only this dataset.table (repeat for more) [default: all].")
@click.option("--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SQL_HELP)
@on_target((BIGQUERY,), warehouse_help="bigquery:PROJECT to run them there, as written (default: the warehouse of --data).")
@click.option(
    "--schemas",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="When `up` is not running: " + SCHEMAS_HELP,
)
def run(day, tables, sql, target, schemas):
    """Run the queries for a day, in dependency order; each replaces its day's rows.

    A query that fails is named with its file, and the queries that read its table do not run;
    the others do. Exit 1 if any failed.
    """
    from pingpipe.up import tasks

    day = utc.day_or_yesterday(day)
    report = tasks.etl(target, day, tables=tables, sql=sql, schemas=schemas)
    if report.get("unknown"):  # nothing ran: a table no query makes is a mistake in the command
        raise click.BadParameter("; ".join(report["unknown"].values()), param_hint="--table")
    for table, rows in report["ran"].items():
        click.echo(f"{table}: view made" if rows is None else f"{table}: {rows} row(s) for {day}")
    for reason in report["waiting"].values():
        click.echo(reason)
    say_checks(report.get("checks", {}))
    for message in report["failed"].values():
        click.echo(f"error: {message}", err=True)
    if not any(report.values()):
        click.echo("no query to run")
    sys.exit(1 if report["failed"] else 0)


def say_checks(checks: dict[str, list[dict]]) -> int:
    """Each table's checks in a line, and each failed one in its own; returns the #fail ones failed."""
    failed = 0
    for table, outcomes in checks.items():
        passed = sum(o["passed"] for o in outcomes)
        click.echo(f"{table}: {passed} of {len(outcomes)} check(s) passed")
        for o in outcomes:
            if not o["passed"]:
                failed += o["marker"] == "fail"
                click.echo(f"  check {o['check']} (#{o['marker']}) failed: {o['message']}", err=o["marker"] == "fail")
    return failed


@etl.command("validate")
@click.option("--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SQL_HELP)
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SCHEMAS_HELP)
def validate(sql, schemas):
    """Check every query offline, with no warehouse and no cloud: its metadata.yaml against its
    schema, its SQL parsed for BigQuery and written for DuckDB, the tables it reads made by a query
    or the registry, its checks.sql rendered. Exit 1 if any has a problem."""
    from pingpipe.etl import catalog
    from pingpipe.etl.queries import QueryError
    from pingpipe.etl.validate import validate as check_query

    registry = registry_of(schemas)
    try:
        queries = catalog.queries(registry, sql)
    except QueryError as exc:  # a metadata.yaml or schema.yaml that cannot be read: its file, one line
        raise click.ClickException(str(exc)) from None
    known = {q.name for q in queries} | catalog.expected(registry)
    bad = 0
    for q in queries:
        found = check_query(q, known)
        if found["problems"]:
            bad += 1
            for problem in found["problems"]:
                click.echo(f"FAIL {q.name} ({q.path}): {problem}", err=True)
        else:
            click.echo(f"ok   {q.name}" + (f" (reads {', '.join(found['reads'])})" if found["reads"] else ""))
    click.echo(f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'} checked, {bad} with problems")
    sys.exit(1 if bad else 0)


@etl.command("test")
@click.option(
    "--tests",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Your fixture tests, in bigquery-etl's layout: [PROJECT/]DATASET/TABLE/TEST/ with one rows file per table read "
    "(DATASET.TABLE.yaml), query_params.yaml and expect.yaml [default: only the shipped ones].",
)
@click.option("--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SQL_HELP)
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SCHEMAS_HELP)
def test(tests, sql, schemas):
    """Run fixture tests of the queries on an in-memory DuckDB: no warehouse, no cloud, seconds.

    The shipped tests cover the generated Glean usage queries of the demo app; yours run with them.
    Each loads its tables from its rows files, runs the query for its day and compares the rows with
    expect.yaml, in any order. Exit 1 if a test failed."""
    from pingpipe.etl import catalog
    from pingpipe.etl.fixture_tests import SHIPPED, fields_by_table, find, run_test

    registry = registry_of(schemas)
    queries = catalog.queries(registry, sql)
    by_name, fields_of = {q.name: q for q in queries}, fields_by_table(registry, queries)
    failed = ran = 0
    for root in [SHIPPED] + ([tests] if tests else []):
        for table, folder in find(root):
            q = by_name.get(table)
            if q is None:
                if root != SHIPPED:  # the shipped tests of an app this registry lacks are not yours to pass
                    failed += 1
                    click.echo(f"FAIL {table}/{folder.name}: no query makes {table}", err=True)
                continue
            outcome = run_test(q, folder, fields_of)
            ran += 1
            if outcome.passed:
                click.echo(f"pass {table}/{folder.name}")
                continue
            failed += 1
            click.echo(f"FAIL {table}/{folder.name}: {outcome.problem or 'rows differ'}", err=True)
            for label, rows in (("missing", outcome.missing), ("unexpected", outcome.unexpected)):
                for row in rows[:5]:
                    click.echo(f"  {label}: {json.dumps(row)}", err=True)
    click.echo(f"{ran} test(s) run, {failed} failed")
    sys.exit(1 if failed else 0)


@etl.command("check")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="The day (UTC) to check [default: yesterday].")
@click.option("--table", "tables", multiple=True, help="Only this dataset.table (repeat for more) [default: all].")
@click.option("--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SQL_HELP)
@on_target((BIGQUERY,), warehouse_help="bigquery:PROJECT to check there (default: the warehouse of --data).")
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SCHEMAS_HELP)
def check(day, tables, sql, target, schemas):
    """Run the checks (checks.sql, bigquery-etl's #fail and #warn) of the derived tables for a day,
    on what the tables hold, without running their queries. Exit 1 if a #fail check failed."""
    from pingpipe.up import tasks

    day = utc.day_or_yesterday(day)
    report = tasks.etl_check(target, day, tables=tables, sql=sql, schemas=schemas)
    if report["unknown"]:
        raise click.BadParameter("; ".join(report["unknown"].values()), param_hint="--table")
    if not report["checks"]:
        click.echo("no table has checks")
    sys.exit(1 if say_checks(report["checks"]) else 0)


@etl.command("generate")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write them to.")
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SCHEMAS_HELP)
def generate(out, schemas):
    """Write the queries generated for the registry's Glean apps, to read or to start your own from."""
    from pingpipe.etl.glean_usage import generate as generated
    from pingpipe.etl.queries import write_dir

    for folder in write_dir(generated(registry_of(schemas)), out):
        click.echo(str(folder))


@click.command("lineage")
@click.argument("table")
@click.option("--upstream/--downstream", default=True, show_default=True, help="Where it comes from, or what is made from it.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--sql", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SQL_HELP)
@click.option("--schemas", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help=SCHEMAS_HELP)
def lineage(table, upstream, fmt, sql, schemas):
    """Print where TABLE (dataset.table) comes from, or what is made from it: live and stable tables,
    views, derived tables and your queries, read from the registry and the parsed SQL."""
    from pingpipe.etl.lineage import graph, render, tree

    registry = registry_of(schemas)
    nodes = graph(registry, ordered_queries(registry, sql))
    if table not in nodes:
        raise click.ClickException(
            f"{table}: no table of that name in the registry or the queries (write it as dataset.table, e.g. org_demo_app.active_users)"
        )
    direction = "upstream" if upstream else "downstream"
    result = tree(nodes, table, direction)
    click.echo(json.dumps(result, indent=2) if fmt == "json" else "\n".join(render(result, direction)))
