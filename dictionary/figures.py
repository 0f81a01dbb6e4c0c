"""The warehouse's figures for a table page (rows, last received, rows per day) and for the error
page (error rows by namespace, doctype and error type, per day): live `up` only.

Read on a cursor of its own, in one read-only snapshot, beside `up`'s writer. A static build has
no warehouse and shows none of this.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from dataclasses import dataclass, field

import duckdb

from pingpipe import utc
from pingpipe.decoder.failures import DUPLICATE
from pingpipe.loader.tables import quote
from pingpipe.loader.writers.duckdb import cursor as duckdb_cursor
from pingpipe.schemas.names import (
    CYCLES,
    DOCUMENT_NAMESPACE,
    DOCUMENT_TYPE,
    ERROR_DATASET,
    SUBMISSION_DATE,
    SUBMISSION_TIMESTAMP,
    URI,
    TableId,
    family_of,
    is_live,
    unversioned,
)

DAYS = 30  # the sparkline's span


@dataclass
class Figures:
    exists: bool = False
    rows: int | None = None
    last_received: str | None = None
    per_day: list[tuple[str, int]] = field(default_factory=list)  # (day, rows), oldest first, every day of the span
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, DuckDB type), for tables the catalog has no schema of
    errors: int | None = None  # a live table's ping: its error rows over the span (counted duplicates aside)
    checks_day: str | None = None  # the latest cycled day that checked this table (checks.sql) ...
    checks: list[dict] = field(default_factory=list)  # ... and each check's outcome (etl/run.py's check_outcome)

    @property
    def error_rate(self) -> float | None:
        """Error rows over the span, of everything its ping sent then (rows and error rows)."""
        if self.errors is None:
            return None
        sent = self.errors + sum(n for _, n in self.per_day)
        return self.errors / sent if sent else None


def existing(con: duckdb.DuckDBPyConnection) -> set[str]:
    """`dataset.table` of every table and view in the warehouse."""
    cursor = duckdb_cursor(con)
    try:
        return {f"{s}.{t}" for s, t in cursor.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    finally:
        cursor.close()


def table_sizes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of every table, as DuckDB estimates them (no scan)."""
    cursor = duckdb_cursor(con)
    try:
        return {
            f"{s}.{t}": n for s, t, n in cursor.execute("SELECT schema_name, table_name, estimated_size FROM duckdb_tables()").fetchall()
        }
    finally:
        cursor.close()


def table_figures(cursor, table: str, today: dt.date | None = None, days: int = DAYS) -> Figures:
    """Rows, the latest submission_timestamp (or submission_date) and rows per day for the last `days` days."""
    dataset, _, name = table.partition(".")
    columns = cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [dataset, name],
    ).fetchall()
    if not columns:
        return Figures()
    source = f"{quote(dataset)}.{quote(name)}"
    names = {c for c, _ in columns}
    checked = table_checks(cursor, table)
    when = SUBMISSION_TIMESTAMP if SUBMISSION_TIMESTAMP in names else SUBMISSION_DATE if SUBMISSION_DATE in names else None
    figures = Figures(True, columns=[(c, t) for c, t in columns])
    if checked is not None:
        figures.checks_day, figures.checks = checked
    if when is None:
        (figures.rows,) = cursor.execute(f"SELECT count(*) FROM {source}").fetchone()
        return figures
    today = today or utc.today()
    first = today - dt.timedelta(days=days - 1)
    rows, last = cursor.execute(f"SELECT count(*), max({when}) FROM {source}").fetchone()
    figures.rows = rows
    figures.last_received = None if last is None else str(last)
    counts = dict(
        cursor.execute(f"SELECT CAST({when} AS DATE) AS d, count(*) FROM {source} WHERE {when} >= ? GROUP BY d", [first]).fetchall()
    )
    figures.per_day = [(str(d), counts.get(d, 0)) for d in (first + dt.timedelta(days=i) for i in range(days))]
    if is_live(dataset) and when == SUBMISSION_TIMESTAMP:
        figures.errors = ping_errors(cursor, TableId(dataset, name), first)
    return figures


def recorded_checks(cursor, day: dt.date | None = None) -> list[tuple[str, dict[str, list[dict]]]]:
    """The derived tables' checks as each daily cycle's report in _pingpipe.cycles keeps them, newest
    day first: (day, {table: outcomes}); only `day`'s when given. The one reader of that record."""
    dataset, _, name = CYCLES.partition(".")
    held = cursor.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [dataset, name]
    ).fetchone()[0]
    if not held:
        return []
    rows = cursor.execute(
        f"SELECT CAST(day AS VARCHAR), json_extract(report, '$.etl.checks') FROM {quote(dataset)}.{quote(name)} "
        "WHERE day = coalesce(?, day) ORDER BY day DESC",
        [day],
    ).fetchall()
    return [(d, json.loads(checks)) for d, checks in rows if checks]


