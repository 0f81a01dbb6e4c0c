"""`pingpipe trace DOCUMENT_ID`: every place one document id is known, from one snapshot of the warehouse
and the queue beside it.

A document can be in several places at once: a row, and a counted duplicate of it; an error row,
and its copy recovered by a replay. Each place is one entry: queued (the segment), row (the table,
its submission time, and its stable copy once the day was deduplicated), error (type, message, and
for a schema error the JSON path that failed), duplicate (of which row), replayed (when, into which
table), shredded or expired (when, from which table: the id only, DELETED), or, with none of these,
unknown. The same function answers on a running `up` (admin.py) and on a data folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from pingpipe.decoder.dedupe import document_key
from pingpipe.decoder.failures import DUPLICATE
from pingpipe.edge.publish.accepted import stem
from pingpipe.edge.publish.segments import OPEN, SEALED
from pingpipe.loader.tables import quote
from pingpipe.loader.writers.duckdb import cursor as duckdb_cursor
from pingpipe.message import BadLine, RawMessage
from pingpipe.schemas.names import DELETED, ERROR_DATASET, REPLAYS, SUBMISSION_TIMESTAMP, URI, TableId, is_live, stable_of

from .warehouse import columns_by_table, committed_segments

QUEUED, ROW, ERROR, DUPLICATE_OF, REPLAYED, SHREDDED, EXPIRED, UNKNOWN = (
    "queued",
    "row",
    "error",
    "duplicate",
    "replayed",
    "shredded",
    "expired",
    "unknown",
)
_SCHEMA_PATH = re.compile(r"(#/[^:\s]*):")  # decoder/steps/payload.py's "#/path: message"


def schema_path(error_message: str | None) -> str | None:
    """The JSON path a schema validation error names, if it names one."""
    found = _SCHEMA_PATH.search(error_message or "")
    return found.group(1) if found else None


def queued(queue: Path, document_id: str, committed: set[str]) -> list[dict]:
    """The queue's segments not committed yet (`committed`: stems) that hold a message of the document."""
    needle = document_id.encode("utf-8")
    out = []
    segments = sorted(queue.glob(f"*{SEALED}")) + sorted(queue.glob(f"*{OPEN}")) if queue.is_dir() else []
    for path in segments:
        if stem(path.name) in committed:
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # committed and removed meanwhile
            continue
        if needle in data and any(needle in line and key_of(line) == document_id for line in data.splitlines()):
            out.append({"state": QUEUED, "segment": path.name, "sealed": not path.name.endswith(OPEN)})
    return out


def key_of(line: bytes) -> str:
    """The document a queued line is a message of (dedupe.document_key), or "" for a line that is none."""
    try:
        message = RawMessage.from_line(line)
    except BadLine:
        return ""
    return document_key(message.attributes, message.data)


def _ref(table: TableId) -> str:
    return f"{quote(table.dataset)}.{quote(table.table)}"


def _moment(value) -> str | None:
    from pingpipe import utc

    return utc.timestamp(value) if value is not None else None


def in_warehouse(cursor, document_id: str, tables: dict[TableId, set[str]]) -> list[dict]:
    """The places a DuckDB warehouse (its `tables`, with their columns) knows the document: rows, error
    rows, duplicates, replays, deletions."""
    out: list[dict] = []
    rows: list[str] = []
    for table, columns in sorted(tables.items(), key=lambda t: str(t[0])):
        if not is_live(table.dataset) or not {"document_id", SUBMISSION_TIMESTAMP} <= columns:
            continue
        for (stamp,) in cursor.execute(f"SELECT {SUBMISSION_TIMESTAMP} FROM {_ref(table)} WHERE document_id = ?", [document_id]).fetchall():
            stable = stable_of(table)
            copied = (
                stable in tables
                and cursor.execute(f"SELECT count(*) FROM {_ref(stable)} WHERE document_id = ?", [document_id]).fetchone()[0] > 0
            )
            rows.append(str(table))
            out.append({"state": ROW, "table": str(table), SUBMISSION_TIMESTAMP: _moment(stamp), "stable": str(stable) if copied else None})
    for table in sorted((t for t in tables if t.dataset == ERROR_DATASET), key=str):
        found = cursor.execute(
            f"SELECT {SUBMISSION_TIMESTAMP}, error_type, error_message FROM {_ref(table)} "
            f"WHERE document_id = ? OR (document_id IS NULL AND ends_with({URI}, '/' || ?)) ORDER BY 1",
            [document_id, document_id],
        ).fetchall()
        out += [error_place(str(table), stamp, error_type, message, sorted(rows)) for stamp, error_type, message in found]
    if TableId.parse(REPLAYS) in tables:
        for at, error_table, error_type, into in cursor.execute(
            f"SELECT replayed_at, error_table, error_type, into_table FROM {REPLAYS} WHERE document_id = ? ORDER BY 1", [document_id]
        ).fetchall():
            out.append({"state": REPLAYED, "at": _moment(at), "from": error_table, "error_type": error_type, "into": into})
    if TableId.parse(DELETED) in tables:
        for reason, table, at in cursor.execute(
            f"SELECT reason, table_name, deleted_at FROM {DELETED} WHERE document_id = ? ORDER BY 3, 2", [document_id]
        ).fetchall():
            out.append({"state": reason, "table": table, "at": _moment(at)})
    return out


