"""The queries of a warehouse: those generated for its Glean apps and for its services' usage logs,
and the user's (`--sql DIR`), which replace a generated one of the same name."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from pingpipe.schemas.names import TableId, stable_of
from pingpipe.schemas.registry import Registry

from . import logs_usage
from .glean_usage import generate
from .queries import Query, load_dir


def queries(registry: Registry, sql: Path | None = None, tables: Iterable[str] = ()) -> list[Query]:
    """`tables`: the warehouse's, when there is one (the log tables are known only from it)."""
    mine = load_dir(sql) if sql is not None else []
    names = {q.name for q in mine}
    return [q for q in generate(registry) + logs_usage.generate(tables) if q.name not in names] + mine


def expected(registry: Registry, tables: Iterable[str] = ()) -> set[str]:
    """The tables the registry's pings and the logs will fill (live and stable), whether or not they exist yet."""
    out = logs_usage.stable_tables(tables)
    for entry in registry:
        live = TableId.parse(entry.live_table)
        out |= {str(live), str(stable_of(live))}
    return out
