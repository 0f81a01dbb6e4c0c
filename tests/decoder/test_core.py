"""The decoder core on the test documents, captured Glean pings and bad input (on Mozilla's test data:
tests/conformance/test_decoder_integration.py)."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib

import orjson
import pytest

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig, Failure
from pingpipe.message import RawMessage

from ..fixtures import GLEAN, validation_docs


@pytest.fixture(scope="module")
def decoder(registry_root, geoip_db):
    return Decoder.from_config(DecoderConfig(schemas=registry_root, geoip_db=geoip_db))


def out(result) -> RawMessage:
    return result.to_message() if isinstance(result, Decoded) else result.message


@pytest.mark.parametrize("doc", validation_docs(), ids=lambda d: d.path.name)
def test_validation_documents_sent_as_raw_messages(decoder, doc):
    namespace, doctype, version, expected = doc.namespace, doc.doctype, doc.version, doc.expected
    message = RawMessage(
        gzip.compress(doc.body()),
        {
            "uri": f"/submit/{namespace}/{doctype}/{version}/{uuid.uuid4()}",
            "submission_timestamp": "2026-11-23T10:00:00.000000Z",
            "remote_addr": "81.2.69.160",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        },
    )
    result = decoder.decode(message)
    if expected == "pass":
        assert isinstance(result, Decoded), result.message.attributes.get("error_message")
        assert result.table == decoder.registry.get(namespace, doctype, version).live_table
        assert result.payload["metadata"]["geo"]["country"] == "GB"
        assert result.payload["submission_timestamp"] == "2026-11-23T10:00:00.000000Z"
    else:
        assert isinstance(result, Failure) and result.error_type == "ParsePayload"
    attrs = out(result).attributes
    assert not {"remote_addr", "x_forwarded_for", "user_agent"} & set(attrs)


def raw(data: bytes, uri: str | None = None, **attrs) -> RawMessage:
    return RawMessage(
        data,
        {"uri": uri or f"/submit/eng-workflow/hgpush/1/{uuid.uuid4()}", "remote_addr": "81.2.69.160", "user_agent": "curl/8.0", **attrs},
    )


GOOD = b'{"changesetID": "0123456789abcdef0123456789abcdef01234567", "reviewSystemUsed": "phabricator", "repository": "r"}'


@pytest.mark.parametrize(
    "name, message, error_type, text",
    [
        ("empty body", raw(b""), "ParsePayload", "invalid JSON"),
        ("truncated gzip", raw(gzip.compress(GOOD)[:-10]), "DecompressPayload", "truncated"),
        ("gzip bomb", raw(gzip.compress(b" " * (50 * 1024 * 1024))), "DecompressPayload", "more than"),
        ("invalid UTF-8", raw(b'{"changesetID": "\xff"}'), "ParsePayload", "invalid JSON"),
        ("deeply nested", raw(b'{"a":' * 3000 + b"1" + b"}" * 3000), "ParsePayload", "invalid JSON"),
        ("9 MB payload", raw(b'{"a": "' + b"x" * (9 * 1024 * 1024) + b'"}'), "DecompressPayload", "limit"),
        ("unknown namespace", raw(GOOD, f"/submit/nope/hgpush/1/{uuid.uuid4()}"), "ParsePayload", "unknown namespace"),
        ("unknown doctype", raw(GOOD, f"/submit/eng-workflow/nope/1/{uuid.uuid4()}"), "ParsePayload", "unknown document type"),
        ("unknown version", raw(GOOD, f"/submit/eng-workflow/hgpush/9/{uuid.uuid4()}"), "ParsePayload", "unknown version"),
        ("too few URI parts", raw(GOOD, "/submit/eng-workflow/hgpush/1"), "ParseUri", "path elements"),
        ("too many URI parts", raw(GOOD, f"/submit/eng-workflow/hgpush/1/{uuid.uuid4()}/x"), "ParseUri", "path elements"),
        ("schema violation", raw(b'{"changesetID": 5}'), "ParsePayload", "is a required property"),
    ],
)
def test_bad_input_ends_in_the_error_output_with_its_step(decoder, name, message, error_type, text):
    result = decoder.decode(message)
    assert isinstance(result, Failure), name
    attrs = result.message.attributes
    assert attrs["error_type"] == error_type
    assert text in attrs["error_message"]
    assert attrs["exception_class"] and attrs["stack_trace"]
    assert result.message.data == message.data  # the original bytes, for backfill
    assert not {"remote_addr", "x_forwarded_for", "user_agent"} & set(attrs)


def test_a_good_ping_is_decoded_with_metadata(decoder):
    message = raw(gzip.compress(GOOD), submission_timestamp="2026-11-23T10:00:00.000000Z", date="Mon", dnt="1")
    result = decoder.decode(message)
    assert isinstance(result, Decoded)
    payload = orjson.loads(result.to_message().data)
    assert payload["changesetID"] == "0123456789abcdef0123456789abcdef01234567"
    assert payload["metadata"]["header"] == {"date": "Mon", "dnt": "1"}
    assert payload["metadata"]["user_agent"] == {}  # curl is not on Mozilla's list of browsers
    assert payload["metadata"]["document_type"] == "hgpush"
    assert result.table == "eng_workflow_live.hgpush_v1"
    assert result.attributes["client_compression"] == "gzip"
    assert "curl/8.0" not in json.dumps([payload, result.attributes])
    assert "81.2.69.160" not in json.dumps([payload, result.attributes])


def test_glean_pings_captured_from_the_sdk_decode(tmp_path, geoip_db):
    from click.testing import CliRunner

    from pingpipe.cli import main

    glean = GLEAN
    result = CliRunner().invoke(
        main,
        [
            "schemas",
            "glean",
            "--app-id",
            "Org.Demo_App",
            "--metrics",
            str(glean / "metrics.yaml"),
            "--pings",
            str(glean / "pings.yaml"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    decoder = Decoder.from_config(DecoderConfig(schemas=tmp_path, geoip_db=geoip_db))
    requests = json.loads((glean / "requests.json").read_text())
    assert requests
    for request in requests:
        path, ping = request["path"], request["doctype"]
        body = (glean / request["file"]).read_bytes()
        headers = {k.lower().replace("-", "_"): v for k, v in request["headers"].items()}
        attrs = {
            "uri": path,
            "remote_addr": "81.2.69.160",
            **{k: headers[k] for k in ("date", "x_telemetry_agent", "x_source_tags", "x_debug_id") if k in headers},
        }
        result = decoder.decode(RawMessage(gzip.compress(body), attrs))
        assert isinstance(result, Decoded), (ping, result.message.attributes.get("error_message"))
        assert result.table == f"org_demo_app_live.{ping.replace('-', '_')}_v1"
        client_id = json.loads(body).get("client_info", {}).get("client_id")
        if client_id:
            assert result.payload["sample_id"] == zlib.crc32(client_id.encode()) % 100
        assert result.payload["metadata"]["header"]["x_telemetry_agent"].startswith("Glean/")


def test_the_raw_test_messages_decode_to_rows_with_geo_and_errors_with_their_step(decoder):
    from ..fixtures import geoip, raw

    rows = [decoder.decode(m) for m in raw.VALID]
    assert all(isinstance(r, Decoded) for r in rows), [r.message.attributes for r in rows if not isinstance(r, Decoded)]
    attrs = [r.to_message().attributes for r in rows]
    assert [a["document_id"] for a in attrs] == [m.attributes["uri"].rsplit("/", 1)[1] for m in raw.VALID]
    assert [r.table for r in rows] == ["eng_workflow_live.hgpush_v1"] * 3 + ["news_reader_live.story_events_v1"]
    assert [a.get("geo_country") for a in attrs] == [None, "GB", "GB", "GB"]  # X-Forwarded-For's entry, or remote_addr
    assert attrs[1]["geo_city"] == "London" and attrs[1]["geo_db_version"] == geoip.DB_VERSION
    assert [a.get("client_compression") for a in attrs] == [None, None, "gzip", "gzip"]
    assert [a["host"] for a in attrs] == [m.attributes["host"] for m in raw.VALID]
    assert rows[3].payload["metadata"]["user_agent"]["browser"] == "Firefox"
    errors = [decoder.decode(m) for m in raw.ERRORS]
    assert [e.error_type for e in errors] == ["ParseUri", "ParsePayload"]
    assert [e.message.data for e in errors] == [m.data for m in raw.ERRORS]  # the original bytes
    text = json.dumps([[r.payload, a] for r, a in zip(rows, attrs, strict=True)] + [e.message.attributes for e in errors])
    assert "81.2.69.160" not in text and "10.0.0.1" not in text and "rv:120.0" not in text


@pytest.mark.parametrize("hops, country", [(2, "GB"), (3, None)])
def test_the_configured_front_door_says_which_forwarded_address_is_the_clients(registry_root, geoip_db, hops, country):
    """Behind Google's HTTPS load balancer alone (2), a client's own X-Forwarded-For entry is passed
    over for the one the balancer appended; Mozilla's default (3) would take the client's claim."""
    from tests.fixtures.demo import demo_ping

    decoder = Decoder.from_config(DecoderConfig(schemas=registry_root, geoip_db=geoip_db, forwarded_hops=hops))
    message = RawMessage(
        json.dumps(demo_ping(client_id=str(uuid.uuid4()))).encode(),
        {
            "uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}",
            "submission_timestamp": "2026-11-23T10:00:00.000000Z",
            "x_forwarded_for": "6.6.6.6, 81.2.69.160, 130.211.0.1",  # a claim, the client, the balancer
            "remote_addr": "35.191.0.1",
        },
    )
    result = decoder.decode(message)
    assert isinstance(result, Decoded), result.message.attributes
    assert result.payload["metadata"]["geo"].get("country") == country
