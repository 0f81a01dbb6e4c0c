"""Step: parse the JSON body (orjson) and validate it against the registry's schema.

An unknown namespace, document type or version is an error, never a guess.
"""

from __future__ import annotations

import orjson

from pingpipe.schemas.registry import Registry, SchemaEntry

from ..errors import PayloadError, SchemaNotFound, SchemaValidationError


def parse_json(data: bytes) -> dict:
    try:
        payload = orjson.loads(data)  # rejects invalid UTF-8 and nesting deeper than 1024
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
        version = payload.get("version")
        if version is None or isinstance(version, bool):
            raise SchemaNotFound("telemetry payload has no version")
        attributes["document_version"] = version = str(version)
    entry = registry.find(namespace, doctype, version)
    if entry is None:
        try:
            registry.get(namespace, doctype, version)
        except KeyError as exc:
            raise SchemaNotFound(f"no schema: {exc}") from None
    return entry


def validate(entry: SchemaEntry, payload: dict) -> None:
    if entry.validator.is_valid(payload):  # the common case, without building error objects
        return
    errors = entry.validator.iter_errors(payload)
    first = next(errors, None)
    if first is not None:
        path = "/".join(str(p) for p in first.instance_path)
        raise SchemaValidationError(f"#/{path}: {first.message}")
