"""The decoder core: one raw message in, one decoded message or one error out. No Beam here.

Step order: [a Cloud Logging LogEntry: its ip_address out (steps/logentry.py)] -> geo-IP (and drop
the IP) -> [a LogEntry: its Fields become the submission] -> parse URI -> gunzip -> JSON + schema validation ->
user agent (and drop it) -> normalize -> override attributes -> inject metadata. Geo runs first,
as in Mozilla's decoder, so that an IP address never reaches any output, errors included.
Deduplication needs to see many messages: it lives in the runners (pipeline.py, pingpipe up).
A service's log line queued as a row (logs/records.py) was made a row, and scrubbed, by its
producer: it passes through as it is, so that every runner places it the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pingpipe import jsontext
from pingpipe.logs import records as log_records
from pingpipe.message import RawMessage
from pingpipe.schemas.registry import Registry

from .errors import DecodeError, DecompressError, PayloadError, UriError
from .failures import failure
from .steps import logentry
from .steps.geo import FORWARDED_HOPS, GeoLookup, load_city_filter
from .steps.gunzip import gunzip
from .steps.metadata import add_metadata
from .steps.normalize import apply_overrides, normalize
from .steps.payload import lookup_schema, parse_json, validate
from .steps.uri import parse_uri
from .steps.useragent import parse_user_agent

STEPS = ("logentry", "geo", "uri", "gunzip", "payload", "user_agent", "normalize", "metadata")
# The error_type of an unexpected failure in each step: the step's own error class names it where
# it has one, so each name is written once.
STEP_ERROR_TYPES = {
    "logentry": logentry.InvalidLogEntry.error_type,
    "geo": "GeoCityLookup",
    "uri": UriError.error_type,
    "gunzip": DecompressError.error_type,
    "payload": PayloadError.error_type,
    "user_agent": "ParseUserAgent",
    "normalize": "NormalizeAttributes",
    "metadata": "AddMetadata",
}


@dataclass(frozen=True)
class DecoderConfig:
    schemas: Path | None = None  # None: the schemas that ship with pingpipe
    geoip_db: Path | None = None
    geo_city_filter: Path | None = None
    min_city_population: int = 15000
    max_payload_bytes: int = 8 * 1024 * 1024
    forwarded_hops: int = FORWARDED_HOPS  # steps/geo.py: where the client is in X-Forwarded-For


@dataclass
class Decoded:
    """A decoded ping: attributes, payload (with metadata) and where it goes."""

    attributes: dict[str, str]
    payload: dict
    table: str
    size: int = 0  # bytes of the JSON payload as received (after gunzip)

    def to_message(self) -> RawMessage:
        return RawMessage(jsontext.dumps(self.payload), self.attributes)


@dataclass
class Failure:
    """An error-output message: original bytes, scrubbed attributes, Mozilla's error attributes."""

    message: RawMessage

    @property
    def error_type(self) -> str:
        return self.message.attributes["error_type"]


@dataclass
class Decoder:
    registry: Registry
    geo: GeoLookup
    max_payload_bytes: int = 8 * 1024 * 1024
    counts: Counter = field(default_factory=Counter)

    @classmethod
    def from_config(cls, config: DecoderConfig) -> "Decoder":
        city_filter = load_city_filter(config.geo_city_filter, config.min_city_population) if config.geo_city_filter else None
        return cls(Registry.load(config.schemas), GeoLookup(config.geoip_db, city_filter, config.forwarded_hops), config.max_payload_bytes)

    def decode(self, message: RawMessage) -> Decoded | Failure:
        attributes = dict(message.attributes)
        counts = self.counts
        counts["in"] += 1
        if log_records.is_queued(attributes):
            return self._queued_log_line(message.data, attributes)
        raw = message.data  # what an error row keeps: a LogEntry's never holds its ip_address
        log_entry = logentry.is_log_entry(attributes)
        step = "logentry"
        try:
            if log_entry:
                raw = logentry.extract_ip(raw, attributes)
            step = "geo"
            self.geo(attributes)
            if log_entry:
                step = "logentry"
                raw = logentry.parse(raw, attributes)
            step = "uri"
            if not log_entry:  # an entry's Fields name the document, not a URI
                parse_uri(attributes)
            step = "user_agent"  # before the payload's steps, so that an error row keeps what it found (a replay needs it)
            parse_user_agent(attributes)
            step = "gunzip"
            data = gunzip(raw, attributes, self.max_payload_bytes)
            step = "payload"
            payload = parse_json(data)
            entry = lookup_schema(self.registry, attributes, payload)
            validate(entry, payload)
            step = "normalize"
            meta = entry.metadata
            normalize(attributes, payload, meta)
            apply_overrides(attributes, meta.override_attributes)
            step = "metadata"
            add_metadata(attributes, payload, meta.bq_metadata_format, meta.get("submission_timestamp_granularity"))
        except DecodeError as exc:
            counts[f"error.{exc.error_type}"] += 1
            return Failure(failure(raw, attributes, exc, exc.error_type))
        except Exception as exc:  # noqa: BLE001 - a bug or an unexpected input: still an error row, never a crash
            counts[f"error.{STEP_ERROR_TYPES[step]}"] += 1
            return Failure(failure(raw, attributes, exc, STEP_ERROR_TYPES[step]))
        counts["out"] += 1
        return Decoded(attributes, payload, entry.live_table, len(data))

    def _queued_log_line(self, data: bytes, attributes: dict[str, str]) -> Decoded | Failure:
        """A queued log row as it is, or the error its producer found; a body that is not a row's JSON
        (a queue file edited by hand) is ParsePayload."""
        refused = log_records.refusal(attributes)
        if refused is not None:
            error_type, exc = refused
            self.counts[f"error.{error_type}"] += 1
            return Failure(failure(data, attributes, exc, error_type))
        try:
            payload = jsontext.loads(data)
            if not isinstance(payload, dict):
                raise ValueError("a queued log row is a JSON object")
            table = str(log_records.table_of(attributes[log_records.SERVICE], attributes[log_records.TYPE]))
        except Exception as exc:  # noqa: BLE001 - whatever the queue file holds, this line alone is an error row
            self.counts[f"error.{PayloadError.error_type}"] += 1
            return Failure(failure(data, attributes, exc, PayloadError.error_type))
        self.counts["out"] += 1
        return Decoded(attributes, payload, table, len(data))
