"""The privacy audit: identifiers found by shape, in every table and error payload; the pipeline's own
warehouse passes, a planted address fails it."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import uuid

import pytest

from pingpipe.decoder.core import DecoderConfig
from pingpipe.loader.writers.duckdb import DuckDBWriter, cursor
from pingpipe.message import encode_line
from pingpipe.privacy.audit import allowed, audit, identifiers
from pingpipe.up import work
from pingpipe.up.commit import Committer
from tests.helpers import PINGPIPE
from tests.up.test_hardening import CLIENT_INFO, PING_INFO

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


@pytest.mark.parametrize(
    "text, found",
    [
        ("81.2.69.160", ["81.2.69.160"]),
        ("for=81.2.69.160, 10.0.0.1", ["81.2.69.160", "10.0.0.1"]),  # an X-Forwarded-For value
        ("at 2001:db8::1 today", ["2001:db8::1"]),
        (UA, ["Mozilla/5.0 (", "Firefox/120.0"]),
        ("120.0.1", []),
        ("999.1.1.1", []),
        ("10:00:00", []),
        ("2026-11-23T10:00:00.000000Z", []),
        ("3b1f2a3e-1111-4222-8333-944445555666", []),
        ("Glean/71.0.0 (Python on Linux)", []),
        ("std::map", []),
        ("reply to jörg@exämple.de", ["jörg@exämple.de"]),
        ("to=eve%40example.com", ["eve%40example.com"]),
        ("@mention, user@localhost", []),
    ],
)
def test_identifiers_are_found_by_their_shape_and_look_alikes_are_not(text, found):
    assert identifiers(text) == found


def ping(**metrics) -> bytes:
    return json.dumps({"ping_info": PING_INFO, "client_info": CLIENT_INFO, "metrics": metrics}).encode()


def segment(folder, *bodies: bytes):
    """A queue segment as the edge writes it: the client's address, forwarded-for and user agent attached."""
    path = folder / f"{uuid.uuid4()}.ndjson"
    path.write_bytes(
        b"".join(
            encode_line(
                body,
                {
                    "uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}",
                    "submission_timestamp": "2026-11-23T10:00:00.000000Z",
                    "remote_addr": "81.2.69.160",
                    "x_forwarded_for": "81.2.69.160, 10.0.0.1",
                    "user_agent": UA,
                },
            )
            for body in bodies
        )
    )
    return path


@pytest.fixture(scope="module", autouse=True)
def worker_state():
    work.init_worker(DecoderConfig())


@pytest.mark.system
def test_the_pipelines_warehouse_passes_and_a_planted_address_fails_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    writer = DuckDBWriter(data / "warehouse.duckdb")
    committer = Committer(writer)
    first = segment(tmp_path, ping(counter={"demo.launches": 1}), b"{not json", gzip.compress(ping()))
    committer.commit(work.process_segments([str(first)]), [first])
    clean = audit(writer.con, cursor)
    assert clean.scanned == 3 and clean.lines() == []  # rows, an error row: the addresses and agent were dropped
    planted = segment(tmp_path, ping(string={"demo.theme": "81.2.69.160"}), gzip.compress(b'{"ip": "2001:db8::7", oops'))
    committer.commit(work.process_segments([str(planted)]), [planted])
    assert audit(writer.con, cursor).lines() == [
        "payload_bytes_error.structured.payload: 1, 2001:db8::7",
        "pingpipe_demo_live.hello_v1.metrics.string.demo_theme: 1, 81.2.69.160",
    ]
    writer.close()
    out = subprocess.run([PINGPIPE, "audit", "--data", str(data)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "pingpipe_demo_live.hello_v1.metrics.string.demo_theme: 1, 81.2.69.160" in out.stdout
    shutil.rmtree(data)


def test_an_email_address_in_a_ping_fails_the_audit_and_in_an_addon_column_does_not(tmp_path):
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    committer = Committer(writer)
    planted = segment(tmp_path, ping(string={"demo.theme": "sent by eve%40example.com"}))
    committer.commit(work.process_segments([str(planted)]), [planted])
    assert audit(writer.con, cursor).lines() == ["pingpipe_demo_live.hello_v1.metrics.string.demo_theme: 1, eve%40example.com"]
    writer.close()
    assert allowed("app_live.metrics_v1.metrics.string_list.addons_active_addons")  # uBlock0@raymondhill.net


@pytest.mark.system
def test_audit_in_json_lists_the_findings_and_exits_1_as_in_text(tmp_path):
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    planted = segment(tmp_path, ping(string={"demo.theme": "81.2.69.160"}))
    Committer(writer).commit(work.process_segments([str(planted)]), [planted])
    writer.close()
    out = subprocess.run([PINGPIPE, "audit", "--data", str(tmp_path), "--format", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout) == {"rows": 1, "findings": ["pingpipe_demo_live.hello_v1.metrics.string.demo_theme: 1, 81.2.69.160"]}