def trace(con, document_id: str, queue: Path | None = None) -> dict:
    """{"document_id", "places": [...]}: every place the document is known, from one snapshot (its
    own read cursor, beside a writer), or one place, unknown."""
    cursor = duckdb_cursor(con)
    cursor.execute("BEGIN TRANSACTION")
    try:
        tables = columns_by_table(cursor)
        places = in_warehouse(cursor, document_id, tables)
        committed = committed_segments(cursor, tables)
    finally:
        cursor.execute("ROLLBACK")
        cursor.close()
    if queue is not None:
        places = queued(queue, document_id, committed) + places
    return {"document_id": document_id, "places": places or [{"state": UNKNOWN}]}


def in_bigquery(client, project: str, document_id: str, since) -> dict:
    """`trace` on a BigQuery project: its live tables (and their stable copies), error tables and
    replays, read from `since` on (a partition filter: a trace costs what those days' id columns do).
    Nothing is queued there (Pub/Sub holds it), and shreds there keep no ids."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    from pingpipe import utc

    from .cycle import bigquery_tables

    tables = {TableId(*key): {f["name"] for f in fields} for key, fields in bigquery_tables(client, project).items()}
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("id", "STRING", document_id),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", utc.bounds(since)[0]),
        ]
    )

    def found(sql: str) -> list:
        return list(client.query(sql, job_config=config).result())

    def ref(table: TableId) -> str:
        return f"`{project}.{table}`"

    dated = f"{SUBMISSION_TIMESTAMP} >= @since"
    out, rows = [], []
    for table, columns in sorted(tables.items(), key=lambda t: str(t[0])):
        if not is_live(table.dataset) or not {"document_id", SUBMISSION_TIMESTAMP} <= columns:
            continue
        for (stamp,) in found(f"SELECT {SUBMISSION_TIMESTAMP} FROM {ref(table)} WHERE {dated} AND document_id = @id"):
            stable = stable_of(table)
            copied = stable in tables and bool(found(f"SELECT 1 FROM {ref(stable)} WHERE {dated} AND document_id = @id LIMIT 1"))
            rows.append(str(table))
            out.append({"state": ROW, "table": str(table), SUBMISSION_TIMESTAMP: _moment(stamp), "stable": str(stable) if copied else None})
    for table in sorted((t for t in tables if t.dataset == ERROR_DATASET), key=str):
        sql = (
            f"SELECT {SUBMISSION_TIMESTAMP}, error_type, error_message FROM {ref(table)} WHERE {dated} "
            f"AND (document_id = @id OR (document_id IS NULL AND ENDS_WITH({URI}, CONCAT('/', @id)))) ORDER BY 1"
        )
        out += [error_place(str(table), stamp, error_type, message, sorted(rows)) for stamp, error_type, message in found(sql)]
    sql = f"SELECT replayed_at, error_table, error_type, into_table FROM `{project}.{REPLAYS}` WHERE document_id = @id ORDER BY 1"
    try:  # pingpipe's bookkeeping dataset is no table listing's
        replayed = found(sql)
    except NotFound:
        replayed = []
    for at, error_table, error_type, into in replayed:
        out.append({"state": REPLAYED, "at": _moment(at), "from": error_table, "error_type": error_type, "into": into})
    return {"document_id": document_id, "places": out or [{"state": UNKNOWN}], "since": since.isoformat()}


def error_place(table: str, stamp, error_type: str, message: str, rows: list[str]) -> dict:
    """An error row's place: a counted duplicate of the document's rows, or an error (with the path a schema refused)."""
    if error_type == DUPLICATE:
        return {"state": DUPLICATE_OF, "table": table, SUBMISSION_TIMESTAMP: _moment(stamp), "of": rows}
    entry = {"state": ERROR, "table": table, SUBMISSION_TIMESTAMP: _moment(stamp), "error_type": error_type, "error_message": message}
    path = schema_path(message)
    if path:
        entry["path"] = path
    return entry


def lines(result: dict) -> list[str]:
    """The trace as a person reads it: one line per place."""
    out = [f"document {result['document_id']}" + (f" (BigQuery, from {result['since']} on)" if "since" in result else "")]
    for p in result["places"]:
        state = p["state"]
        if state == QUEUED:
            text = f"queued in {p['segment']} ({'sealed' if p['sealed'] else 'still being written'}), not committed yet"
        elif state == ROW:
            stable = (
                f"; its stable copy is in {p['stable']}" if p["stable"] else "; not in its stable table yet (its day's cycle has not run)"
            )
            text = f"a row of {p['table']}, submitted {p[SUBMISSION_TIMESTAMP]}{stable}"
        elif state == ERROR:
            where = f" at {p['path']}" if "path" in p else ""
            text = f"an error row of {p['table']}, submitted {p[SUBMISSION_TIMESTAMP]}: {p['error_type']}{where}: {p['error_message']}"
        elif state == DUPLICATE_OF:
            of = " and ".join(p["of"]) if p["of"] else "a row no longer there"
            text = f"a counted duplicate (submitted {p[SUBMISSION_TIMESTAMP]}, in {p['table']}) of the row in {of}"
        elif state == REPLAYED:
            text = f"replayed {p['at']} from {p['from']} ({p['error_type']}) into {p['into']}"
        elif state in (SHREDDED, EXPIRED):
            text = f"{state} {p['at']} from {p['table']} (only its id is kept)"
        else:
            text = "unknown: never accepted, or deleted before pingpipe kept deletions, or mistyped"
        out.append(f"  {state:<9} {text}")
    return out
