"""Lineage: where a table comes from and what is made from it, from the registry, the dedupe job and
the parsed SQL (nothing listed by hand).

Edges: a live table -> its stable table (pingpipe dedupe) -> its user-facing view; each table a
query or view reads -> what it makes. `tree` walks them either way; its JSON is what a data
dictionary shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pingpipe.schemas.names import TableId, stable_of, view_of
from pingpipe.schemas.registry import Registry

from .graph import inputs
from .queries import Query


@dataclass
class Node:
    name: str
    kind: str  # live | stable | view | query | table (made outside pingpipe)
    made_by: str  # how: "decoder (registry: <schema file>)", "pingpipe dedupe", a query's file
    upstream: set[str] = field(default_factory=set)


def graph(registry: Registry, queries: list[Query]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for entry in registry:
        live = TableId.parse(entry.live_table)
        stable, view = stable_of(live), view_of(live)
        nodes[str(live)] = Node(str(live), "live", f"decoder (schema {entry.path.name})")
        nodes[str(stable)] = Node(str(stable), "stable", "pingpipe dedupe (copy_deduplicate)", {str(live)})
        nodes.setdefault(str(view), Node(str(view), "view", "pingpipe dedupe (user-facing view)")).upstream.add(str(stable))
    for q in queries:
        nodes[q.name] = Node(q.name, "view" if q.view else "query", q.path)
    for name, reads in inputs(queries).items():
        nodes[name].upstream = set(reads)
        for read in reads:
            nodes.setdefault(read, Node(read, "table", "not made by pingpipe"))
    return nodes


def tree(nodes: dict[str, Node], name: str, direction: str = "upstream") -> dict:
    """{"table", "kind", "made_by", direction: [subtrees]}; a table met again on the same path is not repeated."""
    if direction == "downstream":
        links: dict[str, set[str]] = {n: set() for n in nodes}
        for node in nodes.values():
            for up in node.upstream:
                links[up].add(node.name)
    else:
        links = {n: node.upstream for n, node in nodes.items()}

    def walk(current: str, path: frozenset) -> dict:
        node = nodes[current]
        below = [walk(n, path | {n}) for n in sorted(links[current]) if n not in path]
        return {"table": current, "kind": node.kind, "made_by": node.made_by, direction: below}

    return walk(name, frozenset([name]))


def render(t: dict, direction: str) -> list[str]:
    """The tree as text, one table per line."""
    lines = [f"{t['table']} ({t['kind']}: {t['made_by']})"]

    def walk(children: list[dict], indent: str) -> None:
        for i, child in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{indent}{'└── ' if last else '├── '}{child['table']} ({child['kind']}: {child['made_by']})")
            walk(child[direction], indent + ("    " if last else "│   "))

    walk(t[direction], "")
    return lines
