"""Every validation document of mozilla-pipeline-schemas gets Mozilla's verdict from pingpipe: the registry,
the validator (with names lifted out), `pingpipe schemas check`, and the loader's coercion keeps their data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pingpipe.loader.coerce import Coercer
from pingpipe.schemas.registry import Registry
from pingpipe.schemas.transpile import column_name

from .data import files

VALIDATION_DOCS = files("mps/validation", "*/*.json")
PINGPIPE = Path(sys.executable).with_name("pingpipe")


@pytest.fixture(scope="module")
def registry(mps_schemas) -> Registry:
    return Registry.load(mps_schemas)


def test_loads_every_schema_of_the_mps_fixtures(registry, mps_schemas):
    on_disk = list(mps_schemas.glob("*/*/*.schema.json"))
    assert len(registry) == len(on_disk) == 31


@pytest.mark.parametrize("doc", VALIDATION_DOCS, ids=lambda p: p.name)
def test_validation_documents_pass_or_fail_as_named(registry, doc: Path):
    doctype, version, _case, expected, _ = doc.name.rsplit(".", 4)
    entry = registry.get(doc.parent.name, doctype, version)
    assert entry.is_valid(json.loads(doc.read_text())) == (expected == "pass")


def test_validation_errors_say_what_is_wrong(registry, mps_validation):
    doc = json.loads((mps_validation / "glean/glean.1.events_session_missing_required.fail.json").read_text())
    with pytest.raises(Exception) as info:
        registry.get("glean", "glean", 1).validate(doc)
    assert "required" in str(info.value)


@pytest.mark.parametrize("doc", VALIDATION_DOCS, ids=lambda p: p.name)
def test_same_verdict_as_the_whole_schema_on_every_mps_validation_document(registry, doc: Path):
    entry = registry.get(doc.parent.name, *doc.name.rsplit(".", 4)[:2])
    body = json.loads(doc.read_text())
    assert entry.validator.is_valid(body) == entry.validator.full.is_valid(body) == doc.name.endswith(".pass.json")
    assert entry.validator.is_valid(body) == entry.validator.full.is_valid(body)  # again, with names remembered


@pytest.mark.system
def test_check_runs_the_validation_documents(mps_schemas, mps_validation):
    result = subprocess.run(
        [str(PINGPIPE), "schemas", "check", str(mps_schemas), "--validation", str(mps_validation)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "49/49 validation document(s) as expected" in result.stdout


def test_mps_validation_documents_coerce_without_losing_data(registry, mps_validation):
    for path in mps_validation.glob("*/*.pass.json"):
        doctype, version, *_ = path.name.split(".")
        entry = registry.get(path.parent.name, doctype, version)
        payload = json.loads(path.read_text())
        fields = registry.table_schema(entry)
        if not any(f["name"] == "additional_properties" for f in fields):
            continue  # e.g. the generic glean schema: no table is made from it as is
        row = Coercer(fields)(payload)
        placed = set(row) - {"additional_properties"}
        leftovers = set(json.loads(row.get("additional_properties", "{}")))
        assert {column_name(k) for k in payload if payload[k] is not None} <= placed | {column_name(k) for k in leftovers}, path.name
