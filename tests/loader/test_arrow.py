"""The DuckDB writer's Arrow path loads exactly what its JSON path loads, and falls back to JSON when it must."""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa
import pytest

from pingpipe.loader.arrow import arrow_schema, to_arrow
from pingpipe.loader.coerce import Coercer
from pingpipe.loader.load import Loader
from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.schemas.registry import Registry

from ..fixtures import decoded_messages

EDGE_CASES = [
    {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "dt", "type": "DATETIME", "mode": "NULLABLE"},
    {"name": "d", "type": "DATE", "mode": "NULLABLE"},
    {"name": "t", "type": "TIME", "mode": "NULLABLE"},
    {"name": "b", "type": "BYTES", "mode": "NULLABLE"},
    {"name": "f", "type": "FLOAT64", "mode": "NULLABLE"},
    {"name": "i", "type": "INT64", "mode": "NULLABLE"},
    {"name": "ok", "type": "BOOLEAN", "mode": "NULLABLE"},
    {"name": "s", "type": "STRING", "mode": "NULLABLE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {
        "name": "nested",
        "type": "RECORD",
        "mode": "NULLABLE",
        "fields": [
            {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
            {"name": "b", "type": "BYTES", "mode": "NULLABLE"},
            {
                "name": "kv",
                "type": "RECORD",
                "mode": "REPEATED",
                "fields": [{"name": "key", "type": "STRING", "mode": "NULLABLE"}, {"name": "value", "type": "INT64", "mode": "NULLABLE"}],
            },
        ],
    },
    {"name": "additional_properties", "type": "STRING", "mode": "NULLABLE"},
]
EDGE_PAYLOADS = [
    {
        "ts": "2026-11-23T10:00:00.123456Z",
        "dt": "2026-11-23T10:00:00",
        "d": "2026-11-23",
        "t": "10:00:00.5",
        "b": "aGVsbG8=",
        "f": 1,
        "i": -(2**63),
        "ok": True,
        "s": 'é ☃ \u0000 "q"',
        "tags": ["a", "", "ü"],
        "nested": {"ts": "2026-11-23T10:00:00+05:30", "b": "AAE=", "kv": {"x": 1, "y": 2**62}},
    },
    {
        "ts": "2026-11-23 10:00:00.123456789-08:00",
        "dt": "2026-11-23 10:00",
        "f": 1e308,
        "i": 2**63 - 1,
        "tags": [],
        "nested": {},
        "unknown": {"kept": [1, 2]},
    },
    {"ts": "2026-11-23", "f": -0.0, "s": "", "nested": {"kv": {}}},
    {},
]


def both_ways(tmp_path, table: TableId, fields: list[dict], rows: list[dict]):
    """The table's content after loading `rows` as Arrow, and after loading them as JSON."""
    out = []
    for how in ("arrow", "json"):
        writer = DuckDBWriter(tmp_path / f"{how}.duckdb")
        batch = rows if how == "arrow" else [orjson.dumps(row) for row in rows]  # serialized rows go as JSON
        writer.write({table: (fields, batch)})
        columns = ", ".join(f'"{f["name"]}"' for f in fields)
        out.append(writer.query(f'SELECT {columns} FROM "{table.dataset}"."{table.table}" ORDER BY ALL').fetchall())
        writer.close()
    return out


def test_edge_values_load_the_same_through_arrow_and_json(tmp_path):
    coerce = Coercer(EDGE_CASES)
    rows = [coerce(p) for p in EDGE_PAYLOADS]
    assert to_arrow(arrow_schema(EDGE_CASES), rows) is not None  # the Arrow path is really taken
    arrow_rows, json_rows = both_ways(tmp_path, TableId("x_live", "edge_v1"), EDGE_CASES, rows)
    assert arrow_rows == json_rows and len(arrow_rows) == 4
    assert any(r[4] == b"hello" for r in arrow_rows)  # BYTES decoded from base64


def test_every_fixture_row_loads_the_same_through_arrow_and_json(schemas, geoip_db, tmp_path):
    loader = Loader(Registry.load(schemas))
    by_table: dict[TableId, tuple[list[dict], list[dict]]] = {}
    for data, attributes in decoded_messages(schemas, geoip_db):
        if "error_type" in attributes:
            continue
        table, fields, row = loader.row(data, attributes)
        by_table.setdefault(table, (fields, []))[1].append(row)
    arrow_tables = 0
    for i, (table, (fields, rows)) in enumerate(sorted(by_table.items(), key=lambda kv: str(kv[0]))):
        arrow_tables += to_arrow(arrow_schema(fields), rows) is not None
        (tmp_path / str(i)).mkdir()
        arrow_rows, json_rows = both_ways(tmp_path / str(i), table, fields, rows)
        assert arrow_rows == json_rows, table
    assert arrow_tables >= 10, "the fixtures should mostly take the Arrow path"


def test_a_table_arrow_cannot_carry_goes_as_json(tmp_path):
    fields = [{"name": "n", "type": "NUMERIC", "mode": "NULLABLE"}, {"name": "j", "type": "JSON", "mode": "NULLABLE"}]
    assert arrow_schema(fields) is None
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    writer.write({TableId("x_live", "n_v1"): (fields, [{"n": 1.5, "j": {"a": [1]}}])})
    assert writer.query("SELECT n::VARCHAR, j::VARCHAR FROM x_live.n_v1").fetchall() == [("1.500000000", '{"a":[1]}')]


def test_a_batch_arrow_refuses_goes_as_json(tmp_path):
    fields = [{"name": "i", "type": "INT64", "mode": "NULLABLE"}]
    rows = [{"i": "12"}, {"i": 3}]  # not coerced: Arrow takes no string for an int64, DuckDB's JSON reader casts it
    assert to_arrow(arrow_schema(fields), rows) is None
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    writer.write({TableId("x_live", "i_v1"): (fields, rows)})
    assert sorted(writer.query("SELECT i FROM x_live.i_v1").fetchall()) == [(3,), (12,)]


def test_arrow_rows_fill_an_evolved_table_by_name(tmp_path):
    """Rows built for the old fields land in a table that has since gained columns, nested ones too."""
    old = [
        {"name": "a", "type": "STRING", "mode": "NULLABLE"},
        {"name": "r", "type": "RECORD", "mode": "NULLABLE", "fields": [{"name": "x", "type": "INT64", "mode": "NULLABLE"}]},
    ]
    new = [
        old[0],
        {
            "name": "r",
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [{"name": "x", "type": "INT64", "mode": "NULLABLE"}, {"name": "y", "type": "TIMESTAMP", "mode": "NULLABLE"}],
        },
        {"name": "c", "type": "BOOLEAN", "mode": "NULLABLE"},
    ]
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    table = TableId("x_live", "e_v1")
    writer.write(
        {
            table: (
                new,
                pa.Table.from_pylist([{"a": "new", "r": {"x": 1, "y": "2026-11-23T10:00:00Z"}, "c": True}], schema=arrow_schema(new)),
            )
        }
    )
    writer.write({table: (old, [{"a": "old", "r": {"x": 2}}])})
    got = writer.query("SELECT a, r.x, r.y IS NULL, c FROM x_live.e_v1 ORDER BY a").fetchall()
    assert got == [("new", 1, False, True), ("old", 2, True, None)]


def test_probing_an_arrow_batch_finds_only_the_refused_row_even_in_a_table_it_creates(tmp_path):
    fields = [
        {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "r", "type": "RECORD", "mode": "NULLABLE", "fields": [{"name": "x", "type": "INT64", "mode": "NULLABLE"}]},
    ]
    schema = arrow_schema(fields)
    rows = pa.Table.from_pylist(
        [
            {"ts": "2026-11-23T10:00:00Z", "r": {"x": 1}},
            {"ts": "2026-13-45T99:00:00Z", "r": {"x": 2}},
            {"ts": "2026-11-23T11:00:00Z", "r": {"x": 3}},
        ],
        schema=schema,
    )
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    table = TableId("x_live", "p_v1")
    with pytest.raises(duckdb.Error):
        writer.write({table: (fields, rows)})
    bad = writer.probe(table, fields, rows)
    assert [i for i, _ in bad] == [1]
