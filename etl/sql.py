"""BigQuery SQL, parsed once by sqlglot: the tables a query reads, and the same query for DuckDB.

A table is named `dataset.table` (a project in front is allowed and dropped: one warehouse).
DuckDB gets the query through sqlglot's transpiler, its date parameter bound as a DATE literal.
"""

from __future__ import annotations

import datetime as dt

import sqlglot
from sqlglot import exp

from pingpipe.reason import one_line

from .queries import Query, QueryError


def parse(query: Query) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(query.sql, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise QueryError(query.path, f"does not parse as BigQuery SQL: {one_line(exc)}") from None
    if len(statements) != 1:
        raise QueryError(query.path, f"expected one statement, found {len(statements)}")
    tree = statements[0]
    if query.view and not (isinstance(tree, exp.Create) and tree.kind == "VIEW"):
        raise QueryError(query.path, "a view.sql holds one CREATE VIEW statement")
    if not query.view and not isinstance(tree, exp.Query):
        raise QueryError(query.path, "a query.sql holds one SELECT")
    return tree


def references(query: Query, tree: exp.Expression | None = None) -> set[str]:
    """The `dataset.table` names the query reads (its CTEs aside, and for a view not the view itself)."""
    tree = tree if tree is not None else parse(query)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    target = _target(tree) if isinstance(tree, exp.Create) else None
    out = set()
    for table in tree.find_all(exp.Table):
        if table is target:
            continue
        if not table.db:
            if table.name in ctes:
                continue
            raise QueryError(query.path, f"table {table.name!r} has no dataset: write it as dataset.table")
        out.add(f"{table.db}.{table.name}")
    return out


def _target(tree: exp.Create) -> exp.Table:
    return tree.this if isinstance(tree.this, exp.Table) else tree.this.find(exp.Table)


def view_name(query: Query, tree: exp.Expression) -> str:
    """The `dataset.table` a view.sql creates."""
    table = _target(tree)
    return f"{table.db}.{table.name}"


def to_duckdb(query: Query, day: dt.date | None, tree: exp.Expression | None = None) -> str:
    """The query as DuckDB SQL, with its date parameter bound to `day`."""
    tree = (tree if tree is not None else parse(query)).copy()
    for param in list(tree.find_all(exp.Parameter)):
        name = param.name
        if name != query.date_parameter or day is None:
            raise QueryError(query.path, f"@{name} is not a parameter pingpipe binds (it binds @{query.date_parameter})")
        param.replace(exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.Type.DATE))
    for table in tree.find_all(exp.Table):
        table.set("catalog", None)
    _latest_non_null(tree)
    try:
        return tree.sql(dialect="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as exc:
        raise QueryError(query.path, f"cannot be run on DuckDB: {one_line(exc)}") from None


def _latest_non_null(tree: exp.Expression) -> None:
    """BigQuery's idiom for the latest non-null value of a group, ARRAY_AGG(x IGNORE NULLS ORDER BY t
    DESC)[SAFE_OFFSET(0)], as DuckDB's arg_max(x, t): the same value (arg_max skips a NULL x)
    without an array built and sorted per group (benchmarks/bench_etl.py)."""
    for bracket in list(tree.find_all(exp.Bracket)):
        ignore = bracket.this
        if not (isinstance(ignore, exp.IgnoreNulls) and isinstance(ignore.this, exp.ArrayAgg)):
            continue
        order = ignore.this.this
        index = bracket.expressions
        if not (
            isinstance(order, exp.Order)
            and len(order.expressions) == 1
            and order.expressions[0].args.get("desc")
            and len(index) == 1
            and isinstance(index[0], exp.Literal)
            and index[0].name == "0"
            and bracket.args.get("offset") == 0
        ):
            continue
        bracket.replace(exp.ArgMax(this=order.this, expression=order.expressions[0].this))