def table_checks(cursor, table: str) -> tuple[str, list[dict]] | None:
    """The latest daily cycle's checks of `table`: (day, outcomes)."""
    return next(((d, checks[table]) for d, checks in recorded_checks(cursor) if table in checks), None)


def ping_errors(cursor, table: TableId, since: dt.date) -> int:
    """The error rows since `since` of the ping a live table holds: by the namespace and doctype they
    name, as the table's family and name have them (`-` and other signs as `_`)."""
    held = {
        t for (t,) in cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [ERROR_DATASET]).fetchall()
    }
    total = 0
    for error_table in sorted(held):
        (n,) = cursor.execute(
            f"SELECT count(*) FROM {quote(ERROR_DATASET)}.{quote(error_table)} WHERE {SUBMISSION_TIMESTAMP} >= ? "
            f"AND error_type IS DISTINCT FROM ? AND replace({DOCUMENT_NAMESPACE}, '-', '_') = ? "
            f"AND regexp_replace({DOCUMENT_TYPE}, '[^A-Za-z0-9_]', '_', 'g') = ?",
            [utc.bounds(since)[0], DUPLICATE, family_of(table.dataset), unversioned(table.table)],
        ).fetchone()
        total += n
    return total


def read(con: duckdb.DuckDBPyConnection, tables: list[str], today: dt.date | None = None) -> dict[str, Figures]:
    """Figures of several tables from one snapshot."""
    cursor = duckdb_cursor(con)
    try:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        try:
            return {t: table_figures(cursor, t, today) for t in tables}
        finally:
            cursor.execute("ROLLBACK")
    finally:
        cursor.close()


def sparkline(values: list[int], width: int = 240, height: int = 36) -> str:
    """An inline SVG of the values (rows per day) as bars, scaled to the largest; an empty day shows none."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / len(values)
    bars = "".join(
        f'<rect x="{i * step + 0.5:.1f}" y="{height - max(1.0, v / top * (height - 2)):.1f}" width="{max(1.0, step - 1):.1f}" '
        f'height="{max(1.0, v / top * (height - 2)):.1f}"/>'
        for i, v in enumerate(values)
        if v
    )
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="rows per day, last {len(values)} days, at most {max(values)}">'
        f'<g fill="currentColor">{bars}</g></svg>'
    )


ERROR_DAYS = 14  # the error page's span: error rows are kept 14 days by default (privacy/expire.py)


@dataclass
class ErrorGroup:
    """Error rows of one namespace, doctype and error type over the span, with what replays them."""

    namespace: str | None
    doctype: str | None
    error_type: str | None
    per_day: list[tuple[str, int]]  # (day, rows), oldest first, every day of the span
    total: int = 0
    replayable: int = 0  # rows with a URI: what decoding again can make a ping of

    def replay_command(self) -> str:
        """`pingpipe replay` for these rows, from their first day (once the schemas are mended)."""
        since = next(day for day, n in self.per_day if n)
        parts = ["pingpipe", "replay", "--since", since]
        for option, value in (("--namespace", self.namespace), ("--doctype", self.doctype), ("--error-type", self.error_type)):
            if value is not None:
                parts += [option, shlex.quote(value)]
        return " ".join(parts)


def error_groups(cursor, today: dt.date | None = None, days: int = ERROR_DAYS) -> list[ErrorGroup]:
    """The error rows of the last `days` days, but counted duplicates, by namespace, doctype and error type."""
    today = today or utc.today()
    first = today - dt.timedelta(days=days - 1)
    tables = cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [ERROR_DATASET]).fetchall()
    groups: dict[tuple, ErrorGroup] = {}
    for (name,) in tables:
        rows = cursor.execute(
            f"SELECT document_namespace, document_type, error_type, CAST({SUBMISSION_TIMESTAMP} AS DATE), count(*), count({URI}) "
            f"FROM {quote(ERROR_DATASET)}.{quote(name)} WHERE {SUBMISSION_TIMESTAMP} >= ? AND error_type IS DISTINCT FROM ? GROUP BY ALL",
            [first, DUPLICATE],
        ).fetchall()
        for namespace, doctype, error_type, day, n, with_uri in rows:
            key = (namespace, doctype, error_type)
            group = groups.get(key)
            if group is None:
                span = (first + dt.timedelta(days=i) for i in range(days))
                group = groups[key] = ErrorGroup(namespace, doctype, error_type, [(str(d), 0) for d in span])
            group.per_day = [(d, c + n if d == str(day) else c) for d, c in group.per_day]
            group.total += n
            group.replayable += with_uri
    return sorted(groups.values(), key=lambda g: (-g.total, str(g.namespace), str(g.doctype), str(g.error_type)))


def read_errors(con: duckdb.DuckDBPyConnection, today: dt.date | None = None) -> list[ErrorGroup]:
    """error_groups from one snapshot, beside `up`'s writer."""
    cursor = duckdb_cursor(con)
    try:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        try:
            return error_groups(cursor, today)
        finally:
            cursor.execute("ROLLBACK")
    finally:
        cursor.close()
