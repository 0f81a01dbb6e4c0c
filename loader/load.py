"""The loader core: decoded and error messages -> rows of the right tables -> a warehouse writer.

A decoded message's table comes from its registry entry (namespace, doctype, version), never
from request text; a message whose schema is unknown, or whose row is too large for the sink,
becomes an error row. Error messages go to `payload_bytes_error.telemetry` or `.structured`,
without IP address or raw user agent.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

import pybase64

from pingpipe import jsontext, utc
from pingpipe.decoder.dedupe import document_key
from pingpipe.decoder.failures import DUPLICATE, load_failure, refused
from pingpipe.logs import records as log_records
from pingpipe.message import RawMessage
from pingpipe.schemas.names import (
    DOCUMENT_ID,
    DOCUMENT_NAMESPACE,
    DOCUMENT_TYPE,
    DOCUMENT_VERSION,
    SUBMISSION_TIMESTAMP,
    URI,
    family_of,
    is_logs_live,
)
from pingpipe.schemas.registry import Registry

from .coerce import Coercer, timestamp_ok
from .tables import ERROR_ATTRIBUTES, ERROR_DATASET, ERROR_FIELDS, TableId, error_table

MAX_ROW_BYTES = 10 * 1024 * 1024  # BigQuery's limit for a streamed row


class Writer(Protocol):
    def write(self, batches: dict[TableId, tuple[list[dict], list[dict]]], *, extra_sql=()) -> int: ...


@dataclass
class Batch:
    """Rows grouped by table, ready for one writer call (one transaction)."""

    tables: dict[TableId, tuple[list[dict], list[dict]]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)

    def add(self, table: TableId, fields: list[dict], row: dict) -> None:
        entry = self.tables.get(table)
        if entry is None:
            entry = self.tables[table] = (fields, [])
        entry[1].append(row)


ERROR_KEY = ("document_id", "uri", "error_type", "error_message", "payload")  # what tells one error row from another


class LoadedBefore:
    """What the tables held before this run, asked of the writer once per id, with each row's
    multiplicity: a row of the input is skipped while its table held more copies of it than the run
    has met. A load run again skips each row once; identical error rows of one input all load, in
    one batch or many; a run that died half way loads the rest when run again."""

    def __init__(self, loaded: Callable[[TableId, list[str], tuple[str, ...]], Counter]):
        self.loaded = loaded
        self._asked: dict[TableId, set] = {}
        self._left: dict[TableId, Counter] = {}
        self._lock = threading.Lock()

    def left(self, table: TableId, ids: set, columns: tuple[str, ...]) -> Counter:
        """The table's copies, by key, not yet met by this run; the ids never asked are asked now
        (before this batch is written, so the answer is still the table as it was)."""
        with self._lock:
            asked = self._asked.setdefault(table, set())
            new = [i for i in ids if i not in asked]
            left = self._left.setdefault(table, Counter())
            if new:
                left.update(self.loaded(table, new, columns))
                asked.update(new)
            return left


def drop_loaded(batch: Batch, before: LoadedBefore) -> int:
    """Take out of a batch the rows their table held before this run (a load run again), counted as
    `already_loaded`: a ping by its document id; an error row by its document id or uri, type,
    message and payload."""
    dropped = 0
    for table, (fields, rows) in batch.tables.items():
        errors = table.dataset == ERROR_DATASET
        # a row by its document's key (decoder/dedupe.py's, as the streaming window and `up` key it);
        # an error row, which may have no document id, by its uri as well
        ids = {(r.get("document_id") or r.get("uri")) if errors else document_key(r) for r in rows} - {None, ""}
        if not ids:
            continue
        key_columns = ERROR_KEY if errors else ("document_id",)
        left = before.left(table, ids, key_columns)
        if not left:
            continue
        keep = []
        for r in rows:
            key = tuple(pybase64.b64decode(r[c]) if c == "payload" and r.get(c) is not None else r.get(c) for c in key_columns)
            if left[key] <= 0:
                keep.append(r)
                continue
            left[key] -= 1
            kind = "duplicates" if errors and r.get("error_type") == DUPLICATE else "errors" if errors else "rows"
            batch.counts[kind] -= 1  # no longer loaded by this run: out of its counts
        dropped += len(rows) - len(keep)
        batch.tables[table] = (fields, keep)
    batch.counts["already_loaded"] += dropped
    return dropped


def error_row(data: bytes, attributes: dict[str, str], now: dt.datetime | None = None) -> dict:
    """An error message (decoder/failures.py) as its row of payload_bytes_error.*; the payload in base64.

    Every error row has a submission_timestamp, which its expiry goes by: a message that came
    without a valid one (a raw line made elsewhere) gets the time its error row was made."""
    row = {
        name: attributes.get(name)
        for name in (
            SUBMISSION_TIMESTAMP,
            DOCUMENT_NAMESPACE,
            DOCUMENT_TYPE,
            DOCUMENT_VERSION,
            DOCUMENT_ID,
            URI,
            "error_type",
            "error_message",
            "exception_class",
            "stack_trace",
        )
    }
    row.update((column, attributes.get(attribute)) for column, attribute in ERROR_ATTRIBUTES.items())
    stamp = row[SUBMISSION_TIMESTAMP]
    if not (isinstance(stamp, str) and timestamp_ok(stamp, zone_allowed=True)):
        row[SUBMISSION_TIMESTAMP] = utc.timestamp(now or utc.now())
    row["payload"] = pybase64.b64encode_as_string(data)
    return {k: v for k, v in row.items() if v is not None}


def error_message(row: dict) -> RawMessage:
    """The message an error row was made from (error_row's inverse, as a warehouse returns the row:
    the payload as bytes, the submission_timestamp as a moment): what `replay` decodes again. Its
    identifiers were never kept, so a replayed ping has the geo and user agent found the first time."""
    attributes = {name: row.get(name) for name in (DOCUMENT_NAMESPACE, DOCUMENT_TYPE, DOCUMENT_VERSION, DOCUMENT_ID, URI)}
    attributes.update((attribute, row.get(column)) for column, attribute in ERROR_ATTRIBUTES.items())
    stamp = row.get(SUBMISSION_TIMESTAMP)
    attributes[SUBMISSION_TIMESTAMP] = utc.timestamp(stamp) if isinstance(stamp, dt.datetime) else stamp
    payload = row.get("payload")
    return RawMessage(bytes(payload) if payload is not None else b"", {k: v for k, v in attributes.items() if v is not None})


def row_namespace(row: dict, table: TableId) -> str:
    """The document namespace of a coerced row (for its error table)."""
    if table.dataset == ERROR_DATASET:
        return row.get(DOCUMENT_NAMESPACE, "")
    return (row.get("metadata") or {}).get(DOCUMENT_NAMESPACE) or family_of(table.dataset) or table.dataset


def refused_row(row: dict, table: TableId, message: str) -> tuple[TableId, dict]:
    """The error table and row for a coerced row its warehouse refused: the row itself is the payload."""
    meta = row.get("metadata") or {}
    attributes = {
        SUBMISSION_TIMESTAMP: row.get(SUBMISSION_TIMESTAMP),
        DOCUMENT_ID: row.get(DOCUMENT_ID),
        DOCUMENT_NAMESPACE: meta.get(DOCUMENT_NAMESPACE),
        DOCUMENT_TYPE: meta.get(DOCUMENT_TYPE),
        DOCUMENT_VERSION: meta.get(DOCUMENT_VERSION),
    }
    error = refused(jsontext.dumps(row), {k: v for k, v in attributes.items() if v is not None}, message)
    return error_table(row_namespace(row, table)), error_row(error.data, error.attributes)


def refusals(writer, tables: dict[TableId, tuple[list[dict], list]]) -> dict[tuple[TableId, int], str]:
    """The rows of a batch its warehouse refused that it refuses on their own, by (table, position), with
    the reason an error row gives: each is tried alone and rolled back (the writer's `probe`). Error rows
    are never probed: the error tables take any message, and there is nowhere else to put one."""
    found = {}
    for table, (fields, rows) in tables.items():
        if table.dataset == ERROR_DATASET or not len(rows):
            continue
        for index, message in writer.probe(table, fields, rows):
            found[(table, index)] = f"the warehouse refused the row for {table}: {message}"
    return found


def beyond_log_tables(writer, tables, bound: int = log_records.MAX_TABLES) -> dict[TableId, str]:
    """The service-log tables among `tables` that their service may not make (past `bound` tables), with
    the reason their rows' error rows give: every runner refuses them alike. A writer that cannot list
    its tables (BigQuery's) is not bounded here."""
    listing = getattr(writer, "tables", None)
    new = {t for t in tables if is_logs_live(t.dataset) and writer.table_fields(t) is None}
    if listing is None or not new:  # the common case: no new log table, nothing to list
        return {}
    beyond = log_records.over_table_bound(new, set(listing()), bound)
    reason = f"its service has {bound} log tables, the most it may make (--max-log-tables)"
    return {table: f"the warehouse refused the row for {table}: {reason}" for table in beyond}


def _as_errors(batch: Batch, found: dict[tuple[TableId, int], str]) -> None:
    """Move the refused rows of a batch to its error rows, with their reasons."""
    for table in {t for t, _ in found}:
        fields, rows = batch.tables[table]
        keep = []
        for i, row in enumerate(rows):
            message = found.get((table, i))
            if message is None:
                keep.append(row)
                continue
            where_to, error = refused_row(jsontext.loads(row) if type(row) is bytes else row, table, message)
            batch.add(where_to, ERROR_FIELDS, error)
            batch.counts["rows"] -= 1
            batch.counts["errors"] += 1
        batch.tables[table] = (fields, keep)


def write_refusing(writer, batch: Batch, max_log_tables: int = log_records.MAX_TABLES) -> int:
    """Write a batch in one transaction, no row of it stopping the load: rows of log tables past their
    service's bound, and rows the warehouse refuses on their own (it is asked only when it refused the
    batch), become error rows (Load, with the reason), and the rest is written."""
    beyond = beyond_log_tables(writer, batch.tables, max_log_tables)
    _as_errors(batch, {(table, i): reason for table, reason in beyond.items() for i in range(len(batch.tables[table][1]))})
    try:
        return writer.write(batch.tables)
    except Exception:
        found = refusals(writer, batch.tables) if hasattr(writer, "probe") else None  # BigQuery's refuses rows itself
        if not found:
            raise
    _as_errors(batch, found)
    return writer.write(batch.tables)


class RowTooLarge(ValueError):
    """A row over the sink's limit for one row."""


class Loader:
    def __init__(self, registry: Registry, *, max_row_bytes: int = MAX_ROW_BYTES):
        self.registry = registry
        self.max_row_bytes = max_row_bytes
        self._coercers: dict[tuple, tuple[TableId, list[dict], Coercer]] = {}

    def target(self, namespace: str, doctype: str, version: str) -> tuple[TableId, list[dict], Coercer]:
        """The live table, its fields and its coercer for a registry entry (UnknownSchema if none)."""
        key = (namespace, doctype, version)
        target = self._coercers.get(key)
        if target is None:
            entry = self.registry.get(namespace, doctype, version)
            fields = self.registry.table_schema(entry)
            target = self._coercers[key] = (TableId.parse(entry.live_table), fields, Coercer(fields))
        return target

    def log_target(self, attributes: dict[str, str]) -> tuple[TableId, list[dict], Coercer]:
        """The table, fields and coercer of a service's queued log row (logs/records.py), once per table."""
        key = (attributes[log_records.SERVICE], attributes[log_records.TYPE], attributes.get(log_records.COLUMNS))
        target = self._coercers.get(key)
        if target is None:
            table, fields = log_records.place(attributes)
            target = self._coercers[key] = (table, fields, Coercer(fields))
        return target

    def place(self, attributes: dict[str, str], payload: dict, size: int) -> tuple[TableId, list[dict], Coercer]:
        """Where a decoded message goes: its table, fields and coercer; every runner routes with it.
        A ping goes to its registry entry's live table, a service's log row to its Type's table.

        Raises, for the message's Load error row, when the registry has no such table or the row would
        be over the sink's row limit. A row is at most a few times its payload (JSON text in STRING
        columns, escapes): only rows of payloads of `size` bytes near the limit are serialized to check.
        """
        if log_records.SERVICE in attributes:
            table, fields, coerce = self.log_target(attributes)
        else:
            table, fields, coerce = self.target(
                attributes.get("document_namespace", ""), attributes.get("document_type", ""), attributes.get("document_version", "")
            )
        if size > self.max_row_bytes // 4 - 65536:
            n = len(jsontext.dumps(coerce(payload)))
            if n > self.max_row_bytes:
                raise RowTooLarge(f"row of {n} bytes is over the sink's {self.max_row_bytes}-byte limit")
        return table, fields, coerce

    def row(self, data: bytes, attributes: dict[str, str], payload: dict | None = None) -> tuple[TableId, list[dict], dict]:
        """The (table, fields, row) for one decoded message; raises when it cannot be a row."""
        if payload is None:
            payload = jsontext.loads(data)
        table, fields, coerce = self.place(attributes, payload, len(data))
        return table, fields, coerce(payload)

    def route(self, data: bytes, attributes: dict[str, str], batch: Batch, payload: dict | None = None) -> None:
        """Add one message to the batch: as a row of its table, or as an error row."""
        if "error_type" in attributes:
            batch.add(error_table(attributes.get("document_namespace")), ERROR_FIELDS, error_row(data, attributes))
            batch.counts["duplicates" if attributes["error_type"] == DUPLICATE else "errors"] += 1
            return
        try:
            table, fields, row = self.row(data, attributes, payload)
        except Exception as exc:  # noqa: BLE001 - whatever it is, this message alone becomes an error row
            error = load_failure(data, attributes, exc)
            batch.add(error_table(attributes.get("document_namespace")), ERROR_FIELDS, error_row(error.data, error.attributes))
            batch.counts["errors"] += 1
            return
        batch.add(table, fields, row)
        batch.counts["rows"] += 1

    def batch(self, messages: Iterable[tuple[bytes, dict]]) -> Batch:
        batch = Batch()
        for data, attributes in messages:
            self.route(data, attributes, batch)
        return batch
