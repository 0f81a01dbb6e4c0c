"""`pingpipe etl validate`: every query checked offline, as glean_parser checks its inputs: its
metadata.yaml against metadata.schema.json, its SQL parsed as BigQuery's and written as DuckDB's,
the tables it reads made by something (a query, the registry), and its checks.sql rendered.
No warehouse and no cloud: what a CI job can run on any clone."""

from __future__ import annotations

import datetime as dt

from .checks import checks_of
from .graph import reads
from .queries import Query, QueryError
from .sql import to_duckdb

SOME_DAY = dt.date(2000, 1, 1)  # a date to bind the parameter to: only the SQL's shape is checked


def validate(q: Query, known: set[str]) -> dict:
    """{"table", "path", "reads", "problems"} of one query (its metadata was checked as it was read,
    queries.from_parts); `known`: the tables something makes."""
    problems: list[str] = []
    read: set[str] = set()
    try:
        read = reads(q)
        to_duckdb(q, SOME_DAY if q.date_parameter else None)
    except QueryError as exc:
        problems.append(str(exc).removeprefix(f"{q.path}: "))
    unknown = sorted(r for r in read if r not in known)
    if unknown:
        problems.append(f"reads {', '.join(unknown)}, which no query or schema makes")
    try:
        checks_of(q)
    except QueryError as exc:
        problems.append(str(exc))
    return {"table": q.name, "path": q.path, "reads": sorted(read), "problems": problems}
