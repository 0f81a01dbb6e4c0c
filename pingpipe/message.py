"""The raw message every stage passes on: a Pub/Sub message, body bytes plus string attributes.

On disk (the local queue, decoder file input and output) a message is one line of Mozilla's
file format: `{"attributeMap": {...}, "payload": "<base64 of the body>"}`.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

import orjson
import pybase64  # SIMD base64: many times the standard library's speed, on every line read or written


class BadLine(ValueError):
    """A line that is not a raw message."""


@dataclass(slots=True)
class RawMessage:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)

    def to_line(self, newline: bool = True) -> bytes:
        return encode_line(self.data, self.attributes, newline)

    @classmethod
    def from_line(cls, line: bytes | str) -> "RawMessage":
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BadLine(f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise BadLine("not a JSON object")
        attributes = obj.get("attributeMap") or {}
        payload = obj.get("payload") or ""
        if not isinstance(attributes, dict) or not isinstance(payload, str):
            raise BadLine("attributeMap must be an object and payload a base64 string")
        try:
            data = pybase64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise BadLine(f"payload is not base64: {exc}") from None
        if not all(type(v) is str for v in attributes.values()):
            attributes = {str(k): str(v) for k, v in attributes.items() if v is not None}
        return cls(data, attributes)


def encode_line(data: bytes, attributes: dict[str, str], newline: bool = True) -> bytes:
    """One line of the file format (the hot path of the edge); Beam's writers add their own newline."""
    return orjson.dumps(
        {"attributeMap": attributes, "payload": pybase64.b64encode_as_string(data)}, option=orjson.OPT_APPEND_NEWLINE if newline else None
    )
