"""A schema file -> its BigQuery table schema (.bq), as mozilla-pipeline-schemas' generated branch has it."""

from __future__ import annotations

import json
from pathlib import Path

from .registry import metadata_schema
from .transpile import merge_metadata, transpile


def dump_json(data) -> str:
    """JSON the way MPS writes its generated files: sorted keys, 2-space indent, newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def metadata_for(schema: dict, repo_root: Path | None) -> dict | None:
    """The metadata schema the pipeline merges into this schema (its mozPipelineMetadata names it), if any."""
    fmt = (schema.get("mozPipelineMetadata") or {}).get("bq_metadata_format")
    if not fmt:
        return None
    return metadata_schema(fmt, repo_root if repo_root and (repo_root / "metadata").is_dir() else None)


def bq_for_file(path: Path, repo_root: Path | None) -> list[dict]:
    """A schema file's BigQuery table schema, with the pipeline's metadata columns merged in."""
    schema = json.loads(path.read_bytes())
    if not isinstance(schema, dict):
        raise ValueError("a schema must be a JSON object")
    meta = metadata_for(schema, repo_root)
    return transpile(merge_metadata(schema, meta) if meta else schema)


def guess_repo_root(path: Path) -> Path | None:
    """<root>/<namespace>/<doctype>/<file>: the root, if the file sits in that layout."""
    root = path.resolve().parent.parent.parent
    return root if (root / "metadata").is_dir() else None
