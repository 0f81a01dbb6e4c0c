"""Log lines -> raw messages for the decoder, with no I/O: what `pingpipe logs ingest` queues.

Two kinds of line are Glean server-side events: a Cloud Logging `LogEntry` (JSON with
`jsonPayload`), queued as it is, and a bare mozlog line of Type `glean-server-event` (what
glean_parser's server outputters write to stdout), wrapped in the LogEntry Cloud Logging would
have made of it, received now. The decoder turns either into a submission (decoder/steps/logentry.py).
A line that is neither JSON nor mozlog is queued too: the decoder makes an error row of it, with
its reason and the line as it was. Mozlog lines of other Types are not Glean's and are skipped (`service_message` loads them).
A line longer than the reader's limit is never held whole: its head becomes an error row saying so
(`too_long`), addresses out, as the edge refuses a body over its limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import orjson

from pingpipe import jsontext, utc
from pingpipe.schemas.names import SUBMISSION_TIMESTAMP

from . import records
from .policy import Policy, redact_bytes

GLEAN_EVENT_TYPE = "glean-server-event"
LOG_NAME = "pingpipe logs ingest"


@dataclass(frozen=True)
class Skipped:
    reason: str


def received_now() -> str:
    """Now, in the edge's submission_timestamp form (so log lines and edge pings order alike)."""
    return utc.timestamp_at()


def to_message(line: bytes, received: str) -> tuple[bytes, dict[str, str]] | Skipped:
    """The raw message (payload, attributes) for one log line, or why it is skipped."""
    line = line.rstrip(b"\r\n")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line, {}  # the decoder refuses it, with the line kept in the error row
    if isinstance(obj, dict) and "jsonPayload" in obj:
        return line, {}
    if isinstance(obj, dict) and "Type" in obj and "Fields" in obj:
        if obj["Type"] != GLEAN_EVENT_TYPE:
            return Skipped(f"mozlog Type {obj['Type']!r} is not a Glean server event")
        return orjson.dumps({"jsonPayload": obj, "receiveTimestamp": received, "logName": LOG_NAME}), {}
    return line, {}


def too_long(head: bytes, size: int, limit: int, received: str, service: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The error row's message for a line of `size` bytes over the `limit`, of which `head` was kept."""
    attributes = {
        records.ERROR: f"a line of {size} bytes, over the limit of {limit} (the first {len(head)} kept)",
        records.ERROR_KIND: records.TOO_LONG,
        SUBMISSION_TIMESTAMP: received,
    }
    if service is not None:
        attributes[records.SERVICE] = service
    return redact_bytes(head), attributes


class Convert(Protocol):
    """A log line -> its raw message (or why it is skipped), and what an over-long line becomes."""

    def __call__(self, line: bytes, received: str) -> tuple[bytes, dict[str, str]] | Skipped: ...

    def too_long(self, head: bytes, size: int, limit: int, received: str) -> tuple[bytes, dict[str, str]]: ...


class GleanEvents:
    """Glean server events (to_message)."""

    def __call__(self, line: bytes, received: str):
        return to_message(line, received)

    def too_long(self, head: bytes, size: int, limit: int, received: str):
        return too_long(head, size, limit, received)


@dataclass(frozen=True)
class ServiceLines:
    """For a service not on Glean: each line a row of its Type's table, the policy applied now; a line
    that is not mozlog becomes an error row with its reason, and the line with its addresses out."""

    service: str
    policy: Policy
    key: bytes | None

    def __call__(self, line: bytes, received: str):
        line = line.rstrip(b"\r\n")
        try:
            row, attributes = records.row(self.service, line, records.parse(line), self.policy, self.key)
        except records.NotMozlog as exc:
            return redact_bytes(line), {records.SERVICE: self.service, records.ERROR: str(exc), SUBMISSION_TIMESTAMP: received}
        return jsontext.dumps(row), attributes

    def too_long(self, head: bytes, size: int, limit: int, received: str):
        return too_long(head, size, limit, received, self.service)


def service_message(service: str, policy: Policy, key: bytes | None) -> Convert:
    return ServiceLines(service, policy, key)
