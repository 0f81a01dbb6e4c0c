"""The decoder on gcp-ingestion's decoder-integration test data gives Mozilla's expected output (geo from
MaxMind's test database), through the core and through Beam; every MPS validation document sent as a raw
message gets its verdict."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pingpipe.decoder.build import build_pipeline
from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig, Failure
from pingpipe.message import RawMessage

from .data import files

# What pingpipe documents it does differently from gcp-ingestion's decoder:
# * no ISP database: no isp_db_version attribute and an empty metadata.isp;
# * exception classes are pingpipe's Python classes (the error_type names are Mozilla's);
# * the stack trace is Python's.
NOT_COMPARED = {"isp_db_version", "exception_class", "error_message", "stack_trace"}
VALIDATION_DOCS = files("mps/validation", "*/*.json")


@pytest.fixture(scope="module")
def fixtures(shared) -> Path:
    return shared / "decoder" / "decoder-integration"


@pytest.fixture(scope="module")
def decoder(mozilla_registry, maxmind_db):
    return Decoder.from_config(DecoderConfig(schemas=mozilla_registry, geoip_db=maxmind_db))


def lines(path: Path) -> list[RawMessage]:
    return [RawMessage.from_line(line) for line in path.read_bytes().splitlines() if line.strip()]


def out(result) -> RawMessage:
    return result.to_message() if isinstance(result, Decoded) else result.message


def without_isp(payload: dict) -> dict:
    payload = json.loads(json.dumps(payload))
    payload.get("metadata", {})["isp"] = {}
    return payload


@pytest.mark.parametrize("inp, expected", [("valid-input", "output"), ("error-input", "error-output")])
def test_gcp_ingestion_fixtures_give_the_same_attributes_and_payloads(decoder, fixtures, inp, expected):
    got = [out(decoder.decode(m)) for m in lines(fixtures / f"{inp}.ndjson")]
    want = lines(fixtures / f"{expected}.ndjson")
    assert len(got) == len(want)

    def strip(attributes: dict) -> dict:
        return {k: v for k, v in attributes.items() if k not in NOT_COMPARED}

    for g, w in zip(got, want, strict=True):
        assert strip(g.attributes) == strip(w.attributes)
        if w.data.startswith(b"{") and "error_type" not in w.attributes:
            assert json.loads(g.data) == without_isp(json.loads(w.data))
        else:
            assert g.data == w.data  # errors keep the original bytes
    error_types = [g.attributes.get("error_type") for g in got]
    assert error_types == [w.attributes.get("error_type") for w in want]


def test_fixtures_through_beam_match_the_core(tmp_path, fixtures, mozilla_registry, maxmind_db):
    source = tmp_path / "in.ndjson"
    source.write_bytes(
        b"".join(line + b"\n" for f in ("valid-input", "error-input") for line in (fixtures / f"{f}.ndjson").read_bytes().splitlines())
    )
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    build_pipeline(
        pipeline,
        DecoderConfig(schemas=mozilla_registry, geoip_db=maxmind_db),
        f"file:{source}",
        f"file:{tmp_path}/out",
        f"file:{tmp_path}/err",
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}

    def read(pattern: str) -> list[RawMessage]:
        return [RawMessage.from_line(line) for p in sorted(tmp_path.glob(pattern)) for line in p.read_bytes().splitlines() if line.strip()]

    decoded, errors = read("out-*"), read("err-*")
    assert sorted(m.attributes["document_id"] for m in decoded) == sorted(
        RawMessage.from_line(line).attributes["document_id"] for line in (fixtures / "output.ndjson").read_bytes().splitlines()
    )
    assert sorted(e.attributes["error_type"] for e in errors) == ["ParsePayload", "ParseUri"]
    assert counters["in"] == 6 and counters["out"] == 4


@pytest.mark.parametrize("path", VALIDATION_DOCS, ids=lambda p: p.name)
def test_validation_documents_sent_as_raw_messages(decoder, path: Path):
    namespace = path.parent.name
    doctype, version, _case, expected, _ = path.name.rsplit(".", 4)
    message = RawMessage(
        gzip.compress(path.read_bytes()),
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
