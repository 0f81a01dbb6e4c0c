"""The registry finds every schema, validates with compiled validators, and rejects bad files loudly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pingpipe.schemas.registry import Registry, RegistryError, UnknownSchema

from ..fixtures import SHIPPED, VALIDATION, validation_docs

VALIDATION_DOCS = validation_docs()


@pytest.fixture(scope="module")
def registry(registry_root) -> Registry:
    return Registry.load(registry_root)


def test_loads_every_schema_of_the_test_repository(registry, registry_root):
    on_disk = list(registry_root.glob("*/*/*.schema.json"))
    assert len(registry) == len(on_disk) == 16  # 10 shipped, 6 of tests/fixtures/schemas


def test_looks_up_by_namespace_doctype_and_version(registry):
    entry = registry.get("eng-workflow", "hgpush", "1")
    assert entry.key == ("eng-workflow", "hgpush", 1)
    assert entry.bq_path is not None and entry.bq_path.name == "hgpush.1.bq"
    assert registry.get("news-reader", "impressions", 2).version == 2
    assert registry.get("glean", "glean-min", 1).doctype == "glean-min"  # a variant beside its base doctype


@pytest.mark.parametrize(
    "key, message",
    [
        (("nope", "x", 1), "unknown namespace 'nope'"),
        (("eng-workflow", "nope", 1), "unknown document type 'nope'"),
        (("eng-workflow", "hgpush", 7), "unknown version 7"),
        (("eng-workflow", "hgpush", "x"), "unknown version"),
    ],
)
def test_unknown_schemas_are_errors_never_guesses(registry, key, message):
    with pytest.raises(UnknownSchema, match=message):
        registry.get(*key)


def test_exposes_pipeline_metadata_and_keeps_unknown_keys(registry):
    meta = registry.get("news-reader", "story-events", 1).metadata
    assert meta.bq_dataset_family == "news_reader"
    assert meta.bq_table == "story_events_v1"
    assert meta.bq_metadata_format == "structured"
    assert meta.expiration_policy == {"delete_after_days": 180}
    assert meta["sample_id_source_uuid_attribute"] == "client_id"
    assert registry.get("pingpipe-demo", "baseline", 1).metadata.include_client_id is True


def test_live_table_comes_from_metadata_or_a_sanitised_fallback(registry, tmp_path):
    assert registry.get("eng-workflow", "hgpush", 1).live_table == "eng_workflow_live.hgpush_v1"
    folder = tmp_path / "my-app" / "some-ping"
    folder.mkdir(parents=True)
    (folder / "some-ping.3.schema.json").write_text(json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}))
    assert Registry.load(tmp_path).get("my-app", "some-ping", 3).live_table == "my_app_live.some_ping_v3"


def test_the_test_documents_cover_every_test_schema_both_ways(registry):
    assert len(VALIDATION_DOCS) == 30
    schemas = {(d.namespace, d.doctype, int(d.version)) for d in VALIDATION_DOCS}
    assert schemas == {
        e.key
        for e in registry
        if e.path.is_relative_to(registry.root / "eng-workflow") or e.path.is_relative_to(registry.root / "news-reader")
    } | {("glean", "glean", 1)}
    for key in schemas:
        assert {d.expected for d in VALIDATION_DOCS if (d.namespace, d.doctype, int(d.version)) == key} == {"pass", "fail"}, key


@pytest.mark.parametrize("doc", VALIDATION_DOCS, ids=lambda d: d.path.name)
def test_validation_documents_pass_or_fail_as_named(registry, doc):
    entry = registry.get(doc.namespace, doc.doctype, doc.version)
    assert entry.is_valid(doc.json()) == doc.passes


def test_validation_errors_say_what_is_wrong(registry):
    doc = json.loads((VALIDATION / "glean/glean.1.missing_os.fail.json").read_text())
    with pytest.raises(Exception) as info:
        registry.get("glean", "glean", 1).validate(doc)
    assert "required" in str(info.value)


def test_table_schema_prefers_the_bq_file_and_transpiles_otherwise(registry, tmp_path):
    entry = registry.get("eng-workflow", "hgpush", 1)
    assert registry.table_schema(entry) == json.loads(entry.bq_path.read_text())
    copy = tmp_path / "eng-workflow" / "hgpush"
    copy.mkdir(parents=True)
    shutil.copy(entry.path, copy)
    shutil.copytree(SHIPPED / "metadata", tmp_path / "metadata")
    fresh = Registry.load(tmp_path)
    assert fresh.table_schema(fresh.get("eng-workflow", "hgpush", 1)) == json.loads(entry.bq_path.read_text())


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


GOOD = json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"})


@pytest.mark.parametrize(
    "rel, text, problem",
    [
        ("ns/doc/doc.1.schema.json", "{not json", "invalid JSON"),
        ("ns/doc/doc.1.schema.json", json.dumps({"$schema": "http://json-schema.org/draft-03/schema#"}), "unknown or missing $schema"),
        ("ns/doc/doc.1.schema.json", json.dumps({"type": "object"}), "unknown or missing $schema"),
        ("ns/doc.1.schema.json", GOOD, "misplaced"),
        ("ns/doc/other.1.schema.json", GOOD, "does not match its folder"),
        ("ns/doc/doc.one.schema.json", GOOD, "integer version"),
        (
            "ns/doc/doc.1.schema.json",
            json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": 12}),
            "not a valid JSON schema",
        ),
        ("ns/doc/doc.2.bq", "[]", "without doc.2.schema.json"),
        ("ns/doc/doc.1.schema.json", "[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_schema_files_are_errors_naming_the_file(tmp_path, rel, text, problem):
    root = _repo(tmp_path, {"ok/fine/fine.1.schema.json": GOOD, rel: text})
    with pytest.raises(RegistryError) as info:
        Registry.load(root)
    assert len(info.value.errors) == 1
    error = info.value.errors[0]
    assert error.path == root / rel
    assert problem in str(error)


def test_every_bad_file_is_reported_at_once(tmp_path):
    root = _repo(tmp_path, {"a/x/x.1.schema.json": "{", "b/y/y.1.schema.json": "{", "c/z/z.1.schema.json": GOOD})
    with pytest.raises(RegistryError) as info:
        Registry.load(root)
    assert sorted(e.path.name for e in info.value.errors) == ["x.1.schema.json", "y.1.schema.json"]


def test_draft_06_and_07_schemas_are_supported(tmp_path):
    root = _repo(
        tmp_path,
        {
            "a/six/six.1.schema.json": json.dumps(
                {"$schema": "http://json-schema.org/draft-06/schema#", "type": "object", "properties": {"n": {"exclusiveMinimum": 3}}}
            ),
            "a/seven/seven.1.schema.json": json.dumps(
                {"$schema": "http://json-schema.org/draft-07/schema", "if": {"required": ["a"]}, "then": {"required": ["b"]}}
            ),
        },
    )
    registry = Registry.load(root)
    assert registry.get("a", "six", 1).is_valid({"n": 4}) and not registry.get("a", "six", 1).is_valid({"n": 3})
    assert not registry.get("a", "seven", 1).is_valid({"a": 1}) and registry.get("a", "seven", 1).is_valid({"a": 1, "b": 2})


def test_the_schemas_shipped_with_pingpipe_load(tmp_path):
    registry = Registry.load()
    assert ("glean", "glean", 1) in registry
    structured = registry.metadata_schema("structured")
    assert {"metadata", "sample_id", "submission_timestamp", "document_id", "additional_properties"} <= set(structured["properties"])
    assert "uri" in registry.metadata_schema("telemetry")["properties"]["metadata"]["properties"]
