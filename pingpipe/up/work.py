"""The per-segment work of `pingpipe up`, run in worker processes: decode and coerce, no I/O but reading.

A sealed queue segment (raw-message lines, as the edge wrote them) becomes serialized table rows
and error rows. Deduplication and the commit happen in the parent (commit.py), which alone sees
every segment in order and owns the warehouse. Rows travel back as JSON bytes: cheap to pickle,
and exactly what the DuckDB writer reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig, error_message
from pingpipe.loader.load import Loader, error_row, load_failure
from pingpipe.loader.tables import TableId, error_table
from pingpipe.gctune import tune_gc
from pingpipe.message import BadLine, RawMessage

_state: dict[str, object] = {}


_DUPLICATE_KEYS = ("submission_timestamp", "document_namespace", "document_type", "document_version", "uri")


@dataclass
class Row:
    """A table row, with what the parent needs to deduplicate it or turn it into a duplicate error."""

    document_id: str
    data: bytes  # the row as JSON
    about: tuple[str | None, ...]  # _DUPLICATE_KEYS' attributes: a duplicate's error row is made of these

    def duplicate(self) -> tuple[TableId, bytes]:
        """The error row (and its table) that stands for this row when its document id was already loaded."""
        attributes = {k: v for k, v in zip(_DUPLICATE_KEYS, self.about) if v is not None}
        attributes.update(document_id=self.document_id, error_type="duplicate", stack_trace="",
                          error_message=f"duplicate document_id {self.document_id}",
                          exception_class="pingpipe.decoder.errors.Duplicate")
        return error_table(attributes.get("document_namespace")), orjson.dumps(error_row(b"", attributes))


@dataclass
class SegmentResult:
    names: list[str]  # the segment files this result covers
    messages: int = 0
    rows: dict[TableId, tuple[list[dict], list[Row]]] = field(default_factory=dict)
    errors: dict[TableId, list[bytes]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)


def init_worker(config: DecoderConfig) -> None:
    """Load the registry and the geo database once per worker process."""
    decoder = Decoder.from_config(config)
    _state["decoder"] = decoder
    _state["loader"] = Loader(decoder.registry)
    tune_gc()


def _error(result: SegmentResult, data: bytes, attributes: dict[str, str]) -> None:
    table = error_table(attributes.get("document_namespace"))
    result.errors.setdefault(table, []).append(orjson.dumps(error_row(data, attributes)))
    result.counts["errors"] += 1
    result.counts[f"error.{attributes.get('error_type')}"] += 1


def _messages(paths: list[str], result: SegmentResult):
    """The raw messages of segment files, counted; a line that is not one becomes an error row."""
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                result.messages += 1
                try:
                    yield RawMessage.from_line(line)
                except BadLine as exc:
                    err = error_message(line, {}, exc, "ParseRawMessage")
                    _error(result, err.data, err.attributes)


def process_messages(messages, result: SegmentResult, decoder: Decoder, loader: Loader) -> None:
    for message in messages:
        decoded = decoder.decode(message)
        if not isinstance(decoded, Decoded):
            _error(result, decoded.message.data, decoded.message.attributes)
            continue
        attributes = decoded.attributes
        try:
            table, fields, row = loader.row(b"", attributes, decoded.payload)
            data = orjson.dumps(row)
            if len(data) > loader.max_row_bytes:
                raise ValueError(f"row of {len(data)} bytes is over the sink's {loader.max_row_bytes}-byte limit")
        except Exception as exc:
            _error(result, orjson.dumps(decoded.payload), load_failure(attributes, exc))
            continue
        entry = result.rows.get(table)
        if entry is None:
            entry = result.rows[table] = (fields, [])
        entry[1].append(Row(attributes.get("document_id", ""), data, tuple(attributes.get(k) for k in _DUPLICATE_KEYS)))


def process_segments(paths: list[str]) -> SegmentResult:
    """Decode and coerce every line of the given segment files (in the worker process)."""
    result = SegmentResult([Path(p).name for p in paths])
    process_messages(_messages(paths, result), result, _state["decoder"], _state["loader"])
    return result


class WorkerCrashed(RuntimeError):
    """A segment's processing killed its worker process, repeatedly."""


def crashed_result(paths: list[str], reason: str) -> SegmentResult:
    """Every message of segments that keep killing workers, as error rows (run in the parent, no decoding).

    The messages are not decoded (that is what crashed), only unwrapped and scrubbed of identifiers,
    so each still ends in exactly one place: the error table, with its original body.
    """
    result = SegmentResult([Path(p).name for p in paths])
    exc = WorkerCrashed(reason)
    for message in _messages(paths, result):
        err = error_message(message.data, message.attributes, exc, "WorkerCrashed")
        _error(result, err.data, err.attributes)
    return result
