"""The per-segment work of `pingpipe up`, run in worker processes: decode and coerce, no I/O but reading.

A sealed queue segment (raw-message lines, as the edge wrote them) becomes table rows and error
rows. Deduplication and the commit happen in the parent (commit.py), which alone sees every
segment in order and owns the warehouse. A table's payloads are coerced together, straight into
one Arrow table (loader/columns.py), which crosses to the parent: cheap to pickle, and what
DuckDB inserts fastest. Tables that Arrow cannot carry travel as JSON rows instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa

from pingpipe import jsontext
from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.decoder.dedupe import document_key
from pingpipe.decoder.failures import duplicate, failure, load_failure
from pingpipe.dictionary import debug
from pingpipe.gctune import tune_gc
from pingpipe.loader.coerce import Coercer
from pingpipe.loader.columns import column_coercer
from pingpipe.loader.load import Loader, error_row
from pingpipe.loader.tables import TableId, error_table
from pingpipe.message import BadLine, RawMessage
from pingpipe.schemas.names import DOCUMENT_NAMESPACE, DOCUMENT_TYPE, DOCUMENT_VERSION, SUBMISSION_TIMESTAMP, URI

_state: dict[str, object] = {}


_DUPLICATE_KEYS = (SUBMISSION_TIMESTAMP, DOCUMENT_NAMESPACE, DOCUMENT_TYPE, DOCUMENT_VERSION, URI)


@dataclass
class TableRows:
    """One table's rows from a segment, by column: what the parent needs to deduplicate and write them."""

    fields: list[dict]
    coerce: Coercer | None = None  # the table's row coercer (for tables and batches Arrow cannot carry)
    ids: list[str] = field(default_factory=list)  # document ids
    about: list[tuple] = field(default_factory=list)  # _DUPLICATE_KEYS' attributes: a duplicate's error row
    data: list | pa.Table = field(default_factory=list)  # payloads; once sealed, an Arrow table or JSON rows
    bodies: list[bytes] = field(default_factory=list)  # the bodies as received, until sealed: a failed row's error payload

    def __len__(self) -> int:
        return len(self.ids)

    def seal(self) -> list[tuple[dict, dict, Exception]]:
        """Coerce the collected payloads into what crosses to the parent: an Arrow table, else JSON rows.

        Returns (payload bytes, attributes, exception) for each payload that could not become a row
        at all (the row coercer raised, e.g. on nesting deeper than a JSON encoder goes); those are
        dropped here, for the error table. The bytes are the payload as JSON, else the body as received.
        """
        coerce, self.coerce = self.coerce, None  # compiled closures: they stay in the worker
        bodies, self.bodies = self.bodies, []
        columns = column_coercer(self.fields)
        if columns is not None:
            try:
                self.data = columns(self.data)
                return []
            except Exception:  # noqa: BLE001 - e.g. a value Arrow refuses (an integer over 64 bits in a FLOAT64 column)
                pass  # JSON rows carry it; a row that fails even so is found below, alone
        rows, failed, keep = [], [], []
        for i, payload in enumerate(self.data):
            try:
                rows.append(jsontext.dumps(coerce(payload)))
                keep.append(i)
            except Exception as exc:  # noqa: BLE001 - one row Arrow cannot take: it alone goes row by row
                attributes = {k: v for k, v in zip(_DUPLICATE_KEYS, self.about[i], strict=True) if v is not None}
                failed.append((payload_bytes(payload, bodies[i]), {**attributes, "document_id": self.ids[i]}, exc))
        if failed:
            self.ids = [self.ids[i] for i in keep]
            self.about = [self.about[i] for i in keep]
        self.data = rows
        return failed

    def select(self, keep: list[int]) -> list[bytes] | pa.Table:
        """The rows at these positions, for the writer."""
        if len(keep) == len(self.ids):
            return self.data
        if isinstance(self.data, pa.Table):
            return self.data.take(pa.array(keep, type=pa.int64()))
        return [self.data[i] for i in keep]

    def row(self, i: int) -> dict:
        """Row i as a dict (for the error row of a row the warehouse refused)."""
        if isinstance(self.data, pa.Table):
            return self.data.slice(i, 1).to_pylist()[0]
        row = self.data[i]
        return jsontext.loads(row) if type(row) is bytes else row

    def duplicate(self, i: int) -> tuple[TableId, bytes]:
        """The error row (and its table) that stands for row i when its document id was already loaded."""
        attributes = {k: v for k, v in zip(_DUPLICATE_KEYS, self.about[i], strict=True) if v is not None}
        error = duplicate({**attributes, "document_id": self.ids[i]})
        return error_table(attributes.get("document_namespace")), orjson.dumps(error_row(error.data, error.attributes))


