"""The decoder as an Apache Beam pipeline: thin DoFns around decoder.core.

    batch:     read lines -> key by the URI's document id -> GroupByKey
                 -> decode each group's copies, earliest first: the first that decodes is
                    delivered, later ones that decode are duplicates, failures are errors
    streaming: read Pub/Sub -> decode -> per-document-id state with an expiry timer (10 min)

Batch groups the raw messages rather than the decoded ones: a raw line is a quarter of the size
of its decoded form, and the shuffle is most of Beam's cost here (benchmarks/bench_decoder.py:
2.47x the pure core's CPU when grouping decoded lines, about 2x now). Only decoded copies compete,
as in Mozilla's decoder. Decoded messages travel as finished raw-message lines (bytes, without
their newline); errors as `(data, attributes)` pairs. The registry and the geo database are
loaded once per worker process (a module-level cache), never per element.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Iterable

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration, Timestamp

from pingpipe.gctune import tune_gc
from pingpipe.message import BadLine, RawMessage

from .core import Decoded, Decoder, DecoderConfig, error_message
from .errors import Duplicate

ERRORS = "errors"
_decoders: dict[DecoderConfig, Decoder] = {}
_lock = threading.Lock()


def shared_decoder(config: DecoderConfig) -> Decoder:
    """One Decoder (registry + mmdb reader) per worker process and configuration."""
    with _lock:
        decoder = _decoders.get(config)
        if decoder is None:
            decoder = _decoders[config] = Decoder.from_config(config)
        return decoder


def _tuple(message: RawMessage, exc: BaseException, error_type: str) -> tuple[bytes, dict]:
    err = error_message(message.data, message.attributes, exc, error_type)
    return (err.data, err.attributes)


@beam.typehints.with_output_types(tuple[str, tuple[str, bytes]])  # keyed, for the stateful dedupe
class DecodeFn(beam.DoFn):
    def __init__(self, config: DecoderConfig):
        self.config = config
        self.decoder: Decoder | None = None
        self._reported: dict[str, int] = {}

    def setup(self):
        self.decoder = shared_decoder(self.config)
        tune_gc()

    def _decode(self, element):
        """A raw-message file line (bytes) or a (data, attributes) pair -> Decoded, an error pair, or None."""
        if isinstance(element, (bytes, str)):
            line = element.encode("utf-8") if isinstance(element, str) else element
            if not line.strip():
                return None
            try:
                message = RawMessage.from_line(line)
            except BadLine as exc:
                return _tuple(RawMessage(line, {}), exc, "ParseRawMessage")
        else:
            message = RawMessage(element[0], element[1])
        result = self.decoder.decode(message)
        if isinstance(result, Decoded):
            return result
        return (result.message.data, result.message.attributes)

    def process(self, element):
        """Streaming: decode, then key by document_id for the stateful dedupe that follows."""
        result = self._decode(element)
        if isinstance(result, Decoded):
            attributes = result.attributes
            # Already serialized: one bytes object is far cheaper for Beam to move than a dict.
            line = result.to_message().to_line(newline=False)  # the writers add their own
            yield (attributes.get("document_id", ""), (attributes.get("submission_timestamp", ""), line))
        elif result is not None:
            yield beam.pvalue.TaggedOutput(ERRORS, result)

    def finish_bundle(self):
        # Per-step counts as Beam metrics, reported per bundle (a counter per element costs).
        for key, value in list(self.decoder.counts.items()):
            delta = value - self._reported.get(key, 0)
            if delta:
                Metrics.counter("decoder", key).inc(delta)
                self._reported[key] = value


def _duplicate(element: tuple[str, bytes]) -> tuple[bytes, dict]:
    """A duplicate keeps its metadata only (Mozilla drops the body) and goes to the errors."""
    attributes = RawMessage.from_line(element[1]).attributes
    exc = Duplicate(f"document_id {attributes.get('document_id')} was already delivered")
    return _tuple(RawMessage(b"", attributes), exc, Duplicate.error_type)


_URI = re.compile(rb'"uri":"([^"]*)"')
_TIMESTAMP = re.compile(rb'"submission_timestamp":"([^"]*)"')


def document_key(element) -> tuple[str, object]:
    """(document id, element), the id read cheaply from a raw message, before decoding.

    Batch dedupe groups the raw messages, not the decoded ones: a raw line is a quarter of the
    size of its decoded form, and Beam's shuffle cost grows with the bytes. A message whose id
    cannot be read this way gets a key of its own (it is decoded alone, and fails or passes alone).
    """
    if isinstance(element, (bytes, str)):
        found = _URI.search(element.encode("utf-8") if isinstance(element, str) else element)
        uri = found.group(1).decode("utf-8", "replace") if found else ""
    else:
        uri = element[1].get("uri", "")
    parts = uri.split("?", 1)[0].split("/")
    if len(parts) > 3 and parts[1] == "submit":
        doc = parts[3] if parts[2] == "telemetry" else parts[-1]
        if doc:
            return doc, element
    return "\x00" + uuid.uuid4().hex, element


def _submitted(element) -> str:
    """The submission_timestamp of a raw message (only needed when a document id has copies)."""
    if isinstance(element, (bytes, str)):
        found = _TIMESTAMP.search(element.encode("utf-8") if isinstance(element, str) else element)
        return found.group(1).decode("ascii", "replace") if found else ""
    return element[1].get("submission_timestamp", "")


@beam.typehints.with_output_types(bytes)
class DecodeGroup(DecodeFn):
    """Batch: decode the copies of one document id, earliest submission first.

    As in Mozilla's decoder, only decoded copies compete: the first that decodes is delivered,
    later ones that decode are duplicates (metadata only, to the errors), and copies that fail are
    errors like any other. Nearly every group holds one message.
    """

    def process(self, keyed):
        _, items = keyed
        if len(items) > 1:
            items = sorted(items, key=_submitted)
        delivered = False
        for element in items:
            result = self._decode(element)
            if isinstance(result, Decoded):
                if delivered:
                    Metrics.counter("decoder", "duplicate").inc()
                    exc = Duplicate(f"document_id {result.attributes.get('document_id')} was already delivered")
                    yield beam.pvalue.TaggedOutput(ERRORS, _tuple(RawMessage(b"", result.attributes), exc, Duplicate.error_type))
                    continue
                delivered = True
                yield result.to_message().to_line(newline=False)  # the writers add their own
            elif result is not None:
                yield beam.pvalue.TaggedOutput(ERRORS, result)


class DedupeStreaming(beam.DoFn):
    """Streaming dedupe: remember each document_id for `window` seconds in keyed state."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, window_seconds: float):
        self.window = window_seconds

    def process(self, keyed, seen=beam.DoFn.StateParam(SEEN), expiry=beam.DoFn.TimerParam(EXPIRY)):
        _, message = keyed
        if seen.read():
            Metrics.counter("decoder", "duplicate").inc()
            yield beam.pvalue.TaggedOutput(ERRORS, _duplicate(message))
            return
        seen.write(True)
        expiry.set(Timestamp.now() + Duration(seconds=self.window))
        yield message[1]

    @on_timer(EXPIRY)
    def expire(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()


class Decode(beam.PTransform):
    """Raw messages (file lines, or (data, attributes) pairs) -> {"decoded", "errors"}, deduplicated."""

    def __init__(self, config: DecoderConfig, *, streaming: bool = False, dedupe_window: float = 600.0):
        super().__init__()
        self.config = config
        self.streaming = streaming
        self.dedupe_window = dedupe_window

    def expand(self, raw):
        if not self.streaming:  # exact: group the raw copies of each document id, then decode
            out = (raw | "KeyByDocumentId" >> beam.Map(document_key)
                   | "GroupByDocumentId" >> beam.GroupByKey()
                   | "Decode" >> beam.ParDo(DecodeGroup(self.config)).with_outputs(ERRORS, main="decoded"))
            return {"decoded": out.decoded, "errors": out[ERRORS]}
        decoded = raw | "Decode" >> beam.ParDo(DecodeFn(self.config)).with_outputs(ERRORS, main="decoded")
        deduped = decoded.decoded | "Dedupe" >> beam.ParDo(DedupeStreaming(self.dedupe_window)).with_outputs(ERRORS, main="decoded")
        errors = (decoded[ERRORS], deduped[ERRORS]) | "AllErrors" >> beam.Flatten()
        return {"decoded": deduped.decoded, "errors": errors}


def to_line(element: tuple[bytes, dict] | bytes) -> bytes:
    """Decoded messages are already lines; errors are (data, attributes) pairs."""
    if isinstance(element, bytes):
        return element.rstrip(b"\n")
    return RawMessage(element[0], element[1]).to_line(newline=False)


def to_pair(element: tuple[bytes, dict] | bytes) -> tuple[bytes, dict]:
    if isinstance(element, bytes):
        message = RawMessage.from_line(element)
        return (message.data, message.attributes)
    return element


def count_lines(lines: Iterable[bytes]) -> int:
    return sum(1 for line in lines if line.strip())
