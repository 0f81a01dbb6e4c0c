"""Payload -> row coercion rules, table-driven."""

from __future__ import annotations

import json

import pytest

from pingpipe.loader.coerce import Coercer
from pingpipe.schemas.registry import Registry

from ..fixtures import GLEAN, GLEAN_APP_ID, GLEAN_DEFINITIONS, validation_docs

FIELDS = [
    {"name": "additional_properties", "type": "STRING", "mode": "NULLABLE"},
    {"name": "count", "type": "INT64", "mode": "NULLABLE"},
    {"name": "ratio", "type": "FLOAT64", "mode": "NULLABLE"},
    {"name": "flag", "type": "BOOL", "mode": "NULLABLE"},
    {"name": "text", "type": "STRING", "mode": "NULLABLE"},
    {"name": "when", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
    {"name": "blob", "type": "JSON", "mode": "NULLABLE"},
    {"name": "_64bit_build", "type": "BOOL", "mode": "NULLABLE"},
    {"name": "camel_case", "type": "STRING", "mode": "NULLABLE"},
    {
        "name": "counts",
        "type": "RECORD",
        "mode": "REPEATED",
        "fields": [{"name": "key", "type": "STRING", "mode": "NULLABLE"}, {"name": "value", "type": "INT64", "mode": "NULLABLE"}],
    },
    {
        "name": "metrics",
        "type": "RECORD",
        "mode": "NULLABLE",
        "fields": [
            {
                "name": "counter",
                "type": "RECORD",
                "mode": "NULLABLE",
                "fields": [{"name": "glean_error_io", "type": "INT64", "mode": "NULLABLE"}],
            }
        ],
    },
    {"name": "items", "type": "RECORD", "mode": "REPEATED", "fields": [{"name": "n", "type": "INT64", "mode": "NULLABLE"}]},
]
coerce = Coercer(FIELDS)


def extra(row: dict) -> dict:
    return json.loads(row.get("additional_properties", "{}"))


@pytest.mark.parametrize(
    "payload, expected_row, expected_extra",
    [
        ({"count": 3, "ratio": 1, "flag": True, "text": "x"}, {"count": 3, "ratio": 1, "flag": True, "text": "x"}, {}),
        ({"count": 3.0}, {"count": 3}, {}),
        ({"ratio": 2**64 - 1}, {"ratio": 1.8446744073709552e19}, {}),  # an unsigned 64-bit int (orjson reads those)
        ({"count": "3"}, {}, {"count": "3"}),  # wrong type: kept aside, row still loads
        ({"count": True}, {}, {"count": True}),
        ({"flag": 1}, {}, {"flag": 1}),
        ({"text": {"a": [1, 2]}}, {"text": '{"a":[1,2]}'}, {}),  # complex value in a STRING column: JSON text
        ({"text": 5}, {"text": "5"}, {}),
        ({"tags": ["a", "b"]}, {"tags": ["a", "b"]}, {}),
        ({"tags": ["a", 1]}, {"tags": ["a", "1"]}, {}),
        ({"tags": "a"}, {}, {"tags": "a"}),
        ({"blob": {"any": ["thing"]}}, {"blob": {"any": ["thing"]}}, {}),
        ({"64bit_build": True}, {"_64bit_build": True}, {}),  # digit-leading names get an underscore
        ({"camelCase": "v"}, {"camel_case": "v"}, {}),  # names are snake_cased
        ({"counts": {"a": 1, "b": 2}}, {"counts": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]}, {}),
        ({"counts": {"a": 1, "b": "x"}}, {"counts": [{"key": "a", "value": 1}]}, {"counts": {"b": "x"}}),
        (
            {"metrics": {"counter": {"glean.error.io": 4, "new.metric": 1}}},
            {"metrics": {"counter": {"glean_error_io": 4}}},
            {"metrics": {"counter": {"new.metric": 1}}},
        ),
        ({"items": [{"n": 1}, {"n": 2}]}, {"items": [{"n": 1}, {"n": 2}]}, {}),
        ({"unknown": {"deep": 1}, "count": None}, {}, {"unknown": {"deep": 1}}),
        ({"when": "2026-11-23T10:00:00.000000Z"}, {"when": "2026-11-23T10:00:00.000000Z"}, {}),
        ({"when": 12345}, {}, {"when": 12345}),
    ],
)
def test_coercion_rules(payload, expected_row, expected_extra):
    row = coerce(payload)
    assert {k: v for k, v in row.items() if k != "additional_properties"} == expected_row
    assert extra(row) == expected_extra


