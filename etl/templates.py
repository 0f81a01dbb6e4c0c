"""Generated queries as templates, in bigquery-etl's layout (sql_generators/*/templates): for a
generator, `templates/<generator>/<name>.query.sql` (or `.view.sql`) beside `<name>.metadata.yaml`
and, optionally, `<name>.schema.yaml`, each a Jinja template. The SQL reads as a user's query
does, and a generated query is made from its files by the same rules as a user's (queries.py).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import jinja2
import yaml

from pingpipe.reason import one_line

from .queries import Query, QueryError, from_parts

ROOT = Path(__file__).with_name("templates")


@cache
def environment() -> jinja2.Environment:
    """SQL and YAML, not HTML: nothing escaped; a name a template uses and the caller did not give fails."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(generator: str, name: str, **context) -> str:
    """One template file (`name` with its suffix, e.g. "active_users.view.sql") rendered."""
    return environment().get_template(f"{generator}/{name}").render(**context)


def exists(generator: str, name: str) -> bool:
    return (ROOT / generator / name).is_file()


def generate(generator: str, name: str, dataset: str, table: str, **context) -> Query:
    """The query (or view) `dataset.table` from the templates `<generator>/<name>.*`, rendered with `context`."""
    view = exists(generator, f"{name}.view.sql")
    sql = render(generator, f"{name}.{'view' if view else 'query'}.sql", **context)
    files = {}
    for kind in ("metadata", "schema"):
        file = f"{name}.{kind}.yaml"
        where = f"{ROOT / generator / file}"
        try:
            files[kind] = (where, yaml.safe_load(render(generator, file, **context)) if exists(generator, file) else None)
        except yaml.YAMLError as exc:
            raise QueryError(where, f"is not YAML once rendered: {one_line(exc)}") from None
    metadata = (files["metadata"][0], files["metadata"][1] or {})
    q = from_parts(Query(dataset, table, sql, f"generated:{generator}/{dataset}/{table}", view=view), metadata, files["schema"])
    if exists(generator, f"{name}.checks.sql"):
        checks = render(generator, f"{name}.checks.sql", **context)
        q = dataclasses.replace(q, checks=checks, checks_path=f"{ROOT / generator / name}.checks.sql")
    return q
