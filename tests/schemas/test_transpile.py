"""The transpiler reproduces Mozilla's generated .bq files, and its rules hold one by one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pingpipe.schemas.commands import bq_for_file
from pingpipe.schemas.transpile import MOZILLA, Options, TranspileError, merge_metadata, transpile

from ..conftest import MPS

# burnham's .bq files come from Glean metric definitions, not from its JSON schema: they are
# checked by test_glean.py through `pingpipe schemas glean`.
PAIRS = sorted(
    p for p in (MPS / "schemas").glob("*/*/*.bq") if p.parts[-3] != "burnham"
)


def test_every_visible_fixture_pair_is_collected():
    assert len(PAIRS) >= 14


@pytest.mark.parametrize("bq_path", PAIRS, ids=lambda p: "/".join(p.parts[-3:]))
def test_transpiler_reproduces_mozilla_bq_exactly(bq_path: Path):
    schema_path = bq_path.with_name(bq_path.name[: -len(".bq")] + ".schema.json")
    got = bq_for_file(schema_path, MPS / "schemas")
    assert got == json.loads(bq_path.read_text())


def bq(schema: dict, **options) -> list[dict]:
    return transpile(schema, Options(**options) if options else MOZILLA)


def obj(**props) -> dict:
    return {"type": "object", "properties": props}


def test_atoms_map_to_bigquery_types_and_everything_is_nullable():
    got = bq(obj(b={"type": "boolean"}, i={"type": "integer"}, n={"type": "number"}, s={"type": "string"},
                 t={"type": "string", "format": "date-time"}, y={"type": "string", "format": "bytes"}))
    assert [(f["name"], f["type"], f["mode"]) for f in got] == [
        ("b", "BOOL", "NULLABLE"), ("i", "INT64", "NULLABLE"), ("n", "FLOAT64", "NULLABLE"),
        ("s", "STRING", "NULLABLE"), ("t", "TIMESTAMP", "NULLABLE"), ("y", "BYTES", "NULLABLE"),
    ]


def test_fields_are_snake_cased_and_sorted_after_renaming():
    got = bq(obj(zeta={"type": "string"}, alphaBeta={"type": "string"}, **{"64bit": {"type": "boolean"}}))
    assert [f["name"] for f in got] == ["_64bit", "alpha_beta", "zeta"]


def test_required_fields_are_required_without_force_nullable():
    schema = {**obj(a={"type": "integer"}, b={"type": ["integer", "null"]}, c={"type": "string"}), "required": ["a", "b"]}
    got = bq(schema, force_nullable=False)
    assert {f["name"]: f["mode"] for f in got} == {"a": "REQUIRED", "b": "NULLABLE", "c": "NULLABLE"}


def test_typed_additional_properties_become_repeated_key_value_records():
    got = bq(obj(m={"type": "object", "additionalProperties": {"type": "integer"}, "description": "d"}))
    assert got == [{
        "description": "d", "mode": "REPEATED", "name": "m", "type": "RECORD",
        "fields": [{"mode": "NULLABLE", "name": "key", "type": "STRING"},
                   {"mode": "NULLABLE", "name": "value", "type": "INT64"}],
    }]


def test_pattern_properties_are_maps_too():
    got = bq(obj(m={"type": "object", "additionalProperties": False, "patternProperties": {"^[0-9]+$": {"type": "integer"}}}))
    assert got[0]["mode"] == "REPEATED" and got[0]["fields"][1]["type"] == "INT64"


def test_nullable_type_lists_collapse_to_the_non_null_type():
    assert bq(obj(x={"type": ["null", "integer"]}))[0]["type"] == "INT64"
    assert bq(obj(x={"type": ["integer", "number"]}))[0]["type"] == "FLOAT64"


def test_incompatible_unions_are_dropped_under_mozillas_drop_resolution():
    schema = obj(keep={"type": "string"}, mixed={"type": ["string", "integer"]}, any_of={"oneOf": [{"type": "boolean"}, obj(a={"type": "integer"})]},
                 empty={})
    assert [f["name"] for f in bq(schema)] == ["keep"]


def test_incompatible_unions_are_json_strings_under_cast_resolution():
    schema = obj(mixed={"type": ["string", "integer"]}, any_of={"anyOf": [{"type": "boolean"}, {"type": "integer"}]}, empty={})
    got = bq(schema, resolve="cast")
    assert {f["name"]: f["type"] for f in got} == {"any_of": "STRING", "empty": "STRING", "mixed": "STRING"}


def test_panic_resolution_raises_on_an_unrepresentable_field():
    with pytest.raises(TranspileError):
        bq(obj(empty={}), resolve="panic")


def test_json_object_path_regex_makes_a_json_column():
    schema = {**obj(metrics=obj(object=obj(thing={"type": ["object", "array"], "items": {"format": "json"}}))),
              "mozPipelineMetadata": {"json_object_path_regex": r"metrics\.object\..*"}}
    got = transpile(schema)
    assert got[0]["fields"][0]["fields"][0] == {"mode": "NULLABLE", "name": "thing", "type": "JSON"}


def test_compatible_one_of_objects_merge_field_by_field():
    schema = obj(x={"oneOf": [obj(a={"type": "integer"}, c={"type": "number"}), obj(b={"type": "boolean"}, c={"type": "number"})]})
    got = bq(schema)
    assert [(f["name"], f["type"]) for f in got[0]["fields"]] == [("a", "INT64"), ("b", "BOOL"), ("c", "FLOAT64")]


def test_one_of_objects_conflicting_anywhere_become_json():
    schema = obj(x={"oneOf": [obj(a={"type": "integer"}), obj(a={"type": "boolean"})]})
    assert bq(schema) == []
    assert bq(schema, resolve="cast")[0]["type"] == "STRING"


def test_all_of_adds_properties_together():
    schema = obj(x={"allOf": [obj(a={"type": "integer"}), {"properties": {"b": {"type": "string"}}}]})
    assert [f["name"] for f in bq(schema)[0]["fields"]] == ["a", "b"]


def test_arrays_are_repeated_and_arrays_of_arrays_nest_through_list_records():
    schema = obj(flat={"type": "array", "items": {"type": "string"}},
                 nested={"type": "array", "items": {"type": "array", "items": {"type": "integer"}}})
    got = {f["name"]: f for f in bq(schema)}
    assert got["flat"] == {"mode": "REPEATED", "name": "flat", "type": "STRING"}
    assert got["nested"] == {"mode": "REPEATED", "name": "nested", "type": "RECORD",
                             "fields": [{"mode": "REPEATED", "name": "list", "type": "INT64"}]}


def test_tuples_become_records_of_positional_fields():
    schema = obj(t={"type": "array", "items": [{"type": "boolean"}, {"type": "string"}], "additionalItems": {"type": "integer"}, "maxItems": 3})
    assert [(f["name"], f["type"]) for f in bq(schema)[0]["fields"]] == [("_f0", "BOOL"), ("_f1", "STRING"), ("_f2", "INT64")]


def test_descriptions_and_titles_are_kept():
    got = bq(obj(a={"type": "integer", "title": "T", "description": "D"}, b={"type": "integer", "title": "T"}))
    assert [f["description"] for f in got] == ["T - D", "T"]


def test_dollar_properties_have_no_column():
    assert [f["name"] for f in bq(obj(**{"$schema": {"type": "string"}, "x": {"type": "string"}}))] == ["x"]


def test_empty_records_have_no_column():
    assert bq(obj(e={"type": "object", "properties": {}}, x={"type": "integer"})) == [
        {"mode": "NULLABLE", "name": "x", "type": "INT64"}]


def test_metadata_merge_overrides_and_appends_required():
    merged = merge_metadata({"properties": {"a": {"type": "string"}, "m": {"type": "integer"}}, "required": ["a"]},
                            {"properties": {"m": {"type": "string"}}, "required": ["m"]})
    assert merged["properties"]["m"] == {"type": "string"} and merged["required"] == ["a", "m"]


def test_an_array_of_maps_repeats_the_key_value_records():
    schema = obj(a={"type": "array", "items": {"type": "object", "additionalProperties": {"type": "integer"}}})
    assert bq(schema) == [{"mode": "REPEATED", "name": "a", "type": "RECORD", "fields": [
        {"mode": "NULLABLE", "name": "key", "type": "STRING"}, {"mode": "NULLABLE", "name": "value", "type": "INT64"}]}]


def test_a_collapsed_union_keeps_its_own_description_only():
    schema = obj(x={"oneOf": [{"type": "integer", "description": "member"}, {"type": "null"}]},
                 y={"description": "outer", "oneOf": [{"type": "integer", "description": "member"}, {"type": "null"}]})
    assert bq(schema) == [{"mode": "NULLABLE", "name": "x", "type": "INT64"},
                          {"description": "outer", "mode": "NULLABLE", "name": "y", "type": "INT64"}]
