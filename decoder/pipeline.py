"""The decoder as an Apache Beam pipeline: thin DoFns around decoder.core.

    batch:     read lines -> key by a bucket of the document's key (dedupe.document_key) -> GroupByKey
                 -> decode each bucket in runs; of the copies of one id that decode, the earliest
                    submitted is delivered, the later ones are duplicates
    streaming: read Pub/Sub -> decode -> per-document-id state with an expiry timer (the dedupe window)

Which copy wins is dedupe.py's rule, the same as `pingpipe up`'s.

Batch groups the raw messages rather than the decoded ones: a raw line is a quarter of the size
of its decoded form, and the shuffle's cost grows with the bytes. It groups them by bucket, not
by id, so that messages are decoded in runs, which costs less CPU than one group per id
(benchmarks/bench_decoder.py). Only decoded copies compete,
as in Mozilla's decoder. Every element between stages is one kind: a raw-message line (bytes,
Mozilla's file format, without its newline), whether raw, decoded or an error; which of them it
is, the tagged outputs say. The registry and the geo database are
loaded once per worker process (a module-level cache), never per element.
"""

from __future__ import annotations

import re
import threading
import zlib

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration, Timestamp

from pingpipe.gctune import tune_gc
from pingpipe.message import BadLine, RawMessage
from pingpipe.schemas.names import SUBMISSION_TIMESTAMP

from .core import Decoded, Decoder, DecoderConfig, Failure
from .dedupe import DedupeConfig, competing_order, document_key
from .failures import duplicate, failure

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


def _line(message: RawMessage) -> bytes:
    return message.to_line(newline=False)  # the writers add their own


@beam.typehints.with_output_types(tuple[str, tuple[str, bytes]])  # keyed, for the stateful dedupe
class DecodeFn(beam.DoFn):
    def __init__(self, config: DecoderConfig):
        self.config = config
        self.decoder: Decoder | None = None
        self._reported: dict[str, int] = {}

    def setup(self):
        self.decoder = shared_decoder(self.config)
        tune_gc()

    def _decode(self, line: bytes) -> Decoded | Failure | None:
        """A raw-message line -> Decoded, a Failure, or None (a blank line)."""
        if not line.strip():
            return None
        try:
            message = RawMessage.from_line(line)
        except BadLine as exc:  # counted as the decoder counts its own failures, so the summary holds it
            self.decoder.counts["in"] += 1
            self.decoder.counts["error.ParseRawMessage"] += 1
            return Failure(failure(line, {}, exc, "ParseRawMessage"))
        return self.decoder.decode(message)

    def process(self, line: bytes):
        """Streaming: decode, then key by document_id for the stateful dedupe that follows."""
        result = self._decode(line)
        if type(result) is Decoded:
            attributes = result.attributes
            # Already serialized: one bytes object is far cheaper for Beam to move than a dict.
            yield (document_key(attributes), (attributes.get(SUBMISSION_TIMESTAMP, ""), _line(result.to_message())))
        elif result is not None:
            yield beam.pvalue.TaggedOutput(ERRORS, _line(result.message))

    def finish_bundle(self):
        # Per-step counts as Beam metrics, reported per bundle (a counter per element costs).
        for key, value in list(self.decoder.counts.items()):
            delta = value - self._reported.get(key, 0)
            if delta:
                Metrics.counter("decoder", key).inc(delta)
                self._reported[key] = value


def _duplicate(element: tuple[str, bytes]) -> bytes:
    """A duplicate keeps its metadata only (Mozilla drops the body) and goes to the errors."""
    return _line(duplicate(RawMessage.from_line(element[1]).attributes))


_ATTRIBUTE = re.compile(rb'"(document_id|uri)"\s*:\s*"([^"]*)"')  # only attributes match: base64 has no quote


DEDUPE_BUCKETS = 1024  # batch: the shuffle's keys, so the most workers the decode step can use
CHUNK = 256  # batch: messages decoded back to back before their outputs move on


def document_id(line: bytes) -> str:
    """The key of a raw-message line's document (dedupe.document_key), read before decoding: cheaply
    from its attributes, and only for a line that names no id there (a LogEntry) from its body."""
    end = line.find(b'"payload"')  # the attributes come first in the file format: not the body's bytes
    matches = _ATTRIBUTE.finditer(line, 0, end if end > 0 else len(line))
    found = {m.group(1).decode(): m.group(2).decode("utf-8", "replace") for m in matches}
    if found:
        return document_key(found)
    try:
        message = RawMessage.from_line(line)
    except BadLine:
        return ""
    return document_key(message.attributes, message.data)


def bucket_key(element) -> tuple[int, tuple[str, object]]:
    """(bucket, (document id, element)): every copy of a document id lands in the same bucket.

    Batch dedupe shuffles the raw messages, not the decoded ones: a raw line is a quarter of the
    size of its decoded form, and Beam's shuffle cost grows with the bytes. Keying by a bucket
    rather than by the id itself gives the decode step long runs of messages (see DecodeBucket).
    """
    doc = document_id(element)
    return zlib.crc32(doc.encode("utf-8")) % DEDUPE_BUCKETS, (doc, element)


