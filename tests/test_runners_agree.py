"""One pipeline, two runners: the same raw messages through Beam (`pingpipe decode` into DuckDB) and
through `pingpipe up`'s worker and committer give the same rows, error rows and duplicates."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest
from click.testing import CliRunner

from pingpipe.cli import main as cli
from pingpipe.decoder.core import DecoderConfig
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import encode_line
from pingpipe.up import work
from pingpipe.up.commit import Committer
from tests.fixtures.demo import demo_ping

PING = demo_ping()


def raw(body: bytes, doc: str, second: int, ip: str = "81.2.69.160") -> bytes:
    return encode_line(
        body,
        {
            "uri": f"/submit/pingpipe-demo/hello/1/{doc}",
            "remote_addr": ip,
            "submission_timestamp": f"2026-11-23T10:00:{second:02d}.000000Z",
        },
    )


def ping(launches: int, **metrics) -> bytes:
    return json.dumps({**PING, "metrics": {"counter": {"demo.launches": launches}, **metrics}}).encode()


def messages() -> list[bytes]:
    ids = [str(uuid.uuid4()) for _ in range(8)]
    return [
        *(raw(ping(i), ids[i], 10 + i) for i in range(4)),
        raw(ping(10), ids[1], 30),  # a retry, later: a duplicate
        raw(ping(11), ids[2], 5),  # a copy submitted earlier, read later: it wins
        raw(b"{not json", ids[4], 20),  # fails: it never competes...
        raw(ping(4), ids[4], 21),  # ...so this copy is delivered
        raw(ping(5), ids[5].upper(), 22),
        raw(ping(55), ids[5], 23),  # one id in two cases: one row, one duplicate
        raw(ping(6).replace(b"}}}", b'}, "object": {"demo.obj": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}}}"), ids[6], 24),
        raw(ping(7).replace(b'"demo.launches": 7', b'"demo.launches": 18446744073709551616'), ids[7], 25),  # beyond INT64
        raw(gzip.compress(ping(8)), str(uuid.uuid4()), 26),
        raw(json.dumps({"metrics": {}}).encode(), str(uuid.uuid4()), 27),  # not a Glean ping: ParsePayload
        b'{"attributeMap": {}, "payload": "not base64!"}\n',  # not a raw message
    ]


def contents(path) -> dict:
    writer = DuckDBWriter(path)
    try:
        rows = writer.query(
            "SELECT document_id, submission_timestamp, metrics.counter.demo_launches, additional_properties "
            "FROM pingpipe_demo_live.hello_v1 ORDER BY 1"
        ).fetchall()
        errors = writer.query(
            "SELECT error_type, document_id, exception_class, error_message, payload FROM payload_bytes_error.structured ORDER BY 1, 2, 4"
        ).fetchall()
    finally:
        writer.close()
    return {"rows": rows, "errors": errors}


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("runners")
    source = folder / "raw.ndjson"
    source.write_bytes(b"".join(messages()))
    result = CliRunner().invoke(cli, ["decode", "--input", f"file:{source}", "--output", f"duckdb:{folder / 'beam.duckdb'}"])
    assert result.exit_code == 0, result.output
    work.init_worker(DecoderConfig())
    writer = DuckDBWriter(folder / "up.duckdb")
    Committer(writer).commit(work.process_segments([str(source)]), [])
    writer.close()
    return contents(folder / "beam.duckdb"), contents(folder / "up.duckdb")


def test_both_runners_write_the_same_rows(both):
    beam, up = both
    assert len(up["rows"]) == 9 and beam["rows"] == up["rows"]
    launches = sorted(r[2] for r in up["rows"] if r[2] is not None)
    assert launches == [0, 1, 3, 4, 5, 6, 8, 11]  # the earliest copy of each id; 2**64 has no INT64 value


def test_both_runners_write_the_same_error_rows_and_duplicates(both):
    beam, up = both
    assert beam["errors"] == up["errors"]
    assert sorted(e[0] for e in up["errors"]) == ["ParsePayload", "ParsePayload", "ParseRawMessage", "duplicate", "duplicate", "duplicate"]
    assert not [e for e in up["errors"] if b"81.2.69.160" in e[4]]
