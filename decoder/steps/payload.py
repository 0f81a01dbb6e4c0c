"""Step: parse the JSON body (jsontext: orjson, integers exact) and validate it against the registry's schema.

An unknown namespace, document type or version is an error, never a guess.
"""

from __future__ import annotations

import orjson

from pingpipe import jsontext
from pingpipe.schemas.registry import Registry, SchemaEntry

from ..errors import PayloadError, SchemaNotFound, SchemaValidationError


def parse_json(data: bytes) -> dict:
    try:
        payload = jsontext.loads(data)  # rejects invalid UTF-8 and nesting deeper than 1024
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"payload must be a JSON object, not {type(payload).__name__}")
    return payload


def lookup_schema(registry: Registry, attributes: dict[str, str], payload: dict) -> SchemaEntry:
    namespace = attributes["document_namespace"]
    doctype = attributes["document_type"]
    version = attributes.get("document_version")
    if version is None:  # legacy telemetry: the version is in the payload
        attributes["document_version"] = version = telemetry_version(payload)
    entry = registry.find(namespace, doctype, version)
    if entry is None:
        try:
            registry.get(namespace, doctype, version)
        except KeyError as exc:
            raise SchemaNotFound(f"no schema: {exc}") from None
    return entry


def telemetry_version(payload: dict) -> str:
    """A legacy telemetry ping's version: its top-level `version`, else its `v` (core, mobile-event,
    focus-event, ... pings), the first that is a plain value, as Mozilla's ParsePayload reads it."""
    for key in ("version", "v"):
        value = payload.get(key)
        if value is None or isinstance(value, (dict, list)):
            continue
        return ("true" if value else "false") if isinstance(value, bool) else str(value)
    raise SchemaNotFound("telemetry payload has no top-level 'version' or 'v'")


def validate(entry: SchemaEntry, payload: dict) -> None:
    if entry.validator.is_valid(payload):  # the common case, without building error objects
        return
    errors = entry.validator.iter_errors(payload)
    first = next(errors, None)
    if first is not None:
        path = "/".join(str(p) for p in first.instance_path)
        raise SchemaValidationError(f"#/{path}: {first.message}")
