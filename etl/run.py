"""Running the queries for a day on the DuckDB warehouse: in dependency order, each in its own
transaction, replacing its day's rows (a rerun gives the same table). A query that fails, or
that reads a table nobody makes, is reported with its file; the queries downstream of it wait,
the others run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterator

from pingpipe.loader.tables import TableId, quote
from pingpipe.reason import one_line

from .checks import FAIL, Check, checks_of
from .functions import ensure_duckdb
from .graph import CycleError, order, reads
from .queries import Query, QueryError
from .sql import parse, to_duckdb

# DuckDB column types a table made by CREATE … AS can be described with in BigQuery's terms
_BQ_TYPES = {
    "VARCHAR": "STRING",
    "BIGINT": "INT64",
    "INTEGER": "INT64",
    "SMALLINT": "INT64",
    "TINYINT": "INT64",
    "HUGEINT": "NUMERIC",
    "UBIGINT": "NUMERIC",
    "UINTEGER": "INT64",
    "DOUBLE": "FLOAT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMP": "DATETIME",
    "TIME": "TIME",
    "BLOB": "BYTES",
    "JSON": "JSON",
}


@dataclass
class Report:
    ran: dict[str, int | None] = field(default_factory=dict)  # table -> rows of the day (a view: None)
    failed: dict[str, str] = field(default_factory=dict)  # table -> the error, starting with its file
    waiting: dict[str, str] = field(default_factory=dict)  # table -> why it did not run
    unknown: dict[str, str] = field(default_factory=dict)  # a table asked for that no query makes -> the mistake
    checks: dict[str, list[dict]] = field(default_factory=dict)  # table -> its checks' outcomes (check_outcome)

    def as_dict(self) -> dict:
        out = {"ran": self.ran, "failed": self.failed, "waiting": self.waiting, "unknown": self.unknown}
        return out | ({"checks": self.checks} if self.checks else {})

    def checked(self, q: Query, outcomes: list[dict]) -> None:
        """Record `q`'s checks; a failed #fail check fails its table's day, so the tables reading it wait."""
        if not outcomes:
            return
        self.checks[q.name] = outcomes
        failed = [o for o in outcomes if o["marker"] == FAIL and not o["passed"]]
        if failed:
            self.failed[q.name] = f"{q.checks_path}: " + "; ".join(f"check {o['check']} (#fail) failed: {o['message']}" for o in failed)


def check_outcome(check: Check, error: str | None) -> dict:
    return {"check": check.number, "marker": check.marker, "passed": error is None, "message": error}


def unknown_tables(queries: list[Query], only: set[str] | None) -> dict[str, str]:
    """The tables of `only` that no query makes, each with what it may have meant to say."""
    import difflib

    names = sorted(q.name for q in queries)
    out = {}
    for name in sorted((only or set()) - set(names)):
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        some = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        out[name] = f"{name}: no query makes this table " + (
            f"(did you mean {close[0]}?)" if close else f"(the queries make {some or 'none'})"
        )
    return out


def existing(writer) -> set[str]:
    """The tables and views the warehouse holds, as `dataset.table`."""
    rows = writer.query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()
    return {f"{schema}.{name}" for schema, name in rows}


def schedule(queries: list[Query], report: Report, only: set[str] | None = None) -> Iterator[tuple[Query, set[str]]]:
    """The queries to run (those in `only`), in dependency order, each with the tables it reads. One
    that cannot be read, or a cycle's, fails alone in `report`; one reading a table whose query
    failed or waits (as the caller records it while iterating) waits. A table of `only` that no
    query makes is a mistake: nothing runs (`report.unknown`)."""
    report.unknown.update(unknown_tables(queries, only))
    if report.unknown:
        return
    read = {}
    for q in queries:
        try:
            read[q.name] = reads(q)
        except QueryError as exc:
            report.failed[q.name] = str(exc)
    runnable = [q for q in queries if q.name in read]
    while True:
        try:
            ordered = order(runnable, read)
            break
        except CycleError as exc:  # the cycle's queries fail; the rest still run
            for name in exc.names:
                report.failed[name] = str(exc)
            runnable = [q for q in runnable if q.name not in exc.names]
        except QueryError as exc:  # two queries make one table
            report.failed[exc.path] = str(exc)
            return
    for q in ordered:
        if only is not None and q.name not in only:
            continue
        blocked = sorted(r for r in read[q.name] if r in report.failed or r in report.waiting)
        if blocked:
            report.waiting[q.name] = f"{q.path}: not run, it reads {', '.join(blocked)}, which did not run"
            continue
        yield q, read[q.name]


def hold(report: Report, q: Query, reads_of: set[str], held: set[str], made: set[str], expected: set[str]) -> bool:
    """Whether `q` cannot run now, recorded in `report`: it fails when it reads a table that no table,
    view or query makes, and waits when one it reads will exist (a query's, the registry's) but does
    not yet."""
    unknown = sorted(r for r in reads_of if r not in held and r not in made and r not in expected)
    if unknown:
        report.failed[q.name] = f"{q.path}: reads {', '.join(unknown)}, which no table, view or query makes"
        return True
    absent = sorted(r for r in reads_of if r not in held)
    if absent:
        report.waiting[q.name] = f"{q.path}: not run, {', '.join(absent)} has no rows yet"
        return True
    return False


def run(writer, queries: list[Query], day: dt.date, *, only: set[str] | None = None, expected: set[str] = frozenset()) -> Report:
    """Run `queries` (or those named in `only`) for `day`. `expected` names tables that will exist
    but may not yet (the registry's): a query reading one that does not waits, without an error."""
    report = Report()
    made = {q.name for q in queries}
    with writer.transaction() as con:  # udf.bits28_*, for the queries that call them
        ensure_duckdb(con)
    for q, reads_of in schedule(queries, report, only):
        held = existing(writer)
        if hold(report, q, reads_of, held, made, expected):
            continue
        try:
            report.ran[q.name] = run_one(writer, q, day, exists=q.name in held)
            report.checked(q, run_checks(writer, q, day))
        except QueryError as exc:
            report.failed[q.name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - the warehouse refused it: its message, one line, with the file
            report.failed[q.name] = f"{q.path}: {one_line(exc)}"
    return report


def run_checks(writer, q: Query, day: dt.date, execute: Callable[[str], object] | None = None) -> list[dict]:
    """`q`'s checks for `day`, on what its run wrote: each one's outcome (check_outcome). Each runs
    on the writer, or through `execute` (a read-only query through a running `up`)."""
    execute = execute or (lambda sql: writer.query(sql).fetchall())
    outcomes = []
    for check in checks_of(q):
        sql = to_duckdb(dataclasses.replace(q, sql=check.sql, path=q.checks_path or q.path), day if q.date_parameter else None)
        try:
            execute(sql)
            error = None
        except Exception as exc:  # noqa: BLE001 - ERROR() raised (what the check found), or why it could not run
            error = one_line(exc).removeprefix("Invalid Input Error: ")
        outcomes.append(check_outcome(check, error))
    return outcomes


def run_one(writer, q: Query, day: dt.date, *, exists: bool) -> int | None:
    """One query for one day, in one transaction: its day's rows replaced (or the view made)."""
    tree = parse(q)
    sql = to_duckdb(q, day if q.date_parameter else None, tree)
    target = TableId(q.dataset, q.table)
    name = f"{quote(q.dataset)}.{quote(q.table)}"
    with writer.transaction() as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(q.dataset)}")
        if q.view:
            con.execute(sql)
            return None
        if not exists or writer.table_fields(target) is None:
            writer.ensure_table(target, q.fields or describe(con, q, sql))
        if q.date_parameter:
            con.execute(f"DELETE FROM {name} WHERE {quote(q.date_parameter)} = ?", [day])
        else:
            con.execute(f"DELETE FROM {name}")
        con.execute(f"INSERT INTO {name} BY NAME {sql}")
        if not q.date_parameter:
            return con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        return con.execute(f"SELECT count(*) FROM {name} WHERE {quote(q.date_parameter)} = ?", [day]).fetchone()[0]


def describe(con, q: Query, sql: str) -> list[dict]:
    """BigQuery fields for a query's result, from DuckDB's description of it (scalar columns only)."""
    fields = []
    for column, duck_type, *_ in con.execute(f"DESCRIBE {sql}").fetchall():
        bq_type = _BQ_TYPES.get(str(duck_type)) or ("NUMERIC" if str(duck_type).startswith("DECIMAL") else None)
        if bq_type is None:
            raise QueryError(q.path, f"column {column} is {duck_type}: give the table a schema.yaml with its fields")
        fields.append({"name": column, "type": bq_type, "mode": "NULLABLE"})
    return fields
