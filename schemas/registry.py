"""The schema registry: every ping schema in a mozilla-pipeline-schemas style folder.

Layout: `<root>/<namespace>/<doctype>/<doctype>.<version>.schema.json`, with the BigQuery table
schema `<doctype>.<version>.bq` beside it when one was generated. Everything downstream reads
the registry: the decoder validates against it, the loader names and shapes tables from it.

A registry never half-loads: any malformed file is an error naming that file, and `load`
reports all of them at once rather than skipping any in silence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import jsonschema_rs

from . import bundle
from .names import live_table, sanitize_identifier, versioned_table
from .transpile import merge_metadata, transpile
from .validator import PingValidator

SCHEMA_SUFFIX = ".schema.json"
BQ_SUFFIX = ".bq"
_NAME = re.compile(r"^(?P<doctype>.+)\.(?P<version>[0-9]+)$")
_VALIDATORS = {
    "http://json-schema.org/draft-04/schema": jsonschema_rs.Draft4Validator,
    "http://json-schema.org/draft-06/schema": jsonschema_rs.Draft6Validator,
    "http://json-schema.org/draft-07/schema": jsonschema_rs.Draft7Validator,
}
KNOWN_METADATA_KEYS = (
    "bq_dataset_family",
    "bq_table",
    "bq_metadata_format",
    "expiration_policy",
    "override_attributes",
    "include_client_id",
    "include_info_sections",
    "json_object_path_regex",
    "geoip_skip_entries",
    "jwe_mappings",
    "sample_id_source_uuid_attribute",
    "sample_id_source_uuid_payload_path",
    "split_config",
    "submission_timestamp_granularity",
)


class SchemaFileError(ValueError):
    """One bad file in a schema repository."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class RegistryError(ValueError):
    """A schema repository with bad files, or none; `errors` lists every bad file."""

    def __init__(self, root: Path, errors: list[SchemaFileError], message: str | None = None):
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(message or f"{len(errors)} bad schema file(s) under {root}{_hint(root)}:\n{lines}")
        self.errors = errors


def _hint(root: Path) -> str:
    """Pointed at a repository's root rather than its schemas/ folder (mozilla-pipeline-schemas' layout)?"""
    inner = Path(root) / "schemas"
    if inner.is_dir() and any(inner.glob(f"*/*/*{SCHEMA_SUFFIX}")):
        return f" (did you mean {inner}?)"
    return ""


class UnknownSchema(KeyError):
    """No schema for a (namespace, doctype, version): never guessed, always an error."""

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class PipelineMetadata:
    """A schema's `mozPipelineMetadata`; keys pingpipe does not use are kept in `raw`."""

    raw: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def bq_dataset_family(self) -> str | None:
        return self.raw.get("bq_dataset_family")

    @property
    def bq_table(self) -> str | None:
        return self.raw.get("bq_table")

    @property
    def bq_metadata_format(self) -> str | None:
        return self.raw.get("bq_metadata_format")

    @property
    def expiration_policy(self) -> dict:
        return self.raw.get("expiration_policy") or {}

    @property
    def override_attributes(self) -> list[dict]:
        return self.raw.get("override_attributes") or []

    @property
    def include_client_id(self) -> bool | None:
        return self.raw.get("include_client_id")

    @property
    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.raw.items() if k not in KNOWN_METADATA_KEYS}


@dataclass
class SchemaEntry:
    namespace: str
    doctype: str
    version: int
    path: Path
    schema: dict
    metadata: PipelineMetadata
    validator: Any
    bq_path: Path | None = None
    _bq: list[dict] | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.namespace, self.doctype, self.version)

    @property
    def dataset_family(self) -> str:
        return self.metadata.bq_dataset_family or sanitize_identifier(self.namespace)

    @property
    def table(self) -> str:
        return self.metadata.bq_table or versioned_table(self.doctype, self.version)

    @property
    def live_table(self) -> str:
        """`<dataset_family>_live.<table>`: named only by the registry, never by request text."""
        return str(live_table(self.dataset_family, self.table))

    def is_valid(self, document: Any) -> bool:
        return self.validator.is_valid(document)

    def validate(self, document: Any) -> None:
        """Raise jsonschema_rs.ValidationError (with message and path) if the document fails."""
        self.validator.validate(document)


