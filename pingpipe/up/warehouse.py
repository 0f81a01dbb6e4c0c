"""Read-only questions to the warehouse (`pingpipe query`, `pingpipe status`), given a connection.

The same functions serve a direct read-only open of the file and the running `pingpipe up`'s
admin port (admin.py): DuckDB lets only one process hold the file, so while `up` runs, queries
go through it and run on their own cursor, beside the writer, under DuckDB's MVCC.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from pathlib import Path

import duckdb
import orjson

from pingpipe.edge.publish.segments import OPEN, SEALED
from pingpipe.loader.tables import ERROR_DATASET
from pingpipe.loader.writers.duckdb import META_SCHEMA, cursor as duckdb_cursor

READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.PRAGMA}


class QueryError(Exception):
    """A query that is not allowed or that DuckDB rejected; the message is for the user."""


def _jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (decimal.Decimal, dt.timedelta)):
        return str(value)
    raise TypeError


def dumps(obj) -> bytes:
    return orjson.dumps(obj, default=_jsonable, option=orjson.OPT_NON_STR_KEYS)


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    """Run read-only SQL; returns {"columns": [...], "rows": [[...], ...]}."""
    cursor = duckdb_cursor(con)  # its own connection: the writer may be busy on `con` right now
    try:
        try:
            statements = cursor.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        if not statements:
            raise QueryError("no SQL statement given")
        for statement in statements:
            if statement.type not in READ_ONLY:
                raise QueryError(f"only read-only statements are allowed here, not {statement.type.name}")
        for statement in statements[:-1]:
            cursor.execute(statement)
        cursor.execute(statements[-1])
        columns = [d[0] for d in cursor.description or []]
        rows = [list(r) for r in cursor.fetchall()] if columns else []
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    finally:
        cursor.close()
    return {"columns": columns, "rows": rows}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def status(con: duckdb.DuckDBPyConnection) -> dict:
    """Tables and their row counts, errors by type, and what has been committed from the queue."""
    cursor = duckdb_cursor(con)
    cursor.execute("BEGIN TRANSACTION")  # one snapshot: counts that add up, even while `up` commits
    try:
        tables = []
        for schema, name in cursor.execute(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> ? AND "
                "table_type = 'BASE TABLE' ORDER BY 1, 2", [META_SCHEMA]).fetchall():
            (rows,) = cursor.execute(f"SELECT count(*) FROM {_quote(schema)}.{_quote(name)}").fetchone()
            tables.append({"table": f"{schema}.{name}", "rows": rows})
        errors: dict[str, int] = {}
        for entry in tables:
            schema, _, name = entry["table"].partition(".")
            if schema == ERROR_DATASET:
                for error_type, n in cursor.execute(
                        f"SELECT error_type, count(*) FROM {_quote(schema)}.{_quote(name)} GROUP BY 1").fetchall():
                    errors[error_type] = errors.get(error_type, 0) + n
        committed = {}
        has_segments = cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND "
                                      "table_name = 'segments'", [META_SCHEMA]).fetchone()[0]
        if has_segments:
            m, r, e, d, s = cursor.execute(
                f"SELECT coalesce(sum(messages), 0), coalesce(sum(rows), 0), coalesce(sum(errors), 0), "
                f"coalesce(sum(duplicates), 0), count(*) FROM {META_SCHEMA}.segments").fetchone()
            committed = {"messages": m, "rows": r, "errors": e, "duplicates": d, "segments": s}
    finally:
        cursor.execute("ROLLBACK")
        cursor.close()
    return {"tables": tables, "errors_by_type": dict(sorted(errors.items())), "committed": committed}


def backlog(queue: Path) -> dict:
    """Queue segments not yet committed (sealed and still open), read from the directory alone."""
    sealed = [p for p in queue.glob(f"*{SEALED}")] if queue.is_dir() else []
    open_ = [p for p in queue.glob(f"*{OPEN}")] if queue.is_dir() else []

    def size(paths):
        total = 0
        for p in paths:
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                pass
        return total

    return {"sealed_segments": len(sealed), "sealed_bytes": size(sealed), "open_segments": len(open_), "open_bytes": size(open_)}


def format_table(result: dict, max_width: int = 60) -> str:
    """A plain text table, the way a terminal user wants to read a query result."""
    def cell(v) -> str:
        if v is None:
            return "NULL"
        text = v if isinstance(v, str) else dumps(v).decode("utf-8") if isinstance(v, (list, dict)) else str(v)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    columns = result["columns"]
    rows = [[cell(v) for v in row] for row in result["rows"]]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)), line]
    out += [" | ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)
