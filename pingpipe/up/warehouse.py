"""Read-only questions to the warehouse (`pingpipe query`, `pingpipe status`), given a connection.

The same functions serve a direct read-only open of the file and the running `pingpipe up`'s
admin port (admin.py): DuckDB lets only one process hold the file, so while `up` runs, queries
go through it and run on their own cursor, beside the writer, under DuckDB's MVCC.

A query reads the warehouse's tables and nothing else. The statement types are checked first, for
a clear message; DuckDB enforces the rest: each statement runs in a READ ONLY transaction, on an
instance `lock_down` closed to files, the network, extensions and settings.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import duckdb
import orjson

from pingpipe import utc
from pingpipe.edge.publish.accepted import stem
from pingpipe.edge.publish.segments import OPEN, SEALED
from pingpipe.loader.tables import ERROR_DATASET, TableId
from pingpipe.loader.writers.duckdb import META_SCHEMA, locked_down
from pingpipe.loader.writers.duckdb import cursor as duckdb_cursor
from pingpipe.schemas.names import CYCLES

# `SHOW TABLES` is DuckDB's list of its current schema, `main`, where pingpipe keeps no table: it
# answers every dataset.table instead (`SHOW ALL TABLES` is DuckDB's, with the columns).
SHOW_TABLES = re.compile(r"\s*show\s+tables\s*;?\s*", re.IGNORECASE)
LIST_TABLES = (
    "SELECT table_schema || '.' || table_name AS \"table\", CASE table_type WHEN 'VIEW' THEN 'view' "
    "ELSE 'table' END AS type FROM information_schema.tables WHERE table_catalog = current_database() "
    f"AND table_schema <> '{META_SCHEMA}' ORDER BY 1"
)
QUERY_TYPES = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
NUMBER_RANGE = (-(2**63), 2**64 - 1)  # the integers orjson writes as numbers


class QueryError(Exception):
    """A query that is not allowed or that DuckDB rejected; the message is for the user."""


def _jsonable(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)  # Decimal, timedelta, and whatever else a DuckDB type comes back as


def wide_ints_as_text(value):
    """The value with every integer orjson cannot write (HUGEINT, UHUGEINT beyond 64 bits) as its
    decimal text, in lists, structs and maps too: a JSON reader could not hold it as a number anyway."""
    if type(value) is int:
        return value if NUMBER_RANGE[0] <= value <= NUMBER_RANGE[1] else str(value)
    if isinstance(value, (list, tuple)):
        return [wide_ints_as_text(v) for v in value]
    if isinstance(value, dict):
        return {wide_ints_as_text(k): wide_ints_as_text(v) for k, v in value.items()}
    return value


def dumps(obj) -> bytes:
    options = orjson.OPT_NON_STR_KEYS
    try:
        return orjson.dumps(obj, default=_jsonable, option=options)
    except orjson.JSONEncodeError:  # rare (an integer beyond 64 bits): only then walk the whole result
        return orjson.dumps(wide_ints_as_text(obj), default=_jsonable, option=options)


def explained(query: str) -> str | None:
    """The statement an EXPLAIN [ANALYZE | (options)] statement explains (None if there is none)."""
    tokens = duckdb.tokenize(query)
    ends = [start for start, _ in tokens[1:]] + [len(query)]
    words = [
        (start, query[start:end].strip()) for (start, kind), end in zip(tokens, ends, strict=True) if kind != duckdb.token_type.comment
    ]
    if not words or words[0][1].lower() != "explain":
        return None
    i = 1
    if i < len(words) and words[i][1].lower() == "analyze":
        i += 1
    elif i < len(words) and words[i][1] == "(":
        depth = 0
        while i < len(words):
            depth += (words[i][1] == "(") - (words[i][1] == ")")
            i += 1
            if depth == 0:
                break
    return query[words[i][0] :] if i < len(words) else None


def _explains_a_select(cursor: duckdb.DuckDBPyConnection, query: str) -> bool:
    inner = explained(query)
    try:
        statements = cursor.extract_statements(inner) if inner else []
    except duckdb.Error:
        return False
    return len(statements) == 1 and statements[0].type == duckdb.StatementType.SELECT


def one_line(exc: duckdb.Error) -> str:
    """DuckDB's message in one line (it adds the query and a caret below); a missing table points to
    `pingpipe status`, which lists them."""
    text = " ".join(line.strip() for line in str(exc).split("\n\n")[0].splitlines() if line.strip())
    if isinstance(exc, duckdb.CatalogException) and "does not exist" in text:
        text += " (`pingpipe status` lists the tables)"
    return text


def statements_of(cursor: duckdb.DuckDBPyConnection, sql: str) -> list:
    """The statements of `sql` if each is a query (SELECT, or EXPLAIN [ANALYZE] of one).

    The first, friendly refusal; DuckDB itself refuses the rest (run_statements, lock_down)."""
    try:
        statements = cursor.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    if not statements:
        raise QueryError("no SQL statement given")
    for statement in statements:
        kind = statement.type
        if kind not in QUERY_TYPES or (kind == duckdb.StatementType.EXPLAIN and not _explains_a_select(cursor, statement.query)):
            what = "EXPLAIN of anything but a SELECT" if kind in QUERY_TYPES else kind.name
            hint = (
                " (for PRAGMA table_info etc. use DESCRIBE t, SHOW TABLES or SELECT * FROM pragma_table_info('t'))"
                if kind == duckdb.StatementType.PRAGMA
                else ""
            )
            raise QueryError(f"only read-only queries are allowed here (SELECT, or EXPLAIN [ANALYZE] of one), not {what}{hint}")
    return statements


def run_statements(cursor: duckdb.DuckDBPyConnection, statements: list) -> dict:
    """Run each statement in a READ ONLY transaction of its own, rolled back after it: DuckDB refuses
    any write (EXPLAIN ANALYZE's too), and a statement that ends the transaction is caught before the
    next one could run outside it. Returns the last one's {"columns", "rows"}."""
    columns, rows = [], []
    for statement in statements:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        try:
            cursor.execute(statement)
            if statement is statements[-1]:
                columns = [d[0] for d in cursor.description or []]
                rows = [list(r) for r in cursor.fetchall()] if columns else []
        except duckdb.Error as exc:
            try:
                cursor.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the statement ended the transaction itself: nothing runs after it anyway
            raise QueryError(one_line(exc)) from None
        try:
            cursor.execute("ROLLBACK")
        except duckdb.TransactionException:
            raise QueryError("a query cannot end its read-only transaction (COMMIT, ROLLBACK)") from None
    return {"columns": columns, "rows": rows}


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    """Run read-only SQL; returns {"columns": [...], "rows": [[...], ...]}.

    Only on a warehouse `lock_down` closed: no files, no network, no settings, whatever the SQL."""
    cursor = duckdb_cursor(con)  # its own connection: the writer may be busy on `con` right now
    try:
        if not locked_down(cursor):
            raise QueryError("this warehouse connection is not locked down: no user SQL runs on it")
        statements = [LIST_TABLES if SHOW_TABLES.fullmatch(s.query) else s for s in statements_of(cursor, sql)]
        return run_statements(cursor, statements)
    finally:
        cursor.close()


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
            "table_type = 'BASE TABLE' ORDER BY 1, 2",
            [META_SCHEMA],
        ).fetchall():
            (rows,) = cursor.execute(f"SELECT count(*) FROM {_quote(schema)}.{_quote(name)}").fetchone()
            tables.append({"table": f"{schema}.{name}", "rows": rows})
        errors: dict[str, int] = {}
        for entry in tables:
            schema, _, name = entry["table"].partition(".")
            if schema == ERROR_DATASET:
                for error_type, n in cursor.execute(
                    f"SELECT error_type, count(*) FROM {_quote(schema)}.{_quote(name)} GROUP BY 1"
                ).fetchall():
                    errors[error_type] = errors.get(error_type, 0) + n
        committed = {}
        has_segments = cursor.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'segments'", [META_SCHEMA]
        ).fetchone()[0]
        if has_segments:
            m, r, e, d, s = cursor.execute(
                f"SELECT coalesce(sum(messages), 0), coalesce(sum(rows), 0), coalesce(sum(errors), 0), "
                f"coalesce(sum(duplicates), 0), count(*) FROM {META_SCHEMA}.segments"
            ).fetchone()
            committed = {"messages": m, "rows": r, "errors": e, "duplicates": d, "segments": s}
        last_cycle = _last_cycle(cursor)
    finally:
        cursor.execute("ROLLBACK")
        cursor.close()
    return {"tables": tables, "errors_by_type": dict(sorted(errors.items())), "committed": committed, "last_cycle": last_cycle}


