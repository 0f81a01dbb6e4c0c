"""The whole Beam pipeline on the DirectRunner, from file input to file outputs."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pingpipe.decoder.build import build_pipeline
from pingpipe.decoder.core import DecoderConfig
from pingpipe.message import RawMessage, encode_line

from ..fixtures import RAW, VALIDATION, raw, validation_docs

HGPUSH_DOC = VALIDATION / "eng-workflow" / "hgpush.1.sample.pass.json"


def run(tmp_path: Path, registry_root: Path, inputs: list[bytes], geoip_db: Path) -> tuple[list[RawMessage], list[RawMessage], dict]:
    source = tmp_path / "in.ndjson"
    source.write_bytes(b"".join(inputs))
    config = DecoderConfig(schemas=registry_root, geoip_db=geoip_db)
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    build_pipeline(pipeline, config, f"file:{source}", f"file:{tmp_path}/out", f"file:{tmp_path}/err")
    result = pipeline.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}

    def read(pattern: str) -> list[RawMessage]:
        return [RawMessage.from_line(line) for p in sorted(tmp_path.glob(pattern)) for line in p.read_bytes().splitlines() if line.strip()]

    return read("out-*"), read("err-*"), counters


def line(data: bytes, **attrs) -> bytes:
    return RawMessage(data, attrs).to_line()


def test_the_raw_fixture_files_are_what_their_generator_writes():
    """tests/fixtures/raw/*.ndjson: rewrite them with `python -m tests.fixtures.raw` after changing raw.py."""

    def content(message: RawMessage) -> tuple[dict, bytes]:  # gzip's bytes may differ between zlib builds; not what they hold
        return message.attributes, gzip.decompress(message.data) if message.data[:2] == b"\x1f\x8b" else message.data

    assert sorted(p.name for p in RAW.glob("*.ndjson")) == sorted(raw.FILES)
    for name, messages in raw.FILES.items():
        on_disk = [RawMessage.from_line(line) for line in (RAW / name).read_bytes().splitlines()]
        assert [content(m) for m in on_disk] == [content(m) for m in messages], name


def test_fixtures_through_beam_match_the_core(tmp_path, registry_root, geoip_db):
    from pingpipe.decoder.core import Decoded, Decoder

    inputs = [line + b"\n" for f in ("valid-input", "error-input") for line in (RAW / f"{f}.ndjson").read_bytes().splitlines()]
    decoded, errors, counters = run(tmp_path, registry_root, inputs, geoip_db)
    core = Decoder.from_config(DecoderConfig(schemas=registry_root, geoip_db=geoip_db))
    results = [core.decode(RawMessage.from_line(line)) for line in inputs]
    want = {r.to_message().attributes["document_id"]: r.to_message() for r in results if isinstance(r, Decoded)}
    assert sorted(m.attributes["document_id"] for m in decoded) == sorted(want)
    for m in decoded:  # the same attributes and payload as the core gives, whichever worker decoded it
        assert m.attributes == want[m.attributes["document_id"]].attributes
        assert json.loads(m.data) == json.loads(want[m.attributes["document_id"]].data)
    assert (
        sorted(e.attributes["error_type"] for e in errors)
        == sorted(r.error_type for r in results if not isinstance(r, Decoded))
        == ["ParsePayload", "ParseUri"]
    )
    assert counters["in"] == 6 and counters["out"] == 4


def test_conservation_in_equals_decoded_plus_errors_plus_duplicates(tmp_path, registry_root, geoip_db):
    inputs = []
    expected_pass = expected_fail = 0
    for d in validation_docs():
        inputs.append(
            line(
                gzip.compress(d.body()),
                uri=f"{d.uri_prefix}/{uuid.uuid4()}",
                submission_timestamp="2026-11-23T10:00:00.000000Z",
                remote_addr="81.2.69.160",
            )
        )
        expected_pass += d.expected == "pass"
        expected_fail += d.expected == "fail"
    # duplicates: the same document id three times; the earliest submission must win
    doc = str(uuid.uuid4())
    body = HGPUSH_DOC.read_bytes()
    for ts in ("2026-11-23T10:00:02.000000Z", "2026-11-23T10:00:01.000000Z", "2026-11-23T10:00:03.000000Z"):
        inputs.append(line(body, uri=f"/submit/eng-workflow/hgpush/1/{doc}", submission_timestamp=ts))
    inputs.append(b"this is not a raw message line\n")
    decoded, errors, counters = run(tmp_path, registry_root, inputs, geoip_db)
    duplicates = [e for e in errors if e.attributes["error_type"] == "duplicate"]
    others = [e for e in errors if e.attributes["error_type"] != "duplicate"]
    assert len(inputs) == len(decoded) + len(others) + len(duplicates)
    assert len(decoded) == expected_pass + 1
    assert len(duplicates) == 2 and all(d.data == b"" for d in duplicates)  # metadata only
    assert len([e for e in others if e.attributes["error_type"] == "ParsePayload"]) == expected_fail
    assert [e.attributes["error_type"] for e in others].count("ParseRawMessage") == 1
    kept = [m for m in decoded if m.attributes["document_id"] == doc]
    assert len(kept) == 1 and kept[0].attributes["submission_timestamp"] == "2026-11-23T10:00:01.000000Z"
    assert counters["duplicate"] == 2
    text = json.dumps([[base64.b64encode(m.data).decode(), m.attributes] for m in decoded + errors])
    assert "81.2.69.160" not in text


@pytest.mark.system
def test_the_cli_runs_the_pipeline(tmp_path, registry_root, geoip_db):
    import subprocess
    import sys

    source = tmp_path / "raw.ndjson"
    source.write_bytes((RAW / "valid-input.ndjson").read_bytes())
    pingpipe = str(Path(sys.executable).with_name("pingpipe"))
    r = subprocess.run(
        [
            pingpipe,
            "decode",
            "--input",
            f"file:{source}",
            "--output",
            f"file:{tmp_path}/o",
            "--errors",
            f"file:{tmp_path}/e",
            "--schemas",
            str(registry_root),
            "--geoip-db",
            str(geoip_db),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert sum(len(p.read_bytes().splitlines()) for p in tmp_path.glob("o-*")) == 4
    bad = subprocess.run(
        [pingpipe, "decode", "--input", "s3:x", "--output", "file:o", "--errors", "file:e"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "file:GLOB" in bad.stderr


@pytest.mark.system
def test_decode_straight_into_the_warehouse_in_one_pipeline(tmp_path, registry_root):
    """--output duckdb:PATH runs the loader in the decoder's pipeline; errors go to its error tables."""
    import subprocess
    import sys

    import duckdb

    inputs, passes = [], 0
    for d in validation_docs():
        inputs.append(
            line(
                d.body(),
                uri=f"{d.uri_prefix}/{uuid.uuid4()}",
                submission_timestamp="2026-11-23T10:00:00.000000Z",
                remote_addr="81.2.69.160",
            )
        )
        passes += d.expected == "pass"
    doc = str(uuid.uuid4())
    body = HGPUSH_DOC.read_bytes()
    inputs += [line(body, uri=f"/submit/eng-workflow/hgpush/1/{doc}", submission_timestamp="2026-11-23T10:00:01.000000Z")] * 2
    source = tmp_path / "raw.ndjson"
    source.write_bytes(b"".join(inputs))
    warehouse = tmp_path / "w.duckdb"
    pingpipe = str(Path(sys.executable).with_name("pingpipe"))
    r = subprocess.run(
        [pingpipe, "decode", "--input", f"file:{source}", "--output", f"duckdb:{warehouse}", "--schemas", str(registry_root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    tables = con.execute("SELECT dataset, name FROM _pingpipe.tables").fetchall()
    counts = {f"{d}.{n}": con.execute(f'SELECT count(*) FROM "{d}"."{n}"').fetchone()[0] for d, n in tables}
    errors = dict(con.execute("SELECT error_type, count(*) FROM payload_bytes_error.structured GROUP BY 1").fetchall())
    assert errors == {"ParsePayload": len(inputs) - 2 - passes, "duplicate": 1}
    assert sum(counts.values()) == len(inputs)  # conservation: rows + error rows (duplicates included)
    assert counts["eng_workflow_live.hgpush_v1"] >= 2
    no_errors = subprocess.run(
        [pingpipe, "decode", "--input", f"file:{source}", "--output", f"file:{tmp_path}/o"], capture_output=True, text=True, timeout=60
    )
    assert no_errors.returncode != 0 and "--errors is required" in no_errors.stderr


def test_many_messages_per_bucket_in_small_runs_still_deliver_one_copy_each(tmp_path, registry_root, geoip_db, monkeypatch):
    """Two buckets and runs of two: copies of one id meet across runs; a copy that fails never counts."""
    from pingpipe.decoder import pipeline as beam_pipeline

    monkeypatch.setattr(beam_pipeline, "DEDUPE_BUCKETS", 2)
    monkeypatch.setattr(beam_pipeline, "CHUNK", 2)
    body = HGPUSH_DOC.read_bytes()
    inputs, docs = [], [str(uuid.uuid4()) for _ in range(12)]
    for i, doc in enumerate(docs):
        inputs.append(line(body, uri=f"/submit/eng-workflow/hgpush/1/{doc}", submission_timestamp=f"2026-11-23T10:00:{i:02d}.000000Z"))
    # the earliest copy of docs[0] cannot be decoded: the next one is delivered, the last is a duplicate
    inputs.append(line(b"{not json", uri=f"/submit/eng-workflow/hgpush/1/{docs[0]}", submission_timestamp="2026-11-23T09:00:00.000000Z"))
    inputs.append(line(body, uri=f"/submit/eng-workflow/hgpush/1/{docs[0]}", submission_timestamp="2026-11-23T11:00:00.000000Z"))
    inputs.append(line(body, uri=f"/submit/eng-workflow/hgpush/1/{docs[5]}", submission_timestamp="2026-11-23T09:59:00.000000Z"))
    inputs.append(line(b"", uri="/submit/eng-workflow"))  # no document id to read: decoded alone, an error
    decoded, errors, _ = run(tmp_path, registry_root, inputs, geoip_db)
    assert len(inputs) == len(decoded) + len(errors)
    assert sorted(m.attributes["document_id"] for m in decoded) == sorted(docs)
    by_id = {m.attributes["document_id"]: m.attributes["submission_timestamp"] for m in decoded}
    assert by_id[docs[0]] == "2026-11-23T10:00:00.000000Z" and by_id[docs[5]] == "2026-11-23T09:59:00.000000Z"
    kinds = sorted(e.attributes["error_type"] for e in errors)
    assert kinds == ["ParsePayload", "ParseUri", "duplicate", "duplicate"]


def test_the_document_id_is_read_before_decoding_from_every_kind_of_line_as_decoding_spells_it():
    from pingpipe.decoder.pipeline import document_id

    doc = str(uuid.uuid4())
    assert document_id(line(b"", uri=f"/submit/glean/baseline/1/{doc}")) == doc
    assert document_id(line(b"", uri=f"/submit/telemetry/{doc}/main/Firefox/61.0a1/nightly/20180328030202")) == doc
    assert document_id(line(b"", uri=f"/submit/glean/baseline/1/{doc.upper()}?v=4")) == doc  # as the decoder spells it
    assert document_id(line(b"", uri="/elsewhere")) == "" and document_id(b"not a line") == ""
    assert document_id(line(b"", uri=f"/submit/glean/baseline/{doc}")) == ""  # a URI the decoder refuses names no copy
    queued_log_row = encode_line(b"{}", {"log_service": "svc", "log_type": "t", "document_id": doc})
    assert document_id(queued_log_row) == doc
    entry = {"jsonPayload": {"Type": "glean-server-event", "Fields": {"document_id": doc.upper()}}, "receiveTimestamp": "x"}
    assert document_id(encode_line(json.dumps(entry).encode(), {})) == doc  # a LogEntry names its id in its body
