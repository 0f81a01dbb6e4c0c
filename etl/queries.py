"""Queries in bigquery-etl's layout: `<root>/<dataset>/<table>/query.sql` (or `view.sql`), with
`metadata.yaml` and, optionally, `schema.yaml`.

`query.sql` is one BigQuery SELECT for the day its date parameter names (`@submission_date` by
default, bigquery-etl's `scheduling.date_partition_parameter`); a run replaces that day's rows
of `<dataset>.<table>`. `view.sql` is one `CREATE OR REPLACE VIEW` statement. `schema.yaml`
(`fields:`, BigQuery's JSON form) gives the table's columns before its first run, which a query
that reads its own previous day (`depends_on_past`) needs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema_rs
import yaml

from pingpipe.reason import one_line

DEFAULT_DATE_PARAMETER = "submission_date"
_METADATA_KEYS = {"friendly_name", "description", "owners", "labels", "scheduling", "depends_on_past", "bigquery"}


class QueryError(ValueError):
    """A query pingpipe cannot use or could not run; the message starts with its file."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path


@dataclass(frozen=True)
class Query:
    dataset: str
    table: str
    sql: str  # BigQuery SQL: a SELECT (a table's query) or a CREATE VIEW statement (a view)
    path: str  # the file it came from, or "generated:<what made it>"
    view: bool = False
    description: str = ""
    owners: tuple[str, ...] = ()
    labels: dict = field(default_factory=dict, hash=False, compare=False)
    date_parameter: str | None = DEFAULT_DATE_PARAMETER  # None: each run replaces the whole table
    depends_on_past: bool = False
    fields: list[dict] | None = field(default=None, hash=False, compare=False)  # schema.yaml's
    checks: str | None = field(default=None, hash=False, compare=False)  # checks.sql's text (checks.py)
    checks_path: str | None = None

    @property
    def name(self) -> str:
        return f"{self.dataset}.{self.table}"


def load_dir(root: Path) -> list[Query]:
    """Every query and view under `root`, in name order; a malformed file raises QueryError naming it."""
    root = Path(root)
    if not root.is_dir():
        raise QueryError(str(root), "not a folder of <dataset>/<table>/query.sql")
    out = []
    for folder in sorted(p for p in root.glob("*/*") if p.is_dir()):
        query, view = folder / "query.sql", folder / "view.sql"
        if not (query.exists() or view.exists()):
            continue
        if query.exists() and view.exists():
            raise QueryError(str(folder), "has both query.sql and view.sql: keep one")
        path = query if query.exists() else view
        metadata, schema, checks = folder / "metadata.yaml", folder / "schema.yaml", folder / "checks.sql"
        q = from_parts(
            Query(folder.parent.name, folder.name, path.read_text(), str(path), view=path is view),
            (str(metadata), _yaml(metadata, {})),
            (str(schema), _yaml(schema, None)),
        )
        if checks.exists():
            q = dataclasses.replace(q, checks=checks.read_text(), checks_path=str(checks))
        out.append(q)
    return out


def from_parts(query: Query, metadata: tuple[str, object], schema: tuple[str, object]) -> Query:
    """`query` with what its metadata.yaml and schema.yaml say, each given as (file, parsed content;
    None for a schema.yaml that is absent), whether a folder holds them or a template renders them.
    A malformed one raises QueryError naming its file."""
    (metadata_file, meta), (schema_file, fields) = metadata, schema
    if not isinstance(meta, dict) or not set(meta) <= _METADATA_KEYS:
        raise QueryError(metadata_file, f"expected a mapping of {', '.join(sorted(_METADATA_KEYS))}")
    problems = [e.message for e in _metadata_validator().iter_errors(meta)]
    if problems:
        raise QueryError(metadata_file, f"does not fit metadata.schema.json: {'; '.join(problems)}")
    if fields is not None and not (isinstance(fields, dict) and isinstance(fields.get("fields"), list)):
        raise QueryError(schema_file, "expected `fields:` with a list of BigQuery fields")
    scheduling = meta.get("scheduling") or {}
    return dataclasses.replace(
        query,
        description=str(meta.get("description") or ""),
        owners=tuple(meta.get("owners") or ()),
        labels=dict(meta.get("labels") or {}),
        date_parameter=scheduling.get("date_partition_parameter", DEFAULT_DATE_PARAMETER)
        if isinstance(scheduling, dict)
        else DEFAULT_DATE_PARAMETER,
        depends_on_past=bool(meta.get("depends_on_past") or (isinstance(scheduling, dict) and scheduling.get("depends_on_past"))),
        fields=fields["fields"] if fields else None,
    )


@cache
def _metadata_validator():
    """metadata.yaml's schema: the types of the keys pingpipe reads, as glean_parser checks its inputs."""
    return jsonschema_rs.Draft7Validator(json.loads((resources.files("pingpipe.etl") / "metadata.schema.json").read_text()))


def _yaml(path: Path, default):
    if not path.exists():
        return default
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise QueryError(str(path), f"is not YAML: {one_line(exc)}") from None


def write_dir(queries: list[Query], root: Path) -> list[Path]:
    """Write queries in the same layout (e.g. the generated ones, to read or to start from)."""
    written = []
    for q in queries:
        folder = Path(root) / q.dataset / q.table
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ("view.sql" if q.view else "query.sql")).write_text(q.sql)
        metadata = {"description": q.description, "owners": list(q.owners), "labels": q.labels}
        if not q.view:
            metadata["scheduling"] = {"date_partition_parameter": q.date_parameter}
            metadata["depends_on_past"] = q.depends_on_past
        (folder / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
        if q.fields:
            (folder / "schema.yaml").write_text(yaml.safe_dump({"fields": q.fields}, sort_keys=False))
        if q.checks:
            (folder / "checks.sql").write_text(q.checks)
        written.append(folder)
    return written
