"""Fuzzing the edge: whatever the path, headers and body, no crash and no 500."""

from __future__ import annotations

import asyncio
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pingpipe.edge.app import create_app
from pingpipe.edge.config import EdgeConfig

from ..helpers import run_edge

DOC = "2c3a0767-d84a-4d02-8a92-fa54a3376049"
segment = st.one_of(
    st.sampled_from(["submit", "telemetry", "sslreports", "eng-workflow", "hgpush", "1", DOC, "", ".."]), st.text(min_size=0, max_size=12)
)
paths = st.lists(segment, min_size=0, max_size=9).map(lambda parts: "/" + "/".join(parts))
header_names = st.one_of(
    st.sampled_from([b"content-length", b"transfer-encoding", b"user-agent", b"x-forwarded-for", b"date", b"x-debug-id", b"host"]),
    st.binary(min_size=1, max_size=20),
)
headers = st.lists(st.tuples(header_names, st.binary(max_size=1100)), max_size=8)
methods = st.sampled_from(["POST", "PUT", "GET", "DELETE", "OPTIONS", "HEAD", "PATCH"])


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    loop = asyncio.new_event_loop()
    app = create_app(EdgeConfig(queue_dir=tmp_path_factory.mktemp("fuzzq"), min_free_bytes=0, fsync=False))
    loop.run_until_complete(app.publisher.start())
    yield loop, app
    loop.run_until_complete(app.publisher.close())
    loop.close()


async def call(app, method, path, hdrs, body_chunks, query=b""):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "headers": hdrs,
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
    }
    chunks = list(body_chunks) or [b""]
    events = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=methods, path=paths, hdrs=headers, body=st.lists(st.binary(max_size=2000), max_size=3), query=st.binary(max_size=50))
def test_no_input_makes_the_submit_path_crash_or_500(harness, method, path, hdrs, body, query):
    loop, app = harness
    sent = loop.run_until_complete(call(app, method, path, hdrs, body, query))
    if sent:  # a client that disconnects first gets nothing, which is fine
        assert sent[0]["type"] == "http.response.start"
        assert sent[0]["status"] != 500
        assert sent[0]["status"] in (200, 400, 404, 405, 411, 413, 414, 431)


@pytest.mark.system
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=st.binary(min_size=1, max_size=600))
def test_raw_bytes_on_the_socket_never_get_a_500(edge_server, request):
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=5) as s:
        s.sendall(b"POST /submit/" + request + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        s.shutdown(socket.SHUT_WR)
        try:
            answer = s.recv(64)
        except (ConnectionResetError, socket.timeout):
            answer = b""
    assert b" 500 " not in answer
    assert edge_server.proc.poll() is None


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory):
    with run_edge(tmp_path_factory.mktemp("fuzzsock")) as server:
        yield server
