"""Log lines -> raw messages for the decoder, with no I/O: what `pingpipe logs ingest` queues.

Two kinds of line are Glean server-side events: a Cloud Logging `LogEntry` (JSON with
`jsonPayload`), queued as it is, and a bare mozlog line of Type `glean-server-event` (what
glean_parser's server outputters write to stdout), wrapped in the LogEntry Cloud Logging would
have made of it, received now. The decoder turns either into a submission (decoder/steps/logentry.py).
A line that is neither JSON nor mozlog is queued too: the decoder makes an error row of it, with
its reason and the line as it was. Mozlog lines of other Types are not Glean's and are skipped (`service_message` loads them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import orjson

from pingpipe import jsontext
from pingpipe.edge.attributes import submission_timestamp

from . import records
from .policy import Policy

GLEAN_EVENT_TYPE = "glean-server-event"
LOG_NAME = "pingpipe logs ingest"


@dataclass(frozen=True)
class Skipped:
    reason: str


def received_now() -> str:
    """Now, in the edge's submission_timestamp form (so log lines and edge pings order alike)."""
    return submission_timestamp()


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


Convert = Callable[[bytes, str], "tuple[bytes, dict[str, str]] | Skipped"]


def service_message(service: str, policy: Policy, key: bytes | None) -> Convert:
    """For a service not on Glean: each line a row of its Type's table, the policy applied now; a line
    that is not mozlog queued as it came, with its reason, for an error row."""
    def convert(line: bytes, received: str):
        line = line.rstrip(b"\r\n")
        try:
            row, attributes = records.row(service, line, records.parse(line), policy, key)
        except records.NotMozlog as exc:
            return line, {records.SERVICE: service, records.ERROR: str(exc), "submission_timestamp": received}
        return jsontext.dumps(row), attributes
    return convert
