"""Every BigQuery case of Mozilla's jsonschema-transpiler suite holds for pingpipe's transpiler.

The suites (jsonschema-transpiler/ of the conformance data) are the reference's own tests. Its harness runs
each case with `Context::default()` (resolve `cast`, no case normalization, no forced nullability, no
tuple structs) overlaid with the case's `context`, compares the BigQuery output, and then runs it
again with resolve `panic`: an incompatible case must panic, a compatible one must not. This test
does the same with pingpipe's `Options`.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from pingpipe.schemas.transpile import Options, TranspileError, transpile

from .data import files

SUITES = files("jsonschema-transpiler", "*.json")

# The reference's Context::default(), which its harness starts every case from.
REFERENCE_DEFAULTS = Options(resolve="cast", normalize_case=False, force_nullable=False, tuple_struct=False)

# Cases that cannot apply to pingpipe, each with the specific reason.
NOT_APPLICABLE = {
    "json_column/test_json_object_no_avro_support": (
        "its `bigquery` is the placeholder string 'no schema -- we need it to panic': the case pins the "
        "Avro output of a JSON column (Avro has no JSON type) and passes in the reference only because "
        "comparing a schema with that string fails; pingpipe writes no Avro"
    ),
}

# The reference's context keys and resolve-method names, as pingpipe's option values.
RESOLVE = {"Cast": "cast", "Drop": "drop", "Panic": "panic"}


def _options(context: dict | None) -> Options:
    overrides = dict(context or {})
    if "resolve_method" in overrides:
        overrides["resolve"] = RESOLVE[overrides.pop("resolve_method")]
    return dataclasses.replace(REFERENCE_DEFAULTS, **overrides)


def _cases() -> list:
    params = []
    for path in SUITES:
        for case in json.loads(path.read_text())["tests"]:
            case_id = f"{path.stem}/{case['name']}"
            marks = [pytest.mark.skip(reason=NOT_APPLICABLE[case_id])] if case_id in NOT_APPLICABLE else []
            params.append(pytest.param(case, id=case_id, marks=marks))
    return params


CASES = _cases()


def test_every_reference_suite_is_collected():
    assert {p.id.split("/")[0] for p in CASES} == {p.stem for p in SUITES}
    assert len(CASES) >= 38
    assert set(NOT_APPLICABLE) <= {p.id for p in CASES}


@pytest.mark.parametrize("case", CASES)
def test_reference_case_becomes_the_same_bigquery_schema(case):
    test = case["test"]
    assert transpile(test["json"], _options(test.get("context"))) == test["bigquery"]


@pytest.mark.parametrize("case", CASES)
def test_only_incompatible_reference_cases_fail_under_panic_resolution(case):
    options = dataclasses.replace(_options(case["test"].get("context")), resolve="panic")
    if case["compatible"]:
        transpile(case["test"]["json"], options)
    else:
        with pytest.raises(TranspileError):
            transpile(case["test"]["json"], options)
