"""The loader core: decoded and error messages -> rows of the right tables -> a warehouse writer.

A decoded message's table comes from its registry entry (namespace, doctype, version), never
from request text; a message whose schema is unknown, or whose row is too large for the sink,
becomes an error row. Error messages go to `payload_bytes_error.telemetry` or `.structured`,
without IP address or raw user agent.
"""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Protocol

import pybase64

from pingpipe import jsontext
from pingpipe.schemas.registry import Registry

from .coerce import Coercer
from .tables import ERROR_FIELDS, TableId, error_table

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


def error_row(data: bytes, attributes: dict[str, str]) -> dict:
    row = {name: attributes.get(name) for name in (
        "submission_timestamp", "document_namespace", "document_type", "document_version", "document_id", "uri",
        "error_type", "error_message", "exception_class", "stack_trace")}
    row["payload"] = pybase64.b64encode_as_string(data)
    return {k: v for k, v in row.items() if v is not None}


def row_namespace(row: dict, table: TableId) -> str:
    """The document namespace of a coerced row (for its error table)."""
    if table.dataset == "payload_bytes_error":
        return row.get("document_namespace", "")
    return (row.get("metadata") or {}).get("document_namespace") or table.dataset.removesuffix("_live")


def rejected_row(row: dict, table: TableId, message: str, exception_class: str) -> dict:
    """The error row for a coerced row its warehouse refused: the row itself is the payload."""
    meta = row.get("metadata") or {}
    attributes = {
        "submission_timestamp": row.get("submission_timestamp"), "document_id": row.get("document_id"),
        "document_namespace": meta.get("document_namespace"), "document_type": meta.get("document_type"),
        "document_version": meta.get("document_version"), "error_type": "Load", "error_message": message,
        "exception_class": exception_class,
    }
    return error_row(jsontext.dumps(row), {k: v for k, v in attributes.items() if v is not None})


def load_failure(attributes: dict[str, str], exc: BaseException) -> dict[str, str]:
    """The attributes of a message the loader could not turn into a row (error_type "Load")."""
    failed = dict(attributes)
    failed.update(error_type="Load", error_message=f"{type(exc).__name__}: {exc}",
                  exception_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
                  stack_trace="".join(traceback.format_exception(exc))[-8000:])
    return failed


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

    def row(self, data: bytes, attributes: dict[str, str], payload: dict | None = None) -> tuple[TableId, list[dict], dict]:
        """The (table, fields, row) for one decoded message; raises when it cannot be a row."""
        table, fields, coercer = self.target(attributes.get("document_namespace", ""), attributes.get("document_type", ""),
                                             attributes.get("document_version", ""))
        if len(data) > self.max_row_bytes:
            raise ValueError(f"row of {len(data)} bytes is over the sink's {self.max_row_bytes}-byte limit")
        return table, fields, coercer(jsontext.loads(data) if payload is None else payload)

    def route(self, data: bytes, attributes: dict[str, str], batch: Batch, payload: dict | None = None) -> None:
        """Add one message to the batch: as a row of its table, or as an error row."""
        if "error_type" in attributes:
            batch.add(error_table(attributes.get("document_namespace")), ERROR_FIELDS, error_row(data, attributes))
            batch.counts["duplicates" if attributes["error_type"] == "duplicate" else "errors"] += 1
            return
        try:
            table, fields, row = self.row(data, attributes, payload)
        except Exception as exc:
            batch.add(error_table(attributes.get("document_namespace")), ERROR_FIELDS, error_row(data, load_failure(attributes, exc)))
            batch.counts["errors"] += 1
            return
        batch.add(table, fields, row)
        batch.counts["rows"] += 1

    def batch(self, messages: Iterable[tuple[bytes, dict]]) -> Batch:
        batch = Batch()
        for data, attributes in messages:
            self.route(data, attributes, batch)
        return batch
