"""The decoder as an Apache Beam pipeline: thin DoFns around decoder.core.

    read (file glob of raw-message lines | Pub/Sub subscription)
      -> Decode (geo, URI, gunzip, JSON + schema, user agent, normalize, metadata)
      -> Deduplicate by document_id (batch: exact, first by submission_timestamp;
                                     streaming: per-key state with a 10-minute expiry timer)
      -> decoded output | error output

Elements between stages are `(data: bytes, attributes: dict)` pairs, which Beam's fast
primitives coder handles without pickling. The registry and the geo database are loaded once
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


class ParseLine(beam.DoFn):
    """A line of the raw-message file format -> (data, attributes); a bad line is an error."""

    def process(self, line: bytes | str):
        if isinstance(line, str):
            line = line.encode("utf-8")
        if not line.strip():
            return
        try:
            message = RawMessage.from_line(line)
        except BadLine as exc:
            yield beam.pvalue.TaggedOutput(ERRORS, _tuple(RawMessage(line, {}), exc, "ParseRawMessage"))
            return
        yield (message.data, message.attributes)


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

    def process(self, element: tuple[bytes, dict]):
        result = self.decoder.decode(RawMessage(element[0], element[1]))
        if isinstance(result, Decoded):
            message = result.to_message()
            yield (message.data, message.attributes)
        else:
            yield beam.pvalue.TaggedOutput(ERRORS, (result.message.data, result.message.attributes))

    def finish_bundle(self):
        # Per-step counts as Beam metrics, reported per bundle (a counter per element costs).
        for key, value in list(self.decoder.counts.items()):
            delta = value - self._reported.get(key, 0)
            if delta:
                Metrics.counter("decoder", key).inc(delta)
                self._reported[key] = value


def _duplicate(element: tuple[bytes, dict]) -> tuple[bytes, dict]:
    """A duplicate keeps its metadata only (Mozilla drops the body) and goes to the errors."""
    data, attributes = element
    exc = Duplicate(f"document_id {attributes.get('document_id')} was already delivered")
    return _tuple(RawMessage(b"", attributes), exc, Duplicate.error_type)


class KeepFirst(beam.DoFn):
    """Batch dedupe after GroupByKey: the earliest submission wins, the rest are duplicates."""

    def process(self, keyed):
        _, messages = keyed
        ordered = sorted(messages, key=lambda m: m[1].get("submission_timestamp", ""))
        yield ordered[0]
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
        yield message

    @on_timer(EXPIRY)
    def expire(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()


class Decode(beam.PTransform):
    """(data, attributes) raw messages -> {"decoded": ..., "errors": ...}, deduplicated."""

    def __init__(self, config: DecoderConfig, *, streaming: bool = False, dedupe_window: float = 600.0):
        super().__init__()
        self.config = config
        self.streaming = streaming
        self.dedupe_window = dedupe_window

    def expand(self, raw):
        decoded = raw | "Decode" >> beam.ParDo(DecodeFn(self.config)).with_outputs(ERRORS, main="decoded")
        keyed = decoded.decoded | "KeyByDocumentId" >> beam.Map(lambda m: (m[1].get("document_id", ""), m))
        if self.streaming:
            deduped = keyed | "Dedupe" >> beam.ParDo(DedupeStreaming(self.dedupe_window)).with_outputs(ERRORS, main="decoded")
        else:
            deduped = (keyed | "GroupByDocumentId" >> beam.GroupByKey()
                       | "KeepFirst" >> beam.ParDo(KeepFirst()).with_outputs(ERRORS, main="decoded"))
        errors = (decoded[ERRORS], deduped[ERRORS]) | "AllErrors" >> beam.Flatten()
        return {"decoded": deduped.decoded, "errors": errors}


def to_line(element: tuple[bytes, dict]) -> str:
    return RawMessage(element[0], element[1]).to_line().decode("utf-8").rstrip("\n")


def count_lines(lines: Iterable[bytes]) -> int:
    return sum(1 for line in lines if line.strip())