class Registry:
    """All schemas under one root, looked up by (namespace, doctype, version)."""

    def __init__(self, root: Path, entries: dict[tuple[str, str, int], SchemaEntry]):
        self.root = root
        self._entries = entries
        self._tables: dict[tuple[str, str, int], list[dict]] = {}

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, root: str | Path | None = None, *, validate_formats: bool = True) -> "Registry":
        """The registry under `root` (a folder, or a bundle in storage: schemas/bundle.py), else the shipped one."""
        if bundle.is_remote(root):
            root = bundle.fetch(root)
        root = Path(root) if root is not None else default_root()
        if not root.is_dir():
            raise RegistryError(root, [SchemaFileError(root, "not a directory")])
        entries: dict[tuple[str, str, int], SchemaEntry] = {}
        errors: list[SchemaFileError] = []
        for path in sorted(root.rglob("*")):
            if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            if path.name.endswith(SCHEMA_SUFFIX):
                try:
                    entry = _load_entry(root, path, validate_formats)
                except SchemaFileError as exc:
                    errors.append(exc)
                    continue
                entries[entry.key] = entry
            elif path.name.endswith(BQ_SUFFIX):
                schema_path = path.with_name(path.name[: -len(BQ_SUFFIX)] + SCHEMA_SUFFIX)
                if not schema_path.is_file():
                    errors.append(SchemaFileError(path, f"BigQuery schema without {schema_path.name} beside it"))
        for entry in entries.values():
            if entry.bq_path is not None:
                try:
                    entry._bq = _read_json(entry.bq_path)
                    if not isinstance(entry._bq, list):
                        raise SchemaFileError(entry.bq_path, "a .bq file must hold a JSON list of fields")
                except SchemaFileError as exc:
                    errors.append(exc)
        if errors:
            raise RegistryError(root, errors)
        if not entries:
            raise RegistryError(
                root, [], f"no schemas under {root}{_hint(root)}: expected <namespace>/<doctype>/<doctype>.<version>.schema.json files"
            )
        return cls(root, entries)

    # -- lookup ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[SchemaEntry]:
        return iter(self._entries[k] for k in sorted(self._entries))

    def __contains__(self, key: tuple[str, str, int | str]) -> bool:
        return self.find(*key) is not None

    def find(self, namespace: str, doctype: str, version: int | str) -> SchemaEntry | None:
        try:
            version = int(version)
        except (TypeError, ValueError):
            return None
        return self._entries.get((namespace, doctype, version))

    def get(self, namespace: str, doctype: str, version: int | str) -> SchemaEntry:
        entry = self.find(namespace, doctype, version)
        if entry is None:
            raise UnknownSchema(self._unknown_message(namespace, doctype, version))
        return entry

    def _unknown_message(self, namespace: str, doctype: str, version: Any) -> str:
        if not any(k[0] == namespace for k in self._entries):
            return f"unknown namespace {namespace!r}"
        if not any(k[:2] == (namespace, doctype) for k in self._entries):
            return f"unknown document type {doctype!r} in namespace {namespace!r}"
        return f"unknown version {version!r} of {namespace}/{doctype}"

    def namespaces(self) -> set[str]:
        return {k[0] for k in self._entries}

    # -- tables ----------------------------------------------------------------------------

    def metadata_schema(self, metadata_format: str) -> dict:
        """The injected-columns schema for a format: the repository's own, else pingpipe's."""
        return metadata_schema(metadata_format, self.root)

    def table_schema(self, entry: SchemaEntry) -> list[dict]:
        """The BigQuery columns of an entry's table: its `.bq`, or transpiled on the spot.

        A schema without `bq_metadata_format` (MPS's generic glean.1 has none) still gets the
        pipeline's columns, telemetry's for the telemetry namespace and structured ones otherwise:
        without them its rows would lose their document id, submission time, metadata and unknown
        fields, and `pingpipe dedupe` could not copy them.
        """
        if entry._bq is not None:
            return entry._bq
        if entry.key not in self._tables:
            fmt = entry.metadata.bq_metadata_format or ("telemetry" if entry.namespace == "telemetry" else "structured")
            self._tables[entry.key] = transpile(merge_metadata(entry.schema, self.metadata_schema(fmt)))
        return self._tables[entry.key]


def default_root() -> Path:
    """The schemas that ship with pingpipe."""
    return Path(str(resources.files("pingpipe.schemas") / "data"))


def metadata_schema(metadata_format: str, root: Path | None = None) -> dict:
    name = f"{metadata_format}-ingestion"
    for base in ([Path(root)] if root is not None else []) + [default_root()]:
        path = base / "metadata" / name / f"{name}.1.schema.json"
        if path.is_file():
            return json.loads(path.read_text())
    raise UnknownSchema(f"no metadata schema for bq_metadata_format {metadata_format!r}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaFileError(path, f"invalid JSON: {exc}") from None


def _load_entry(root: Path, path: Path, validate_formats: bool) -> SchemaEntry:
    parts = path.relative_to(root).parts
    if len(parts) != 3:
        raise SchemaFileError(path, "misplaced: schemas live at <namespace>/<doctype>/<doctype>.<version>.schema.json")
    namespace, directory, filename = parts
    match = _NAME.match(filename[: -len(SCHEMA_SUFFIX)])
    if not match:
        raise SchemaFileError(path, "name must be <doctype>.<version>.schema.json with an integer version")
    doctype, version = match["doctype"], int(match["version"])
    if doctype != directory and not doctype.startswith(f"{directory}-"):
        # A variant may sit beside its base doctype, as MPS keeps glean/glean/glean-min.1.
        raise SchemaFileError(path, f"document type {doctype!r} does not match its folder {directory!r}")
    schema = _read_json(path)
    if not isinstance(schema, dict):
        raise SchemaFileError(path, "a schema must be a JSON object")
    draft = str(schema.get("$schema", "")).rstrip("#")
    validator_cls = _VALIDATORS.get(draft)
    if validator_cls is None:
        raise SchemaFileError(path, f"unknown or missing $schema {schema.get('$schema')!r}; supported: draft-04, draft-06, draft-07")
    meta = schema.get("mozPipelineMetadata") or {}
    if not isinstance(meta, dict):
        raise SchemaFileError(path, "mozPipelineMetadata must be an object")
    try:
        validator = PingValidator(schema, validator_cls, validate_formats=validate_formats)
    except Exception as exc:  # noqa: BLE001 - jsonschema_rs raises ValueError subclasses for bad schemas
        raise SchemaFileError(path, f"not a valid JSON schema: {exc}") from None
    bq_path = path.with_name(f"{doctype}.{version}{BQ_SUFFIX}")
    return SchemaEntry(
        namespace=namespace,
        doctype=doctype,
        version=version,
        path=path,
        schema=schema,
        metadata=PipelineMetadata(dict(meta)),
        validator=validator,
        bq_path=bq_path if bq_path.is_file() else None,
    )
