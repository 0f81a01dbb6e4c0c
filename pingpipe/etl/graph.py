"""The order queries run in: each after the queries that make the tables it reads (parsed, not listed)."""

from __future__ import annotations

import graphlib

from .queries import Query, QueryError
from .sql import parse, references, view_name


def inputs(queries: list[Query]) -> dict[str, set[str]]:
    """query name -> the tables it reads (its own previous days aside). A view.sql must create the
    view its folder names."""
    out = {}
    for q in queries:
        tree = parse(q)
        if q.view and view_name(q, tree) != q.name:
            raise QueryError(q.path, f"creates {view_name(q, tree)}, but its folder names {q.name}")
        out[q.name] = references(q, tree) - {q.name}
    return out


def order(queries: list[Query], reads: dict[str, set[str]] | None = None) -> list[Query]:
    """The queries, each after those it reads from; a cycle raises QueryError naming its files."""
    by_name = {}
    for q in queries:
        if q.name in by_name:
            raise QueryError(q.path, f"{q.name} is also made by {by_name[q.name].path}")
        by_name[q.name] = q
    reads = reads if reads is not None else inputs(queries)
    sorter = graphlib.TopologicalSorter({name: {r for r in reads[name] if r in by_name} for name in by_name})
    try:
        names = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise QueryError(by_name[cycle[0]].path, "is in a dependency cycle: " + " -> ".join(cycle)) from None
    return [by_name[n] for n in names]
