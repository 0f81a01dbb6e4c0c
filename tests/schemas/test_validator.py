"""The ping validator gives the whole schema's verdict while checking each repeated name once."""

from __future__ import annotations

import copy
import json

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pingpipe.schemas.registry import Registry
from pingpipe.schemas.validator import PingValidator

from ..fixtures import GLEAN, SHIPPED, validation_docs

GLEAN_SCHEMA = json.loads((SHIPPED / "glean/glean/glean.1.schema.json").read_text())
GLEAN_BODIES = [json.loads(p.read_text()) for p in sorted(GLEAN.glob("*.json")) if p.name != "requests.json"]


def both(schema: dict, cls=jsonschema_rs.Draft7Validator) -> tuple[PingValidator, object]:
    return PingValidator(schema, cls), cls(schema)


def test_glean_metric_names_are_lifted_out_of_a_copy_of_the_schema():
    lifted, _ = both(GLEAN_SCHEMA)
    assert lifted.rest is not lifted.full
    assert ("metrics", "counter") in lifted.lifted
    assert "propertyNames" in GLEAN_SCHEMA["properties"]["metrics"]["properties"]["counter"]


@pytest.mark.parametrize("doc", validation_docs(), ids=lambda d: d.path.name)
def test_same_verdict_as_the_whole_schema_on_every_test_validation_document(doc, registry_root):
    entry = Registry.load(registry_root).get(doc.namespace, doc.doctype, doc.version)
    body = doc.json()
    assert entry.validator.is_valid(body) == entry.validator.full.is_valid(body) == doc.passes
    assert entry.validator.is_valid(body) == entry.validator.full.is_valid(body)  # again, with names remembered


def test_captured_glean_bodies_pass_and_a_bad_metric_name_fails_even_after_good_ones():
    lifted, full = both(GLEAN_SCHEMA)
    for body in GLEAN_BODIES * 2:
        assert lifted.is_valid(body) == full.is_valid(body)
    bad = copy.deepcopy(next(b for b in GLEAN_BODIES if b.get("metrics", {}).get("counter")))
    bad["metrics"]["counter"]["Not.A-Valid.Name"] = 1
    assert not full.is_valid(bad)
    assert not lifted.is_valid(bad)
    assert "Not.A-Valid.Name" not in lifted.lifted[("metrics", "counter")].good


names = st.one_of(
    st.sampled_from(["a.b", "glean.error", "x" * 112, "x" * 111, "1abc", "_ok", "a\n", "A.b", "a", "é.b"]),
    st.text(alphabet="abz_.-A0\n", min_size=0, max_size=6),
)
VALUES = {"counter": st.integers(0, 5), "quantity": st.integers(0, 5), "string": st.text(max_size=3), "boolean": st.booleans()}


@st.composite
def metrics(draw) -> dict:
    """Values of the right type, so that the names decide the verdict; now and then a non-object."""
    out = {kind: draw(st.dictionaries(names, values, max_size=4)) for kind, values in VALUES.items() if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        out["counter"] = draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=2)))
    return out


@settings(max_examples=300, deadline=None)
@given(metrics=metrics(), ping_info=st.one_of(st.none(), st.integers(), st.dictionaries(names, st.integers(), max_size=2)))
def test_same_verdict_as_the_whole_schema_for_any_metric_names(metrics, ping_info):
    lifted, full = VALIDATORS
    body = copy.deepcopy(GLEAN_BODIES[0])
    body["metrics"] = metrics
    if ping_info is not None:
        body["ping_info"] = ping_info
    for _ in range(2):  # the second time, good names come from memory
        assert lifted.is_valid(body) == full.is_valid(body)


VALIDATORS = both(GLEAN_SCHEMA)


def test_draft_04_has_no_property_names_so_nothing_is_lifted():
    schema = {"type": "object", "properties": {"m": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}}}
    lifted, full = both(schema, jsonschema_rs.Draft4Validator)
    assert lifted.lifted == {} and lifted.rest is lifted.full
    assert lifted.is_valid({"m": {"UPPER": 1}}) == full.is_valid({"m": {"UPPER": 1}})


@pytest.mark.parametrize(
    "schema",
    [
        # under additionalProperties the instance path is not fixed
        {"type": "object", "additionalProperties": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}},
        # a $ref could point into what would be lifted
        {
            "type": "object",
            "definitions": {"n": {"pattern": "^[a-z]+$"}},
            "properties": {"m": {"propertyNames": {"$ref": "#/definitions/n"}}},
        },
        # only under one branch of anyOf
        {"anyOf": [{"properties": {"m": {"propertyNames": {"pattern": "^[a-z]+$"}}}}, {"required": ["ok"]}]},
    ],
)
def test_names_that_do_not_apply_at_a_fixed_path_stay_in_the_schema(schema):
    lifted, full = both(schema)
    assert lifted.lifted == {} and lifted.rest is lifted.full
    for doc in ({"m": {"UPPER": 1}}, {"m": {"lower": 1}}, {"x": {"UPPER": 1}, "ok": 1}, {"m": {"UPPER": 1}, "ok": 1}):
        assert lifted.is_valid(doc) == full.is_valid(doc)


def test_errors_are_reported_by_the_whole_schema():
    lifted, _ = VALIDATORS
    body = copy.deepcopy(GLEAN_BODIES[0])
    body["metrics"] = {"counter": {"Bad Name": 1}}
    assert not lifted.is_valid(body)
    errors = list(lifted.iter_errors(body))
    assert errors and "Bad Name" in errors[0].message


def test_names_at_the_root_and_deep_down_are_lifted_with_the_same_verdict():
    schema = {
        "type": "object",
        "propertyNames": {"pattern": "^[a-z]+$"},
        "properties": {"a": {"properties": {"b": {"properties": {"c": {"propertyNames": {"maxLength": 2}}}}}}},
    }
    lifted, full = both(schema)
    assert set(lifted.lifted) == {(), ("a", "b", "c")}
    docs = [
        {"a": {"b": {"c": {"xy": 1}}}},
        {"a": {"b": {"c": {"xyz": 1}}}},
        {"A": 1},
        {"a": 1},
        {"a": {"b": []}},
        {"a": {"b": {"c": "not an object"}}},
        {"a": {"b": {"c": {"é": 1, "ok": 2}}}},
        [],
    ]
    for doc in docs * 2:
        assert lifted.is_valid(doc) == full.is_valid(doc), doc
