"""Rules of Mozilla's pipeline that real data exercises: legacy `v` versions, document ids in
either case, gzip bodies of several members, integers beyond 64 bits, the pipeline's metadata."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig, Failure
from pingpipe.loader.coerce import Coercer
from pingpipe.loader.load import Loader
from pingpipe.message import RawMessage
from pingpipe.schemas.registry import Registry
from tests.fixtures.demo import demo_ping

# Legacy telemetry pings that carry their version in a top-level `v` (gcp-ingestion's ParsePayload
# reads `version`, else `v`): (doctype, v).
V_PINGS = [
    ("core", 9),
    ("core", 10),
    ("mobile-event", 1),
    ("focus-event", 1),
    ("mobile-metrics", 1),
    ("installation", 1),
    ("frecency-update", 1),
]
DEMO_PING = demo_ping()


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory) -> Decoder:
    """A registry of permissive telemetry schemas, one per legacy `v` ping (MPS layout)."""
    root = tmp_path_factory.mktemp("schemas")
    for doctype, version in V_PINGS + [("main", 4)]:
        folder = root / "telemetry" / doctype
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{doctype}.{version}.schema.json").write_text(
            json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"})
        )
    return Decoder.from_config(DecoderConfig(schemas=root))


def telemetry_message(doctype: str, payload: dict) -> RawMessage:
    return RawMessage(
        json.dumps(payload).encode(),
        {
            "uri": f"/submit/telemetry/{uuid.uuid4()}/{doctype}/Fennec/68.0/release/20190101000000",
            "submission_timestamp": "2026-11-23T10:00:00.000000Z",
        },
    )


def demo_message(body: bytes, doc_id: str | None = None) -> RawMessage:
    return RawMessage(
        body, {"uri": f"/submit/pingpipe-demo/hello/1/{doc_id or uuid.uuid4()}", "submission_timestamp": "2026-11-23T10:00:00.000000Z"}
    )


@pytest.fixture(scope="module")
def demo() -> Decoder:
    return Decoder.from_config(DecoderConfig())


@pytest.mark.parametrize("doctype, v", V_PINGS)
def test_a_legacy_telemetry_ping_with_its_version_in_v_finds_its_schema(telemetry, doctype, v):
    result = telemetry.decode(telemetry_message(doctype, {"v": v, "clientId": "c"}))
    assert isinstance(result, Decoded), result.message.attributes.get("error_message")
    assert result.attributes["document_version"] == str(v)


def test_version_comes_before_v_and_only_a_plain_value_counts(telemetry):
    assert telemetry.decode(telemetry_message("main", {"version": 4, "v": 9})).attributes["document_version"] == "4"
    assert telemetry.decode(telemetry_message("core", {"version": {"x": 1}, "v": 10})).attributes["document_version"] == "10"
    missing = telemetry.decode(telemetry_message("core", {"clientId": "c"}))
    assert isinstance(missing, Failure) and "'version' or 'v'" in missing.message.attributes["error_message"]


def test_a_document_id_in_upper_case_is_lowercased_for_dedupe_tables_and_errors(demo):
    doc = str(uuid.uuid4())
    good = demo.decode(demo_message(json.dumps(DEMO_PING).encode(), doc.upper()))
    bad = demo.decode(demo_message(b"{not json", doc.upper()))
    assert good.attributes["document_id"] == good.payload["document_id"] == doc
    assert bad.message.attributes["document_id"] == doc


def test_every_member_of_a_gzip_body_is_decompressed_and_trailing_bytes_are_refused(demo):
    text = json.dumps(DEMO_PING).encode()
    half = len(text) // 2
    two = demo.decode(demo_message(gzip.compress(text[:half]) + gzip.compress(text[half:])))
    assert isinstance(two, Decoded) and two.payload["client_info"] == DEMO_PING["client_info"]
    body = gzip.compress(text) + b"trailing"
    refused = demo.decode(demo_message(body))
    assert isinstance(refused, Failure) and refused.error_type == "DecompressPayload"
    assert refused.message.data == body  # the whole body, for the error table


@pytest.mark.parametrize(
    "literal", ["9223372036854775808", "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890"]
)
def test_a_counter_beyond_int64_is_null_and_kept_exactly_in_additional_properties(demo, literal):
    """Mozilla's sink: a value INT64 cannot hold has no coercion, so it goes to additional_properties."""
    body = json.dumps({**DEMO_PING, "metrics": {"counter": {"demo.launches": "N"}}}).encode().replace(b'"N"', literal.encode())
    decoded = demo.decode(demo_message(body))
    assert isinstance(decoded, Decoded)
    table, fields, row = Loader(demo.registry).row(decoded.to_message().data, decoded.attributes)
    assert row["metrics"]["counter"].get("demo_launches") is None
    assert f'"demo.launches":{literal}' in row["additional_properties"]  # the digits as sent, never a float


def test_no_pipeline_field_ends_in_additional_properties(demo):
    decoded = demo.decode(demo_message(json.dumps(DEMO_PING).encode()))
    fields = Registry.load(None).table_schema(demo.registry.get("pingpipe-demo", "hello", "1"))
    assert decoded.payload["metadata"]["document_namespace"] == "pingpipe-demo"  # kept in the decoded message
    assert "additional_properties" not in Coercer(fields)(decoded.payload)
