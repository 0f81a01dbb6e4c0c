"""Fixture tests in bigquery-etl's layout, run on an in-memory DuckDB in seconds, with no cloud:
`<root>/[<project>/]<dataset>/<table>/<test>/` holds one file of rows per table the query reads,
named `[<project>.]<dataset>.<table>.yaml` (or `.ndjson`, `.json`), optionally its BigQuery fields
beside it as `….schema.json`, the date in `query_params.yaml`, and the rows the query must give in
`expect.yaml` (or `expect.ndjson`). Rows are compared as a multiset, as bigquery-etl compares them.
Rows with their table's fields are coerced as the loader coerces a ping (loader/coerce.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable

import duckdb
import yaml

from pingpipe import jsontext
from pingpipe.loader.arrow import schema_for, to_arrow
from pingpipe.loader.coerce import Coercer
from pingpipe.loader.tables import quote
from pingpipe.reason import one_line

from .functions import ensure_duckdb
from .queries import Query, QueryError
from .sql import to_duckdb

SHIPPED = Path(__file__).with_name("fixtures")  # tests of the generated queries (the demo app's)
EXPECT = ("expect.yaml", "expect.ndjson", "expect.json")
ROWS = (".yaml", ".ndjson", ".json")


@dataclass
class Outcome:
    table: str
    test: str
    path: str
    passed: bool
    problem: str = ""
    missing: list[dict] = field(default_factory=list)  # expected rows the query did not give
    unexpected: list[dict] = field(default_factory=list)  # rows it gave that were not expected


def find(root: Path) -> list[tuple[str, Path]]:
    """(dataset.table, test folder) of every test under `root`, a project level or not."""
    out = []
    for expect in sorted(p for name in EXPECT for p in Path(root).rglob(name)):
        test = expect.parent
        table = f"{test.parent.parent.name}.{test.parent.name}"
        out.append((table, test))
    return out


def read_rows(path: Path) -> list[dict]:
    text = path.read_text()
    if path.suffix == ".ndjson":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    rows = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return rows or []


def day_of(test: Path, q: Query) -> dt.date | None:
    params = test / "query_params.yaml"
    if not params.exists() or not q.date_parameter:
        return None
    for p in yaml.safe_load(params.read_text()) or []:
        if p.get("name") == q.date_parameter:
            value = p["value"]
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return None


def run_test(q: Query, test: Path, fields_of: Callable[[str], list[dict] | None] = lambda name: None) -> Outcome:
    """Load the test's tables into a new in-memory DuckDB, run `q` for its day, compare with expect.
    A table's columns: its `….schema.json` beside the rows, else `fields_of(dataset.table)` (the
    registry's or a query's schema), else as DuckDB reads the rows' JSON."""
    outcome = Outcome(q.name, test.name, str(test), False)
    try:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        ensure_duckdb(con)
        for source in sorted(p for p in test.iterdir() if p.suffix in ROWS and not p.name.startswith(("expect.", "query_params."))):
            name = source.name[: -len(source.suffix)]
            if name.endswith(".schema"):
                continue
            *_, dataset, table = name.split(".")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(dataset)}")
            schema = source.with_name(f"{name}.schema.json")
            fields = _fields(schema) if schema.exists() else fields_of(f"{dataset}.{table}")
            load_table(con, dataset, table, read_rows(source), fields)
        sql = to_duckdb(dataclasses.replace(q, path=str(test)), day_of(test, q))
        found = con.execute(sql)
        columns = [d[0] for d in found.description]
        got = [plain(dict(zip(columns, row, strict=True))) for row in found.fetchall()]
    except (QueryError, duckdb.Error, OSError, ValueError, yaml.YAMLError) as exc:
        outcome.problem = one_line(exc)
        return outcome
    expect_file = next(test / name for name in EXPECT if (test / name).exists())
    expected = [plain(r) for r in read_rows(expect_file)]
    outcome.missing, outcome.unexpected = difference(expected, got)
    outcome.passed = not outcome.missing and not outcome.unexpected
    return outcome


def _fields(schema: Path) -> list[dict]:
    fields = json.loads(schema.read_text())
    return fields.get("fields", fields) if isinstance(fields, dict) else fields


def load_table(con, dataset: str, table: str, rows: list[dict], fields: list[dict] | None) -> None:
    """A table of `rows`: typed by its BigQuery fields when known, else as DuckDB reads JSON."""
    target = f"{quote(dataset)}.{quote(table)}"
    if fields:
        coerce = Coercer(fields)
        arrow = to_arrow(schema_for(fields), [coerce(jsontext.loads(json.dumps(r, default=str).encode())) for r in rows])
        if arrow is None:
            raise ValueError(f"{dataset}.{table}: its rows do not fit its fields")
        con.register("fixture_rows", arrow)
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM fixture_rows")
        con.unregister("fixture_rows")
        return
    if not rows:
        raise ValueError(f"{dataset}.{table}: no rows and no fields to know its columns by")
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson") as f:
        f.write("".join(json.dumps(r, default=str) + "\n" for r in rows))
        f.flush()
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM read_json(?, format = 'newline_delimited')", [f.name])


def plain(value):
    """A value as YAML writes it, to compare: dates as text, integral numbers as ints, structs as dicts."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (float, Decimal)):
        return int(value) if value == int(value) else round(float(value), 9)
    return value


def difference(expected: list[dict], got: list[dict]) -> tuple[list[dict], list[dict]]:
    """The expected rows not given, and the given rows not expected, counting repeats."""
    left = [json.dumps(r, sort_keys=True, default=str) for r in expected]
    right = [json.dumps(r, sort_keys=True, default=str) for r in got]
    missing = list(left)
    unexpected = []
    for r in right:
        if r in missing:
            missing.remove(r)
        else:
            unexpected.append(r)
    return [json.loads(r) for r in missing], [json.loads(r) for r in unexpected]


def fields_by_table(registry, queries: list[Query]) -> Callable[[str], list[dict] | None]:
    """The fields of the registry's live and stable tables and of the queries that declare theirs."""
    from pingpipe.schemas.names import TableId, stable_of

    known: dict[str, object] = {q.name: q.fields for q in queries if q.fields}
    for entry in registry:
        live = TableId.parse(entry.live_table)
        known.setdefault(str(live), entry)
        known.setdefault(str(stable_of(live)), entry)

    def fields_of(name: str) -> list[dict] | None:
        found = known.get(name)
        return registry.table_schema(found) if found is not None and not isinstance(found, list) else found

    return fields_of
