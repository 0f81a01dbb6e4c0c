"""Step: a Cloud Logging LogEntry becomes a submission (gcp-ingestion's ExtractIpFromLogEntry and
ParseLogEntry).

A server logging Glean server-side events writes mozlog lines of Type `glean-server-event` whose
`Fields` carry `document_namespace/_type/_version/_id`, `user_agent`, `ip_address` and the ping
as the string `payload`; Cloud Logging wraps each line in a LogEntry (`jsonPayload`). A message
without `submission_timestamp` and `uri` is such an entry. Before geo, `ip_address` leaves the entry for
the `x_forwarded_for` attribute (which geo uses and drops), so no output holds it, errors
included. After geo, the entry's Fields become the submission: its attributes (the namespace as
a Glean SDK would send the application id: `org.Example.app` is `org-example-app`), its payload,
and `receiveTimestamp` as the submission time.
"""

from __future__ import annotations

import re

import orjson

from pingpipe.schemas.names import SUBMISSION_TIMESTAMP, URI, glean_namespace

from ..errors import DecodeError

RFC3339 = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?Z")
REQUIRED = ("document_id", "document_namespace", "document_type", "document_version", "payload")


class InvalidLogEntry(DecodeError):
    error_type = "ParseLogEntry"


def is_log_entry(attributes: dict[str, str]) -> bool:
    """Edge submissions carry a uri (and the edge's submission_timestamp); a LogEntry that Cloud
    Logging routed to Pub/Sub carries neither. Mozilla switches the step on with an option
    (logIngestionEnabled); telling them apart by their attributes needs none."""
    return SUBMISSION_TIMESTAMP not in attributes and URI not in attributes


def _entry(data: bytes) -> dict:
    try:
        entry = orjson.loads(data)
    except orjson.JSONDecodeError:
        entry = None
    if not isinstance(entry, dict):
        raise InvalidLogEntry("Message has no submission_timestamp but could not be parsed as LogEntry JSON")
    return entry


def extract_ip(data: bytes, attributes: dict[str, str]) -> bytes:
    """Move Fields.ip_address (a string) to the x_forwarded_for attribute; the entry without it.

    An address already given (x_forwarded_for) is kept, and the entry left as it is, as Mozilla's does."""
    if "x_forwarded_for" in attributes:
        return data
    entry = _entry(data)
    payload = entry.get("jsonPayload")
    fields = payload.get("Fields") if isinstance(payload, dict) else None
    if not isinstance(fields, dict) or "ip_address" not in fields:
        return data
    ip = fields.pop("ip_address")
    if not isinstance(ip, str):  # null: nothing to locate, and nothing left in the entry either
        return orjson.dumps(entry)
    attributes["x_forwarded_for"] = ip
    return orjson.dumps(entry)


def document_id(data: bytes) -> str:
    """The document id an entry's Fields name (lowercased, as parse sets it), or "" if none can be read:
    read before decoding, to group a document's copies."""
    try:
        entry = _entry(data)
    except InvalidLogEntry:
        return ""
    payload = entry.get("jsonPayload")
    fields = payload.get("Fields") if isinstance(payload, dict) else None
    value = fields.get("document_id") if isinstance(fields, dict) else None
    return value.lower() if isinstance(value, str) else ""


def microseconds(timestamp: str) -> str:
    """Cloud Logging's nanosecond RFC 3339 time in the edge's form (six digits), so both order alike."""
    m = RFC3339.fullmatch(timestamp)
    if m is None:
        return timestamp
    return f"{m.group(1)}.{(m.group(2) or '')[:6].ljust(6, '0')}Z"


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def parse(data: bytes, attributes: dict[str, str]) -> bytes:
    """The ping inside the entry, with the submission's attributes set from its Fields."""
    entry = _entry(data)
    payload = entry.get("jsonPayload")
    fields = payload.get("Fields") if isinstance(payload, dict) else None
    fields = fields if isinstance(fields, dict) else {}
    values = {name: _text(fields.get(name)) for name in REQUIRED}
    received = _text(entry.get("receiveTimestamp"))
    if received is None or any(v is None for v in values.values()):
        raise InvalidLogEntry("Message has no submission_timestamp but is not in a known LogEntry format")
    ping = values.pop("payload")
    values["document_id"] = values["document_id"].lower()  # one spelling, as steps/uri.py gives an edge submission's
    # A logger writes the application id it was given; a Glean SDK sends its sanitized form: the
    # same rule makes both the app's namespace (`schemas glean --app-id` names its tables by it).
    values["document_namespace"] = glean_namespace(values["document_namespace"])
    attributes.update(values)
    attributes[SUBMISSION_TIMESTAMP] = microseconds(received)
    user_agent = _text(fields.get("user_agent"))
    if user_agent is not None:
        attributes["user_agent"] = user_agent
    return ping.encode("utf-8")