@beam.typehints.with_output_types(bytes)
class DecodeBucket(DecodeFn):
    """Batch: decode one bucket's messages, delivering one copy per document id.

    Two passes over the bucket (Beam's grouped values can be iterated again): the first finds the
    ids that have several copies, the second decodes. Messages are decoded CHUNK at a time, back to
    back, and only then handed on: interleaved with Beam's per-element work, the same decoding
    costs a third more CPU (caches go cold; benchmarks/bench_decoder.py).

    As in Mozilla's decoder only decoded copies compete: of the copies of one id that decode, the
    earliest submitted is delivered, the later ones are duplicates (metadata only, to the errors),
    copies that fail are errors like any other. A message whose id cannot be read before decoding
    is never anyone's copy. Memory: the bucket's
    ids, and the raw lines of ids that have copies (rare) until the bucket's end.
    """

    def process(self, keyed):
        _, items = keyed
        seen: set[str] = set()
        repeated: set[str] = set()
        for doc, _element in items:
            if doc:
                if doc in seen:
                    repeated.add(doc)
                seen.add(doc)
        del seen
        copies: dict[str, list] = {}
        chunk: list = []
        for doc, element in items:
            if doc in repeated:
                copies.setdefault(doc, []).append(element)
                continue
            chunk.append(element)
            if len(chunk) >= CHUNK:
                yield from self._outputs([self._line(e) for e in chunk])
                chunk = []
        yield from self._outputs([self._line(e) for e in chunk])
        for elements in copies.values():
            yield from self._earliest_first(elements)

    def _line(self, element: bytes) -> tuple[str | None, bytes | None]:
        """(output tag, line): decoded (tag None) or an error (ERRORS); (None, None) for a blank line."""
        result = self._decode(element)
        if type(result) is Decoded:
            return None, _line(result.to_message())
        return (ERRORS, _line(result.message)) if result is not None else (None, None)

    @staticmethod
    def _outputs(results):
        for tag, line in results:
            if tag is None:
                if line is not None:
                    yield line
            else:
                yield beam.pvalue.TaggedOutput(tag, line)

    def _earliest_first(self, elements):
        """Copies of one id: all decoded, then the earliest decoded submission delivered (the decoded
        time, as `up` and the stable tables order them), the later ones duplicates."""
        decoded = []
        for element in elements:
            result = self._decode(element)
            if type(result) is Decoded:
                decoded.append(result)
            elif result is not None:
                yield beam.pvalue.TaggedOutput(ERRORS, _line(result.message))
        for i, result in enumerate(competing_order(decoded, lambda r: r.attributes.get(SUBMISSION_TIMESTAMP, ""))):
            if i:
                Metrics.counter("decoder", "duplicate").inc()
                yield beam.pvalue.TaggedOutput(ERRORS, _line(duplicate(result.attributes)))
            else:
                yield _line(result.to_message())


class DedupeStreaming(beam.DoFn):
    """Streaming dedupe: remember each document_id for `window` seconds in keyed state."""

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, window_seconds: float):
        self.window = window_seconds

    def process(self, keyed, seen=beam.DoFn.StateParam(SEEN), expiry=beam.DoFn.TimerParam(EXPIRY)):  # noqa: B008 - Beam's way
        _, message = keyed
        if seen.read():
            Metrics.counter("decoder", "duplicate").inc()
            yield beam.pvalue.TaggedOutput(ERRORS, _duplicate(message))
            return
        seen.write(True)
        expiry.set(Timestamp.now() + Duration(seconds=self.window))
        yield message[1]

    @on_timer(EXPIRY)
    def expire(self, seen=beam.DoFn.StateParam(SEEN)):  # noqa: B008 - Beam's way to ask for state
        seen.clear()


class Decode(beam.PTransform):
    """Raw messages (file lines, or (data, attributes) pairs) -> {"decoded", "errors"}, deduplicated."""

    def __init__(self, config: DecoderConfig, *, streaming: bool = False, dedupe_window: float = DedupeConfig.window):
        super().__init__()
        self.config = config
        self.streaming = streaming
        self.dedupe_window = dedupe_window

    def expand(self, raw):
        if not self.streaming:  # exact: group the raw copies of each document id, then decode
            out = (
                raw
                | "KeyByBucket" >> beam.Map(bucket_key)
                | "GroupByBucket" >> beam.GroupByKey()
                | "Decode" >> beam.ParDo(DecodeBucket(self.config)).with_outputs(ERRORS, main="decoded")
            )
            return {"decoded": out.decoded, "errors": out[ERRORS]}
        decoded = raw | "Decode" >> beam.ParDo(DecodeFn(self.config)).with_outputs(ERRORS, main="decoded")
        deduped = decoded.decoded | "Dedupe" >> beam.ParDo(DedupeStreaming(self.dedupe_window)).with_outputs(ERRORS, main="decoded")
        errors = (decoded[ERRORS], deduped[ERRORS]) | "AllErrors" >> beam.Flatten()
        return {"decoded": deduped.decoded, "errors": errors}


def to_pair(line: bytes) -> tuple[bytes, dict]:
    """A line as the (data, attributes) of a Pub/Sub message."""
    message = RawMessage.from_line(line)
    return (message.data, message.attributes)
