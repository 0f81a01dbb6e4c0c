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
    try:
        return _as_duckdb(tree)
    except sqlglot.errors.UnsupportedError as exc:
        raise QueryError(query.path, f"cannot be run on DuckDB: {one_line(exc)}") from None


def _as_duckdb(tree: exp.Expression) -> str:
    for table in tree.find_all(exp.Table):
        table.set("catalog", None)
    _latest_non_null(tree)
    _unnest_in_select(tree)
    return tree.sql(dialect="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)


def _unnest_in_select(tree: exp.Expression) -> None:
    """BigQuery's `FROM t, UNNEST(t.list) AS x` as DuckDB's unnest in a select list,
    `FROM (SELECT t.*, UNNEST(t.list) AS x FROM t) AS t`: the same rows (a NULL or empty list gives
    none), without the lateral join DuckDB makes of the first, which costs a thousandfold on wide
    tables (benchmarks/bench_dictionary.py --charts). Only for a table followed by plain unnests."""
    for select in list(tree.find_all(exp.Select)):
        source, joins = select.args.get(_FROM), select.args.get("joins") or []
        if not joins or source is None or not isinstance(source.this, exp.Table) or not all(_plain_unnest(j) for j in joins):
            continue
        table = source.this
        name = table.alias_or_name
        inner: exp.Expression = table
        for join in joins:
            unnest = join.this
            column = unnest.args["alias"].columns[0]
            inner = exp.select(
                exp.Column(this=exp.Star(), table=exp.to_identifier(name)),
                exp.alias_(exp.Anonymous(this="UNNEST", expressions=[unnest.expressions[0]]), column),
            ).from_(inner)
            inner = inner.subquery(name)
        select.set("joins", None)
        select.set(_FROM, exp.From(this=inner))


_FROM = "from_" if "from_" in exp.Select.arg_types else "from"


def _plain_unnest(join: exp.Expression) -> bool:
    """A comma (cross) join of one array, named by one column, with no offset or condition."""
    unnest = join.this
    alias = unnest.args.get("alias") if isinstance(unnest, exp.Unnest) else None
    return (
        isinstance(unnest, exp.Unnest)
        and len(unnest.expressions) == 1
        and not unnest.args.get("offset")
        and alias is not None
        and len(alias.columns) == 1
        and not alias.name
        and join.args.get("kind") in (None, "CROSS")
        and not join.args.get("on")
        and not join.args.get("side")
        and alias.columns[0].name not in {c.name for c in unnest.expressions[0].find_all(exp.Column)}
    )


def bigquery_to_duckdb(sql: str) -> str:
    """One BigQuery statement with no parameters (a chart's query, `pingpipe query --dialect bigquery`)
    as DuckDB runs it: the ETL's own path. ValueError, in one line, when it cannot be."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise ValueError(f"does not parse as BigQuery SQL: {one_line(exc)}") from None
    if len(statements) != 1:
        raise ValueError(f"expected one statement, found {len(statements)}")
    if any(True for _ in statements[0].find_all(exp.Parameter)):
        raise ValueError("has a @parameter: write its value in the query")
    try:
        return _as_duckdb(statements[0])
    except sqlglot.errors.UnsupportedError as exc:
        raise ValueError(f"cannot be run on DuckDB: {one_line(exc)}") from None


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
