"""The queries of a warehouse: those generated for its Glean apps, and the user's (`--sql DIR`),
which replace a generated one of the same name."""

from __future__ import annotations

from pathlib import Path

from pingpipe.loader.stable import stable_of
from pingpipe.loader.tables import TableId
from pingpipe.schemas.registry import Registry

from .glean_usage import generate
from .queries import Query, load_dir


def queries(registry: Registry, sql: Path | None = None) -> list[Query]:
    mine = load_dir(sql) if sql is not None else []
    names = {q.name for q in mine}
    return [q for q in generate(registry) if q.name not in names] + mine


def expected(registry: Registry) -> set[str]:
    """The tables the registry's pings will fill (live and stable), whether or not they exist yet."""
    out = set()
    for entry in registry:
        live = TableId(*entry.live_table.split("."))
        out |= {str(live), str(stable_of(live))}
    return out