def _last_cycle(cursor: duckdb.DuckDBPyConnection) -> dict | None:
    """The report of the daily cycle that finished last (cycle.py records each), with when; None before the first."""
    schema, _, name = CYCLES.partition(".")
    held = cursor.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()[0]
    row = cursor.execute(f"SELECT report, finished_at FROM {CYCLES} ORDER BY finished_at DESC LIMIT 1").fetchone() if held else None
    if row is None:
        return None
    return {**orjson.loads(row[0]), "finished_at": row[1].astimezone(utc.UTC).isoformat(timespec="seconds")}


def cycle_summary(report: dict) -> str:
    """A cycle's report in one line, as `up` prints it when the cycle ends."""
    etl = report.get("etl") or {}
    outcomes = [o for checked in (etl.get("checks") or {}).values() for o in checked if not o["passed"]]
    failed_checks = sum(o["marker"] == "fail" for o in outcomes)
    checks = f", checks: {failed_checks} failed, {len(outcomes) - failed_checks} warning(s)" if outcomes else ""
    return (
        f"{report['day']}: stable {sum(report.get('stable', {}).values())} row(s), shredded "
        f"{sum(report.get('shredded', {}).values())}, expired {sum(report.get('expired', {}).values())}, derived "
        f"tables {len(etl.get('ran', {}))} ({len(etl.get('failed', {}))} failed{checks})"
    )


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


