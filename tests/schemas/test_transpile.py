"""The transpiler's rules, one by one, and the test schemas' .bq files (Mozilla's: the conformance layer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pingpipe.schemas.build import bq_for_file
from pingpipe.schemas.transpile import MOZILLA, Options, TranspileError, merge_metadata, transpile

from ..fixtures import SCHEMAS

# The test schemas' .bq files, as `pingpipe schemas build` wrote them (Mozilla's own: tests/conformance/test_mps_bq.py).
PAIRS = sorted(SCHEMAS.glob("*/*/*.bq"))


def test_every_test_schema_has_its_bq():
    assert len(PAIRS) == len(list(SCHEMAS.glob("*/*/*.schema.json"))) == 6


@pytest.mark.parametrize("bq_path", PAIRS, ids=lambda p: "/".join(p.parts[-3:]))
def test_transpiler_reproduces_the_committed_bq_of_each_test_schema(bq_path: Path):
    schema_path = bq_path.with_name(bq_path.name[: -len(".bq")] + ".schema.json")
    got = bq_for_file(schema_path, SCHEMAS)
    assert got == json.loads(bq_path.read_text())


def bq(schema: dict, **options) -> list[dict]:
    return transpile(schema, Options(**options) if options else MOZILLA)


def obj(**props) -> dict:
    return {"type": "object", "properties": props}


def test_atoms_map_to_bigquery_types_and_everything_is_nullable():
    got = bq(
        obj(
            b={"type": "boolean"},
            i={"type": "integer"},
            n={"type": "number"},
            s={"type": "string"},
            t={"type": "string", "format": "date-time"},
            y={"type": "string", "format": "bytes"},
        )
    )
    assert [(f["name"], f["type"], f["mode"]) for f in got] == [
        ("b", "BOOL", "NULLABLE"),
        ("i", "INT64", "NULLABLE"),
        ("n", "FLOAT64", "NULLABLE"),
        ("s", "STRING", "NULLABLE"),
        ("t", "TIMESTAMP", "NULLABLE"),
        ("y", "BYTES", "NULLABLE"),
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
    assert got == [
        {
            "description": "d",
            "mode": "REPEATED",
            "name": "m",
            "type": "RECORD",
            "fields": [{"mode": "NULLABLE", "name": "key", "type": "STRING"}, {"mode": "NULLABLE", "name": "value", "type": "INT64"}],
        }
    ]


def test_pattern_properties_are_maps_too():
    got = bq(obj(m={"type": "object", "additionalProperties": False, "patternProperties": {"^[0-9]+$": {"type": "integer"}}}))
    assert got[0]["mode"] == "REPEATED" and got[0]["fields"][1]["type"] == "INT64"


def test_nullable_type_lists_collapse_to_the_non_null_type():
    assert bq(obj(x={"type": ["null", "integer"]}))[0]["type"] == "INT64"
    assert bq(obj(x={"type": ["integer", "number"]}))[0]["type"] == "FLOAT64"


def test_incompatible_unions_are_dropped_under_mozillas_drop_resolution():
    schema = obj(
        keep={"type": "string"},
        mixed={"type": ["string", "integer"]},
        any_of={"oneOf": [{"type": "boolean"}, obj(a={"type": "integer"})]},
        empty={},
    )
    assert [f["name"] for f in bq(schema)] == ["keep"]


def test_incompatible_unions_are_json_strings_under_cast_resolution():
    schema = obj(mixed={"type": ["string", "integer"]}, any_of={"anyOf": [{"type": "boolean"}, {"type": "integer"}]}, empty={})
    got = bq(schema, resolve="cast")
    assert {f["name"]: f["type"] for f in got} == {"any_of": "STRING", "empty": "STRING", "mixed": "STRING"}


def test_panic_resolution_raises_on_an_unrepresentable_field():
    with pytest.raises(TranspileError):
        bq(obj(empty={}), resolve="panic")


def test_json_object_path_regex_makes_a_json_column():
    schema = {
        **obj(metrics=obj(object=obj(thing={"type": ["object", "array"], "items": {"format": "json"}}))),
        "mozPipelineMetadata": {"json_object_path_regex": r"metrics\.object\..*"},
    }
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


def test_all_of_and_any_of_alone_are_under_specified():
    """The reference reads neither; MPS relies on it to keep sections out of BigQuery (new-profile's `processes`)."""
    schema = obj(
        x={"allOf": [obj(a={"type": "integer"}), {"properties": {"b": {"type": "string"}}}]},
        y={"anyOf": [obj(a={"type": "integer"}), obj(a={"type": "integer"})]},
        z={**obj(a={"type": "integer"}), "anyOf": [{"required": ["a"]}]},
    )
    assert [f["name"] for f in bq(schema)] == ["z"]
    assert {f["name"]: f["type"] for f in bq(schema, resolve="cast")} == {"x": "STRING", "y": "STRING", "z": "RECORD"}


def test_arrays_are_repeated_and_arrays_of_arrays_nest_through_list_records():
    schema = obj(
        flat={"type": "array", "items": {"type": "string"}},
        nested={"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    )
    got = {f["name"]: f for f in bq(schema)}
    assert got["flat"] == {"mode": "REPEATED", "name": "flat", "type": "STRING"}
    assert got["nested"] == {
        "mode": "REPEATED",
        "name": "nested",
        "type": "RECORD",
        "fields": [{"mode": "REPEATED", "name": "list", "type": "INT64"}],
    }


def test_tuples_become_records_of_positional_fields_named_like_bigquerys_anonymous_columns():
    schema = obj(
        t={"type": "array", "items": [{"type": "boolean"}, {"type": "string"}], "additionalItems": {"type": "integer"}, "maxItems": 3}
    )
    assert [(f["name"], f["type"]) for f in bq(schema)[0]["fields"]] == [("f0_", "BOOL"), ("f1_", "STRING"), ("f2_", "INT64")]


def test_tuple_items_past_min_items_and_additional_items_are_optional():
    schema = obj(
        t={
            "type": "array",
            "items": [{"type": "boolean"}, {"type": "string"}],
            "minItems": 1,
            "additionalItems": {"type": "integer"},
            "maxItems": 3,
        }
    )
    got = bq({**schema, "required": ["t"]}, force_nullable=False)
    assert got[0]["mode"] == "REQUIRED"
    assert [(f["name"], f["mode"]) for f in got[0]["fields"]] == [("f0_", "REQUIRED"), ("f1_", "NULLABLE"), ("f2_", "NULLABLE")]


def test_tuple_fields_are_sorted_by_name_as_the_reference_sorts_them():
    schema = obj(t={"type": "array", "items": [{"type": "integer"}] * 11, "additionalItems": False})
    assert [f["name"] for f in bq(schema)[0]["fields"]] == ["f0_", "f10_", *(f"f{i}_" for i in range(1, 10))]


def test_a_tuple_with_an_unrepresentable_item_is_dropped_whole():
    schema = obj(t={"type": "array", "items": [{"type": "integer"}, {}], "additionalItems": False})
    assert bq(schema) == []
    assert [f["type"] for f in bq(schema, resolve="cast")[0]["fields"]] == ["INT64", "STRING"]


def test_tuples_are_json_without_tuple_struct():
    schema = obj(t={"type": "array", "items": [{"type": "integer"}], "additionalItems": False})
    assert bq(schema, tuple_struct=False) == []
    assert bq(schema, tuple_struct=False, resolve="cast") == [{"mode": "NULLABLE", "name": "t", "type": "STRING"}]


def test_a_root_tuple_gives_its_positional_fields_as_columns():
    schema = {"type": "array", "items": [{"type": "integer"}, {"type": "string"}], "maxItems": 2}
    assert [f["name"] for f in bq(schema)] == ["f0_", "f1_"]


# (union member schemas, column type or None when the union is incompatible and dropped)
UNION_RULES = {
    "integer and number make a number": ([{"type": "integer"}, {"type": "number"}], "FLOAT64"),
    "boolean and integer do not combine": ([{"type": "boolean"}, {"type": "integer"}], None),
    "string and integer do not combine": ([{"type": "string"}, {"type": "integer"}], None),
    "a null member only makes it nullable": ([{"type": "boolean"}, {"type": "null"}], "BOOL"),
    "two date-times do not combine": ([{"type": "string", "format": "date-time"}] * 2, None),
    "a lone date-time with null stays a timestamp": ([{"type": "string", "format": "date-time"}, {"type": "null"}], "TIMESTAMP"),
    "an atom and an object do not combine": ([{"type": "integer"}, obj(a={"type": "integer"})], None),
    "objects merge field by field": ([obj(a={"type": "integer"}), obj(b={"type": "string"})], "RECORD"),
    "objects with a conflicting field do not combine": ([obj(a={"type": "integer"}), obj(a={"type": "boolean"})], None),
    "a conflict deep down invalidates the whole union": (
        [obj(n=obj(a={"type": "string"}, b={"type": "integer"})), obj(n=obj(a={"type": "boolean"}))],
        None,
    ),
    "an under-specified field in one shape invalidates the union": ([obj(a={"type": "integer"}, e={}), obj(b={"type": "string"})], None),
    "arrays merge their items": (
        [{"type": "array", "items": {"type": "integer"}}, {"type": "array", "items": {"type": "number"}}],
        "FLOAT64",
    ),
    "maps merge their values": (
        [{"type": "object", "additionalProperties": {"type": "integer"}}, {"type": "object", "additionalProperties": {"type": "string"}}],
        None,
    ),
}


@pytest.mark.parametrize("members, expected", UNION_RULES.values(), ids=UNION_RULES.keys())
def test_one_of_collapses_like_mozillas_transpiler(members, expected):
    for union in ({"oneOf": members}, {"type": "object", "oneOf": members}):
        assert {f["name"]: f["type"] for f in bq(obj(keep={"type": "string"}, x=union))}.get("x") == expected


def test_descriptions_and_titles_are_kept():
    got = bq(obj(a={"type": "integer", "title": "T", "description": "D"}, b={"type": "integer", "title": "T"}))
    assert [f["description"] for f in got] == ["T - D", "T"]


def test_dollar_properties_have_no_column():
    assert [f["name"] for f in bq(obj(**{"$schema": {"type": "string"}, "x": {"type": "string"}}))] == ["x"]


def test_empty_records_have_no_column():
    assert bq(obj(e={"type": "object", "properties": {}}, x={"type": "integer"})) == [{"mode": "NULLABLE", "name": "x", "type": "INT64"}]


def test_metadata_merge_overrides_and_appends_required():
    merged = merge_metadata(
        {"properties": {"a": {"type": "string"}, "m": {"type": "integer"}}, "required": ["a"]},
        {"properties": {"m": {"type": "string"}}, "required": ["m"]},
    )
    assert merged["properties"]["m"] == {"type": "string"} and merged["required"] == ["a", "m"]


def test_an_array_of_maps_repeats_the_key_value_records():
    schema = obj(a={"type": "array", "items": {"type": "object", "additionalProperties": {"type": "integer"}}})
    assert bq(schema) == [
        {
            "mode": "REPEATED",
            "name": "a",
            "type": "RECORD",
            "fields": [{"mode": "NULLABLE", "name": "key", "type": "STRING"}, {"mode": "NULLABLE", "name": "value", "type": "INT64"}],
        }
    ]


def test_a_collapsed_union_keeps_its_own_description_only():
    schema = obj(
        x={"oneOf": [{"type": "integer", "description": "member"}, {"type": "null"}]},
        y={"description": "outer", "oneOf": [{"type": "integer", "description": "member"}, {"type": "null"}]},
    )
    assert bq(schema) == [
        {"mode": "NULLABLE", "name": "x", "type": "INT64"},
        {"description": "outer", "mode": "NULLABLE", "name": "y", "type": "INT64"},
    ]


def test_property_names_become_valid_bigquery_names_even_without_case_normalization():
    schema = obj(
        **{
            "x.y": {"type": "string"},
            "k-1": {"type": "string"},
            "64bit": {"type": "string"},
            "e f": {"type": "string"},
            "$schema": {"type": "string"},
            "camelCase": {"type": "string"},
        }
    )
    assert [f["name"] for f in bq(schema, normalize_case=False)] == ["_64bit", "camelCase", "k_1", "x_y"]
    assert [f["name"] for f in bq(schema)] == ["_64bit", "camel_case", "k_1", "x_y"]


def test_required_names_are_renamed_with_their_properties():
    schema = {**obj(**{"fooBar": {"type": "integer"}, "x.y": {"type": "integer"}}), "required": ["fooBar", "x.y"]}
    assert {f["name"]: f["mode"] for f in bq(schema, force_nullable=False)} == {"foo_bar": "REQUIRED", "x_y": "REQUIRED"}


def test_descriptions_are_cut_to_bigquerys_limit_of_1024_characters():
    assert bq(obj(a={"type": "integer", "description": "d" * 2000}))[0]["description"] == "d" * 1024


def test_json_object_path_regex_matches_from_the_start_of_the_dotted_path():
    json_value = {"type": ["object", "array"], "items": {}}
    schema = obj(metrics=obj(object=obj(thing=json_value)), arr={"type": "array", "items": obj(j=json_value)})
    paths = {r"metrics\.object\..*": ["metrics"], r"object\..*": [], r"arr\.list\.j": ["arr"]}
    for regex, columns in paths.items():
        assert [f["name"] for f in bq(schema, json_object_path_regex=regex)] == columns, regex


def test_the_schemas_own_json_object_path_regex_wins_over_the_option():
    schema = {**obj(a={}), "mozPipelineMetadata": {"json_object_path_regex": "a"}}
    assert bq(schema, json_object_path_regex="b") == [{"mode": "NULLABLE", "name": "a", "type": "JSON"}]


def test_a_map_whose_value_is_dropped_is_dropped_unless_maps_without_value_are_allowed():
    schema = obj(m={"type": "object", "additionalProperties": {}})
    assert bq(schema) == []
    assert bq(schema, allow_maps_without_value=True) == [
        {"fields": [{"mode": "NULLABLE", "name": "key", "type": "STRING"}], "mode": "REPEATED", "name": "m", "type": "RECORD"}
    ]


def test_pattern_property_values_are_a_union_so_they_keep_no_description():
    value = {"type": "integer", "description": "v"}
    by_pattern = bq(obj(m={"type": "object", "patternProperties": {".+": value}}))
    by_additional = bq(obj(m={"type": "object", "additionalProperties": value}))
    assert "description" not in by_pattern[0]["fields"][1] and by_additional[0]["fields"][1]["description"] == "v"


def test_a_format_applies_only_to_a_lone_string_type():
    schema = obj(a={"type": "string", "format": "date-time"}, b={"type": ["string", "null"], "format": "date-time"})
    assert {f["name"]: f["type"] for f in bq(schema)} == {"a": "TIMESTAMP", "b": "STRING"}


def test_an_unknown_resolution_method_is_refused():
    with pytest.raises(ValueError):
        Options(resolve="ignore")
