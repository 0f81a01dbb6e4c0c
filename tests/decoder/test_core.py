"""The decoder core against Mozilla's fixtures and against bad input."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from pathlib import Path

import orjson
import pytest

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig, Failure
from pingpipe.message import RawMessage

from ..conftest import MPS, SHARED
from .conftest import MMDB

FIXTURES = SHARED / "decoder" / "decoder-integration"
# What pingpipe documents it does differently from gcp-ingestion's decoder:
# * no ISP database: no isp_db_version attribute and an empty metadata.isp;
# * exception classes are pingpipe's Python classes (the error_type names are Mozilla's);
# * the stack trace is Python's.
NOT_COMPARED = {"isp_db_version", "exception_class", "error_message", "stack_trace"}


@pytest.fixture(scope="module")
def decoder(registry_root):
    return Decoder.from_config(DecoderConfig(schemas=registry_root, geoip_db=MMDB))


def lines(path: Path) -> list[RawMessage]:
    return [RawMessage.from_line(line) for line in path.read_bytes().splitlines() if line.strip()]


def out(result) -> RawMessage:
    return result.to_message() if isinstance(result, Decoded) else result.message


def without_isp(payload: dict) -> dict:
    payload = json.loads(json.dumps(payload))
    payload.get("metadata", {})["isp"] = {}
    return payload


@pytest.mark.parametrize("inp, expected", [("valid-input", "output"), ("error-input", "error-output")])
def test_gcp_ingestion_fixtures_give_the_same_attributes_and_payloads(decoder, inp, expected):
    got = [out(decoder.decode(m)) for m in lines(FIXTURES / f"{inp}.ndjson")]
    want = lines(FIXTURES / f"{expected}.ndjson")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        strip = lambda a: {k: v for k, v in a.items() if k not in NOT_COMPARED}  # noqa: E731
        assert strip(g.attributes) == strip(w.attributes)
        if w.data.startswith(b"{") and "error_type" not in w.attributes:
            assert json.loads(g.data) == without_isp(json.loads(w.data))
        else:
            assert g.data == w.data  # errors keep the original bytes
    error_types = [g.attributes.get("error_type") for g in got]
    assert error_types == [w.attributes.get("error_type") for w in want]


def _validation_docs():
    for path in sorted((MPS / "validation").glob("*/*.json")):
        doctype, version, _case, expected, _ = path.name.rsplit(".", 4)
        yield pytest.param(path.parent.name, doctype, version, expected, path, id=path.name)


@pytest.mark.parametrize("namespace, doctype, version, expected, path", list(_validation_docs()))
def test_validation_documents_sent_as_raw_messages(decoder, namespace, doctype, version, expected, path):
    message = RawMessage(gzip.compress(path.read_bytes()), {
        "uri": f"/submit/{namespace}/{doctype}/{version}/{uuid.uuid4()}",
        "submission_timestamp": "2026-11-23T10:00:00.000000Z", "remote_addr": "81.2.69.160",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"})
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
    return RawMessage(data, {"uri": uri or f"/submit/eng-workflow/hgpush/1/{uuid.uuid4()}",
                             "remote_addr": "81.2.69.160", "user_agent": "curl/8.0", **attrs})


GOOD = b'{"changesetID": "0123456789abcdef0123456789abcdef01234567", "reviewSystemUsed": "phabricator", "repository": "r"}'


@pytest.mark.parametrize("name, message, error_type, text", [
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
])
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


def test_glean_pings_captured_from_the_sdk_decode(tmp_path):
    from click.testing import CliRunner

    from pingpipe.cli import main

    glean = SHARED / "glean"
    result = CliRunner().invoke(main, ["schemas", "glean", "--app-id", "Org.Demo_App", "--metrics", str(glean / "metrics.yaml"),
                                       "--pings", str(glean / "pings.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    decoder = Decoder.from_config(DecoderConfig(schemas=tmp_path, geoip_db=MMDB))
    requests = json.loads((glean / "requests.json").read_text())
    assert requests
    for request in requests:
        path, ping = request["path"], request["doctype"]
        body = (glean / request["file"]).read_bytes()
        headers = {k.lower().replace("-", "_"): v for k, v in request["headers"].items()}
        attrs = {"uri": path, "remote_addr": "81.2.69.160", **{k: headers[k] for k in ("date", "x_telemetry_agent",
                                                                                       "x_source_tags", "x_debug_id") if k in headers}}
        result = decoder.decode(RawMessage(gzip.compress(body), attrs))
        assert isinstance(result, Decoded), (ping, result.message.attributes.get("error_message"))
        assert result.table == f"org_demo_app_live.{ping.replace('-', '_')}_v1"
        client_id = json.loads(body).get("client_info", {}).get("client_id")
        if client_id:
            assert result.payload["sample_id"] == zlib.crc32(client_id.encode()) % 100
        assert result.payload["metadata"]["header"]["x_telemetry_agent"].startswith("Glean/")
