"""Step: the submission URI -> document_namespace, document_type, document_version, document_id
(and app_name, app_version, app_update_channel, app_build_id for legacy telemetry URIs).

The document id is a UUID, which the edge takes in either case; it is lowercased here, once, so
that deduplication, the tables and the error table all see one spelling of it."""

from __future__ import annotations

from ..errors import UnexpectedPathElements, UriError

TELEMETRY = ("document_id", "document_type", "app_name", "app_version", "app_update_channel", "app_build_id")
STRUCTURED = ("document_type", "document_version", "document_id")


def _split(uri: str | None) -> tuple[str, tuple[str, ...], list[str]]:
    """(namespace, the names of its path elements, the elements) of a submission URI; raises UriError."""
    if not uri:
        raise UriError("message has no uri attribute")
    path = uri.split("?", 1)[0]
    if not path.startswith("/submit/"):
        raise UriError(f"unknown URI prefix: {path[:80]}")
    parts = path[len("/submit/") :].split("/")
    namespace, rest = parts[0], parts[1:]
    if not namespace:
        raise UriError("URI has no namespace")
    names = TELEMETRY if namespace == "telemetry" else STRUCTURED
    if len(rest) != len(names):
        raise UnexpectedPathElements(f"Found {len(rest) - len(names)} more path elements in the URI than expected for this endpoint")
    if any(not p for p in rest):
        raise UriError("URI has an empty path element")
    return namespace, names, rest


def parse_uri(attributes: dict[str, str]) -> None:
    namespace, names, rest = _split(attributes.get("uri"))
    attributes["document_namespace"] = namespace
    attributes.update(zip(names, rest, strict=True))
    attributes["document_id"] = attributes["document_id"].lower()


def document_id_of(uri: str | None) -> str:
    """The document id a URI names, spelled as parse_uri spells it, or "" if the URI would not parse
    (read before decoding, to group a document's copies)."""
    try:
        _namespace, names, rest = _split(uri)
    except UriError:
        return ""
    return rest[names.index("document_id")].lower()