@dataclass
class SegmentResult:
    names: list[str]  # the segment files this result covers
    messages: int = 0
    rows: dict[TableId, TableRows] = field(default_factory=dict)
    errors: dict[TableId, list[bytes]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    debug: list[dict] = field(default_factory=list)  # the debug viewer's entries of messages tagged X-Debug-ID


def worker_loader() -> Loader:
    """This worker process's loader (after init_worker): the tables it routes to, and their limits."""
    return _state["loader"]


def payload_bytes(payload: dict, body: bytes) -> bytes:
    """The payload as JSON for an error row, or the body as received when it cannot be written as JSON."""
    try:
        return jsontext.dumps(payload)
    except Exception:  # noqa: BLE001 - e.g. nested deeper than orjson writes
        return body


def init_worker(config: DecoderConfig) -> None:
    """Load the registry and the geo database once per worker process."""
    decoder = Decoder.from_config(config)
    _state["decoder"] = decoder
    _state["loader"] = Loader(decoder.registry)
    tune_gc()


def _error(result: SegmentResult, error: RawMessage) -> None:
    attributes = error.attributes
    table = error_table(attributes.get("document_namespace"))
    result.errors.setdefault(table, []).append(orjson.dumps(error_row(error.data, attributes)))
    result.counts["errors"] += 1
    result.counts[f"error.{attributes.get('error_type')}"] += 1
    if debug.valid_tag(attributes.get(debug.TAG)):  # no entry (a pretty-printed payload) for a tag not kept
        result.debug.append(debug.entry(attributes, error=error.data))


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
                except BadLine as exc:  # the line without its end, as Beam's file reader gives it
                    _error(result, failure(line.rstrip(b"\r\n"), {}, exc, "ParseRawMessage"))


def process_messages(messages, result: SegmentResult, decoder: Decoder, loader: Loader) -> None:
    """Route each message to its table's rows, or to an error row. Whatever one message raises, it
    alone becomes an error row (error_type "Load"), and the others go on."""
    process_decoded(((message, None) for message in messages), result, decoder, loader)


def process_decoded(pairs, result: SegmentResult, decoder: Decoder, loader: Loader) -> None:
    """process_messages of (message, its decoding) pairs, for a caller that decoded some already
    (a replay, which keeps an error row that fails as it did); None: decoded here."""
    for message, decoded in pairs:
        try:
            _route(message, decoded if decoded is not None else decoder.decode(message), result, loader)
        except Exception as exc:  # noqa: BLE001 - a limit no rule foresaw: one error row, never a stuck segment
            _error(result, load_failure(message.data, message.attributes, exc))
    for rows in result.rows.values():
        for data, attributes, exc in rows.seal():
            _error(result, load_failure(data, attributes, exc))


def _add(result: SegmentResult, table: TableId, fields: list[dict], coerce: Coercer, attributes: dict, payload: dict, body: bytes) -> None:
    rows = result.rows.get(table)
    if rows is None:
        rows = result.rows[table] = TableRows(fields, coerce)
    rows.ids.append(document_key(attributes))
    rows.about.append(tuple(attributes.get(k) for k in _DUPLICATE_KEYS))
    rows.data.append(payload)
    rows.bodies.append(body)


def _route(message: RawMessage, decoded, result: SegmentResult, loader: Loader) -> None:
    if not isinstance(decoded, Decoded):
        _error(result, decoded.message)
        return
    attributes = decoded.attributes
    try:
        table, fields, coerce = loader.place(attributes, decoded.payload, decoded.size)
    except Exception as exc:  # noqa: BLE001 - whatever placing a ping raised: it alone becomes an error row
        _error(result, load_failure(payload_bytes(decoded.payload, message.data), attributes, exc))
        return
    _add(result, table, fields, coerce, attributes, decoded.payload, message.data)
    if debug.valid_tag(attributes.get(debug.TAG)):
        result.debug.append(debug.entry(attributes, decoded.payload))


def process_segments(paths: list[str]) -> SegmentResult:
    """Decode and coerce every line of the given segment files (in the worker process)."""
    result = SegmentResult([Path(p).name for p in paths])
    process_messages(_messages(paths, result), result, _state["decoder"], _state["loader"])
    return result


class WorkerCrashed(RuntimeError):
    """A segment's processing killed its worker process, repeatedly."""


class SegmentFailed(RuntimeError):
    """A segment whose processing or commit kept failing on its own."""


def error_result(paths: list[str], exc: BaseException, error_type: str) -> SegmentResult:
    """Every message of segments `up` gave up on, as error rows (run in the parent, no decoding).

    The messages are not decoded (that may be what failed), only unwrapped and scrubbed of
    identifiers, so each still ends in exactly one place: the error table, with its original body.
    """
    result = SegmentResult([Path(p).name for p in paths])
    for message in _messages(paths, result):
        _error(result, failure(message.data, message.attributes, exc, error_type))
    return result


def crashed_result(paths: list[str], reason: str) -> SegmentResult:
    """Segments that keep killing workers: their messages as WorkerCrashed error rows."""
    return error_result(paths, WorkerCrashed(reason), "WorkerCrashed")