def test_glean_bodies_from_the_sdk_fill_their_metric_columns(tmp_path):
    from click.testing import CliRunner

    from pingpipe.cli import main

    CliRunner().invoke(main, ["schemas", "glean", "--app-id", GLEAN_APP_ID, *GLEAN_DEFINITIONS, "--out", str(tmp_path)])
    registry = Registry.load(tmp_path)
    body = json.loads((GLEAN / "metrics.json").read_text())
    row = Coercer(registry.table_schema(registry.get("org-demo-app", "metrics", 1)))(body)
    assert row["client_info"]["client_id"] == body["client_info"]["client_id"]
    for metric_type, metrics in body.get("metrics", {}).items():
        for name in metrics:
            column = name.replace(".", "_")
            assert column in row["metrics"][metric_type] or metric_type in extra(row).get("metrics", {}), (metric_type, name)


def test_test_validation_documents_coerce_without_losing_data(registry_root):
    registry = Registry.load(registry_root)
    checked = 0
    for doc in validation_docs():
        if not doc.passes:
            continue
        path = doc.path
        entry = registry.get(doc.namespace, doc.doctype, doc.version)
        payload = doc.json()
        fields = registry.table_schema(entry)
        if not any(f["name"] == "additional_properties" for f in fields):
            continue  # e.g. the generic glean schema: no table is made from it as is
        row = Coercer(fields)(payload)
        placed = set(row) - {"additional_properties"}
        leftovers = set(extra(row))
        from pingpipe.schemas.transpile import column_name

        assert {column_name(k) for k in payload if payload[k] is not None} <= placed | {column_name(k) for k in leftovers}, path.name
        checked += 1
    assert checked == 17  # every passing document


TYPED = Coercer(
    [
        {"name": "additional_properties", "type": "STRING", "mode": "NULLABLE"},
        {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "local", "type": "DATETIME", "mode": "NULLABLE"},
        {"name": "day", "type": "DATE", "mode": "NULLABLE"},
        {"name": "clock", "type": "TIME", "mode": "NULLABLE"},
        {"name": "raw", "type": "BYTES", "mode": "NULLABLE"},
        {"name": "amount", "type": "NUMERIC", "mode": "NULLABLE"},
    ]
)


@pytest.mark.parametrize(
    "column, value, fits",
    [
        ("ts", "2026-11-23T10:00:00.123456Z", True),
        ("ts", "2026-11-23T10:00:00.12345xZ", False),
        ("ts", "2026-02-30T10:00:00.123456Z", False),
        ("ts", "2026-11-23T10:00:00+05:30", True),
        ("ts", "2026-11-23T10:00+00:00", True),
        ("ts", "2026-11-23 10:00:00", True),
        ("ts", "2026-11-23", True),
        ("ts", "2026-13-01T00:00:00Z", False),
        ("ts", "2026-11-23T23:59:60Z", False),
        ("ts", "20261123T100000Z", False),
        ("ts", "not a time", False),
        ("ts", "2026-11-23T10:00:00.12345\u0666Z", False),  # an Arabic-Indic digit: Python reads it, DuckDB would not
        ("ts", "\u0662\u0660\u0662\u0666-11-23T10:00:00Z", False),
        ("ts", "2026-11-23T10:00:00.123456+", False),
        ("local", "2026-11-23T10:00:00", True),
        ("local", "2026-11-23T10:00:00Z", False),
        ("day", "2026-02-28", True),
        ("day", "2026-02-30", False),
        ("day", "2026-02-2\uff18", False),  # a full-width digit
        ("clock", "1\u0661:00:00", False),
        ("clock", "23:59:59.5", True),
        ("clock", "24:00:00", False),
        ("raw", "aGVsbG8=", True),
        ("raw", "not base64!", False),
        ("amount", 12.5, True),
        ("amount", 1e30, False),
    ],
)
def test_values_the_warehouse_cannot_parse_go_to_additional_properties(column, value, fits):
    """One unparseable value must never fail its whole batch in the writer: it moves aside, the row loads."""
    row = TYPED({column: value})
    assert (row.get(column) == value) is fits
    assert (extra(row) == {column: value}) is (not fits)
