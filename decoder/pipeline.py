"""The decoder as an Apache Beam pipeline: thin DoFns around decoder.core.

    read (file glob of raw-message lines | Pub/Sub subscription)
      -> Decode (geo, URI, gunzip, JSON + schema, user agent, normalize, metadata)
      -> Deduplicate by document_id (batch: exact, first by submission_timestamp;
                                     streaming: per-key state with a 10-minute expiry timer)
      -> decoded output | error output

Decoded messages travel as finished raw-message lines (bytes): the cheapest thing for Beam to
shuffle through the dedupe. Errors travel as `(data, attributes)` pairs. The registry and the geo database are loaded once
per worker process (a module-level cache), never per element.
"""

from __future__ import annotations

import threading
from typing import Iterable

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration, Timestamp

from pingpipe.message import BadLine, RawMessage

from .core import Decoded, Decoder, DecoderConfig, error_message
from .errors import DecodeError, Duplicate

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


class DecodeFn(beam.DoFn):
    def __init__(self, config: DecoderConfig):
        self.config = config
        self.decoder: Decoder | None = None
        self._reported: dict[str, int] = {}

    def setup(self):
        self.decoder = shared_decoder(self.config)

    def process(self, element):
        """A raw-message file line (bytes) or a (data, attributes) pair from Pub/Sub."""
        if isinstance(element, (bytes, str)):
            line = element.encode("utf-8") if isinstance(element, str) else element
            if not line.strip():
                return
            try:
                message = RawMessage.from_line(line)
            except BadLine as exc:
                yield beam.pvalue.TaggedOutput(ERRORS, _tuple(RawMessage(line, {}), exc, "ParseRawMessage"))
                return
        else:
            message = RawMessage(element[0], element[1])
        result = self.decoder.decode(message)
        if isinstance(result, Decoded):
            attributes = result.attributes
            # Keyed here (no extra stage) for the dedupe that follows, and already serialized:
            # one bytes object is far cheaper for Beam to shuffle than a dict of attributes.
            line = result.to_message().to_line()
            yield (attributes.get("document_id", ""), (attributes.get("submission_timestamp", ""), line))
        else:
            yield beam.pvalue.TaggedOutput(ERRORS, (result.message.data, result.message.attributes))

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


class KeepFirst(beam.DoFn):
    """Batch dedupe after GroupByKey: the earliest submission wins, the rest are duplicates."""

    def process(self, keyed):
        _, messages = keyed
        if len(messages) == 1:  # the overwhelmingly common case
            yield messages[0][1]
            return
        ordered = sorted(messages, key=lambda m: m[0])
        yield ordered[0][1]
        for extra in ordered[1:]:
            Metrics.counter("decoder", "duplicate").inc()
            yield beam.pvalue.TaggedOutput(ERRORS, _duplicate(extra))


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
        decoded = raw | "Decode" >> beam.ParDo(DecodeFn(self.config)).with_outputs(ERRORS, main="decoded")
        keyed = decoded.decoded
        if self.streaming:
            deduped = keyed | "Dedupe" >> beam.ParDo(DedupeStreaming(self.dedupe_window)).with_outputs(ERRORS, main="decoded")
        else:
            deduped = (keyed | "GroupByDocumentId" >> beam.GroupByKey()
                       | "KeepFirst" >> beam.ParDo(KeepFirst()).with_outputs(ERRORS, main="decoded"))
        errors = (decoded[ERRORS], deduped[ERRORS]) | "AllErrors" >> beam.Flatten()
        return {"decoded": deduped.decoded, "errors": errors}


def to_line(element: tuple[bytes, dict] | bytes) -> bytes:
    """Decoded messages are already lines; errors are (data, attributes) pairs."""
    if isinstance(element, bytes):
        return element.rstrip(b"\n")
    return RawMessage(element[0], element[1]).to_line().rstrip(b"\n")


def to_pair(element: tuple[bytes, dict] | bytes) -> tuple[bytes, dict]:
    if isinstance(element, bytes):
        message = RawMessage.from_line(element)
        return (message.data, message.attributes)
    return element


def count_lines(lines: Iterable[bytes]) -> int:
    return sum(1 for line in lines if line.strip())
