"""The daily cycle as a plan, the same for every engine: which steps, on which tables, for which
day, with which SQL. Pure: made from the tables a warehouse holds (name -> fields); cycle.py runs
it on DuckDB or BigQuery, as shred's `plan`/`statements` and etl's `schedule`/`hold` are run.

The steps, in order: the day's live rows into the stable tables (one per document, the views made),
deletions (shred, then expiry), then the day's derived tables. Each later step sees the tables the
copy leaves: a stable table made, or widened to its live table's columns, is shredded and expired
with the rest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pingpipe.etl.copy_deduplicate import copy_query, view_query
from pingpipe.etl.queries import Query
from pingpipe.loader.evolution import merge
from pingpipe.privacy import expire, shred
from pingpipe.schemas.names import TableId, stable_of

STABLE, DELETE, ETL = "stable", "delete", "etl"
STEPS = (STABLE, DELETE, ETL)

Tables = dict[tuple[str, str], list[dict]]  # (dataset, table) -> its fields


@dataclass(frozen=True)
class Copy:
    """One live table's day into its stable table, and its view."""

    live: TableId
    fields: list[dict] = field(hash=False, compare=False)  # the live table's: the stable table is made, or widened, to them
    query: Query  # the day's first copies (etl/copy_deduplicate.py)
    view: Query

    @property
    def stable(self) -> TableId:
        return TableId(self.query.dataset, self.query.table)


@dataclass(frozen=True)
class Plan:
    day: dt.date
    steps: tuple[str, ...]
    copies: list[Copy] = field(default_factory=list)
    shred: shred.Plan = field(default_factory=shred.Plan)
    expiry: dict[tuple[str, str], int] = field(default_factory=dict)  # table -> the days its rows are kept

    @property
    def whole(self) -> bool:
        """Every step: only then is the day's cycle done."""
        return set(STEPS) <= set(self.steps)


def after_copies(tables: Tables) -> Tables:
    """The tables once every live table's copy is made: each stable table made, or widened to its live table's columns."""
    out = dict(tables)
    for (dataset, name), fields in sorted(tables.items()):
        stable = stable_of(TableId(dataset, name))
        if stable is not None:
            key = (stable.dataset, stable.table)
            out[key] = merge(out.get(key) or [], fields)
    return out


def plan(
    tables: Tables,
    day: dt.date,
    *,
    retention: dict[str, int] | None = None,
    error_retention_days: int = expire.ERROR_RETENTION_DAYS,
    rules: list | None = None,
    steps: tuple[str, ...] = STEPS,
) -> Plan:
    """The cycle of `day` over `tables`: `retention` is each live table's days (expire.retention),
    `rules` the user-id rules (shred.load_rules); only `steps` are planned."""
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise ValueError(f"no such step: {', '.join(sorted(unknown))} (the steps are {', '.join(STEPS)})")
    copies = []
    if STABLE in steps:
        for (dataset, name), fields in sorted(tables.items()):
            live = TableId(dataset, name)
            if stable_of(live) is not None:
                copies.append(Copy(live, fields, copy_query(live, fields), view_query(live)))
    if DELETE not in steps:
        return Plan(day, tuple(steps), copies)
    after = after_copies(tables) if STABLE in steps else tables
    return Plan(
        day,
        tuple(steps),
        copies,
        shred.plan(after, rules),
        expire.plan(list(after), retention or {}, error_retention_days),
    )
