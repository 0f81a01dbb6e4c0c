"""The edge over real HTTP: every URL form and status code, and the message it makes durable."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import time

import httpx
import pytest

from pingpipe.message import RawMessage

from ..helpers import run_edge

pytestmark = pytest.mark.system

DOC = "2c3a0767-d84a-4d02-8a92-fa54a3376049"
URI = f"/submit/eng-workflow/hgpush/1/{DOC}"


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    queue = tmp_path_factory.mktemp("queue")
    with run_edge(queue, "--segment-max-age", "0.2", metrics=True) as server:
        yield server


def sealed_messages(edge, wait: float = 3.0) -> list[RawMessage]:
    time.sleep(0.5)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and list(edge.queue.glob("*.ndjson.open")):
        time.sleep(0.1)
    out = []
    for path in sorted(edge.queue.glob("*.ndjson")):
        out += [RawMessage.from_line(line) for line in path.read_bytes().splitlines() if line.strip()]
    return out


def find(edge, doc_id: str) -> RawMessage:
    for message in sealed_messages(edge):
        if message.attributes["uri"].endswith(doc_id):
            return message
    raise AssertionError(f"{doc_id} not in the queue")


def test_post_and_put_are_accepted_and_kept_byte_for_byte(edge):
    body = gzip.compress(b'{"changesetID": "abc"}')
    for method, doc in (("POST", "11111111-1111-4111-8111-111111111111"), ("PUT", "22222222-2222-4222-8222-222222222222")):
        r = httpx.request(method, f"{edge.url}/submit/eng-workflow/hgpush/1/{doc}", content=body, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 200
        message = find(edge, doc)
        assert message.data == body  # the egg is not cracked
        assert message.attributes["method"] == method


def test_attributes_follow_mozillas_names(edge):
    doc = "33333333-3333-4333-8333-333333333333"
    headers = {
        "User-Agent": "pingsender/1.0",
        "X-Forwarded-For": "10.0.0.1, 203.0.113.7",
        "DNT": "1",
        "Date": "Mon, 12 Mar 2018 21:02:18 GMT",
        "X-Debug-ID": "dbg",
        "X-Source-Tags": "automation",
        "X-Telemetry-Agent": "Glean/71.0.0",
        "X-LB-Tags": "tag",
        "X-Foxsec-IP-Reputation": "90",
        "X-Pingsender-Version": "1.0",
        "X-Not-Kept": "nope",
    }
    r = httpx.post(f"{edge.url}/submit/eng-workflow/hgpush/1/{doc}?v=4&x=1", content=b"{}", headers=headers)
    assert r.status_code == 200
    attrs = find(edge, doc).attributes
    assert attrs["uri"] == f"/submit/eng-workflow/hgpush/1/{doc}"
    assert attrs["args"] == "v=4&x=1"
    assert attrs["protocol"] == "HTTP/1.1" and attrs["method"] == "POST"
    assert attrs["remote_addr"] == "127.0.0.1"
    assert attrs["content_length"] == "2"
    assert attrs["user_agent"] == "pingsender/1.0"
    assert attrs["x_forwarded_for"] == "10.0.0.1, 203.0.113.7"
    assert attrs["dnt"] == "1" and attrs["x_debug_id"] == "dbg" and attrs["x_source_tags"] == "automation"
    assert attrs["x_telemetry_agent"] == "Glean/71.0.0" and attrs["x_lb_tags"] == "tag"
    assert attrs["x_foxsec_ip_reputation"] == "90" and attrs["x_pingsender_version"] == "1.0"
    assert attrs["date"] == "Mon, 12 Mar 2018 21:02:18 GMT"
    assert "x_not_kept" not in attrs
    ts = attrs["submission_timestamp"]
    assert len(ts) == 27 and ts.endswith("Z") and ts[19] == "." and ts[10] == "T"


def test_telemetry_form_is_accepted_and_sslreports_refused(edge):
    doc = "44444444-4444-4444-8444-444444444444"
    assert httpx.post(f"{edge.url}/submit/telemetry/{doc}/main/Firefox/61.0a1/nightly/20180328030202", content=b"x").status_code == 200
    assert httpx.post(f"{edge.url}/submit/sslreports", content=b"{}").status_code == 404
    assert find(edge, "20180328030202").attributes["uri"].startswith(f"/submit/telemetry/{doc}")


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", URI, 405),
        ("DELETE", URI, 405),
        ("PATCH", URI, 405),
        ("POST", "/submit/eng-workflow/hgpush/1/not-a-uuid", 404),
        ("POST", f"/submit/telemetry/hgpush/1/{DOC}", 404),
        ("POST", "/submit/eng-workflow/hgpush", 404),
        ("POST", "/nothing/here", 404),
    ],
)
def test_method_and_form_errors(edge, method, path, status):
    assert httpx.request(method, edge.url + path, content=b"{}").status_code == status


def raw_request(edge, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as s:
        s.sendall(request)
        data = s.recv(4096)
    return int(data.split(b" ", 2)[1])


def test_missing_content_length_is_411(edge):
    assert raw_request(edge, f"POST {URI} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()) == 411


def test_chunked_bodies_are_411_clients_must_send_a_length(edge):
    req = f"POST {URI} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
    assert raw_request(edge, req.encode()) == 411


def test_an_unencoded_space_is_400(edge):
    assert raw_request(edge, b"POST /submit/a b/c/1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") == 400


def test_body_over_the_limit_is_413_without_reading_it(edge):
    big = b"x" * (1024 * 1024 + 1)
    assert httpx.post(edge.url + URI, content=big).status_code == 413
    assert httpx.post(edge.url + URI, content=b"x" * (1024 * 1024)).status_code == 200


def test_path_over_the_limit_is_414(edge):
    assert httpx.post(edge.url + "/submit/" + "a" * 1100, content=b"{}").status_code == 414


def test_attribute_over_1024_bytes_is_431(edge):
    r = httpx.post(
        edge.url + "/submit/eng-workflow/hgpush/1/55555555-5555-4555-8555-555555555555", content=b"{}", headers={"User-Agent": "u" * 1025}
    )
    assert r.status_code == 431
    assert httpx.post(edge.url + URI + "?" + "q" * 1100, content=b"{}").status_code == 431  # the args attribute
    assert httpx.post(edge.url + URI, content=b"{}", headers={"X-Debug-ID": "d" * 1024}).status_code == 200


def test_dockerflow_endpoints(edge):
    assert httpx.get(edge.url + "/__lbheartbeat__").status_code == 200
    heartbeat = httpx.get(edge.url + "/__heartbeat__")
    assert heartbeat.status_code == 200 and heartbeat.json()["status"] == "ok"
    version = httpx.get(edge.url + "/__version__").json()
    assert set(version) >= {"source", "version", "commit", "build"}


def test_metrics_count_requests_by_code(edge):
    assert httpx.post(edge.url + URI, content=b"{}").status_code == 200
    httpx.get(edge.url + URI)
    text = httpx.get(f"http://127.0.0.1:{edge.metrics_port}/metrics").text
    assert 'pingpipe_edge_requests_total{code="200"}' in text
    assert 'pingpipe_edge_requests_total{code="405"}' in text
    assert "pingpipe_edge_publish_seconds_bucket" in text
    assert "pingpipe_edge_queue_segments" in text


def test_every_200_is_in_the_queue_exactly_once(edge):
    from ..helpers import load, queued_doc_ids

    result = load(edge.port, 500, threads=8)
    assert len(result.ok) == 500
    queued = queued_doc_ids(edge.queue)
    assert all(queued.count(doc) == 1 for doc in result.ok)


def test_raw_message_lines_are_mozillas_file_format(edge):
    doc = "66666666-6666-4666-8666-666666666666"
    httpx.post(f"{edge.url}/submit/eng-workflow/hgpush/1/{doc}", content=b"\x00\xffbinary")
    for path in edge.queue.glob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            obj = json.loads(line)
            assert set(obj) == {"attributeMap", "payload"}
            if obj["attributeMap"]["uri"].endswith(doc):
                assert base64.b64decode(obj["payload"]) == b"\x00\xffbinary"
                return
    time.sleep(0.5)
    assert find(edge, doc).data == b"\x00\xffbinary"
