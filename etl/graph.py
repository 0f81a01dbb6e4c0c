"""The order queries run in: each after the queries that make the tables it reads (parsed, not listed)."""

from __future__ import annotations

import graphlib

from .queries import Query, QueryError
from .sql import parse, references, view_name


class CycleError(QueryError):
    def __init__(self, path: str, problem: str, names: list[str]):
        super().__init__(path, problem)
        self.names = set(names)


def reads(q: Query) -> set[str]:
    """The tables a query reads (its own previous days aside). A view.sql must create the view its
    folder names."""
    tree = parse(q)
    if q.view and view_name(q, tree) != q.name:
        raise QueryError(q.path, f"creates {view_name(q, tree)}, but its folder names {q.name}")
    return references(q, tree) - {q.name}


def inputs(queries: list[Query]) -> dict[str, set[str]]:
    """query name -> the tables it reads; the first query that cannot be read raises QueryError."""
    return {q.name: reads(q) for q in queries}


def order(queries: list[Query], inputs_: dict[str, set[str]] | None = None) -> list[Query]:
    """The queries, each after those it reads from; a cycle raises QueryError naming its files."""
    by_name = {}
    for q in queries:
        if q.name in by_name:
            raise QueryError(q.path, f"{q.name} is also made by {by_name[q.name].path}")
        by_name[q.name] = q
    read = inputs_ if inputs_ is not None else inputs(queries)
    sorter = graphlib.TopologicalSorter({name: {r for r in read[name] if r in by_name} for name in by_name})
    try:
        names = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise CycleError(by_name[cycle[0]].path, "is in a dependency cycle: " + " -> ".join(cycle), cycle) from None
    return [by_name[n] for n in names]