def _csv_cell(value) -> str:
    """A value as CSV text, the same whether the result came from `up` (as JSON) or from the file: text as
    it is, NULL as nothing, the rest as its JSON (numbers, true/false, lists and structs)."""
    if value is None:
        return ""
    value = orjson.loads(dumps(value))  # a date, a Decimal, bytes: as `up`'s JSON answer gives them
    return value if isinstance(value, str) else dumps(value).decode("utf-8")


def format_csv(result: dict) -> str:
    """RFC 4180 CSV (with \\n line ends): the header line, even with no rows, then a line per row."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result["columns"])
    writer.writerows([_csv_cell(v) for v in row] for row in result["rows"])
    return out.getvalue()


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
    out = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), line]
    out += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def columns_by_table(cursor: duckdb.DuckDBPyConnection) -> dict[TableId, set[str]]:
    """Every table of the warehouse (pingpipe's own included) with its column names: one read of the catalog."""
    out: dict[TableId, set[str]] = {}
    for schema, table, column in cursor.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() WHERE database_name = current_database()"
    ).fetchall():
        out.setdefault(TableId(schema, table), set()).add(column)
    return out


def committed_segments(cursor: duckdb.DuckDBPyConnection, tables: dict[TableId, set[str]]) -> set[str]:
    """The queue segments whose rows are committed (commit.py's marks), by stem: the same open or sealed."""
    if TableId(META_SCHEMA, "segments") not in tables:
        return set()
    return {stem(Path(name).name) for (name,) in cursor.execute(f"SELECT name FROM {META_SCHEMA}.segments").fetchall()}
