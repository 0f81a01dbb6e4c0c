"""The admin port on its own (an AdminServer on a real warehouse, asked over real sockets): what its
routes, its router and its HTTP server answer to what `pingpipe query` never sends; that its OpenAPI
description is behind the same checks; and that close() leaves nothing running. The refusals a
running `up` makes are in test_query.py."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import orjson
import pytest

from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.up import admin, client
from tests.helpers import wait_until


@pytest.fixture
def server(tmp_path):
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    running = admin.AdminServer(writer, lambda: {"running": True}, cycle=lambda day: {"day": str(day)})
    running.start()
    yield running
    running.close()
    writer.close()


def raw(port: int, request: bytes, wait: float = admin.READ_SECONDS + 10) -> bytes:
    """Send `request`; all the server answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def ask(server, method: str, path: str, *, token: str | None = None, host: str | None = None, body: bytes = b"") -> httpx.Response:
    headers = {client.TOKEN_HEADER: server.token if token is None else token, "Host": host or f"127.0.0.1:{server.port}"}
    return httpx.request(method, f"http://127.0.0.1:{server.port}{path}", headers=headers, content=body, timeout=20)


def test_an_unknown_route_is_404_and_a_wrong_method_405_in_json_and_closed_and_only_for_the_tokens_owner(server):
    for method, path in (("GET", "/nope"), ("POST", "/status/../query"), ("GET", "/query"), ("POST", "/status")):
        assert ask(server, method, path, token="guess").status_code == 403, (method, path)
    missing = ask(server, "GET", "/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "not found"}
    assert missing.headers["Connection"] == "close" and missing.headers["Content-Type"] == "application/json"
    wrong = ask(server, "GET", "/query")
    assert wrong.status_code == 405 and wrong.json() == {"error": "method not allowed"} and wrong.headers["Allow"] == "POST"
    assert ask(server, "POST", "/status").status_code == 405


def test_every_route_answers_json_as_the_clients_read_it(server):
    assert ask(server, "GET", "/status").json()["running"] is True
    assert ask(server, "POST", "/query", body=b"SELECT 42 AS answer").json() == {"columns": ["answer"], "rows": [[42]]}
    assert set(ask(server, "GET", "/audit").json()) == {"findings", "rows"}
    assert ask(server, "POST", "/cycle?date=2020-01-02").json() == {"day": "2020-01-02"}
    assert ask(server, "POST", "/dedupe?date=2020-01-02").json() == {"kept": {}}
    shred = ask(server, "POST", "/shred?dry_run=1")
    assert shred.status_code == 200 and shred.json() == {"rows": {}, "skipped": [], "scope": "every partition"}, shred.text
    for path, says in (
        ("/cycle?date=tomorrow", "not a date: 'tomorrow'"),
        ("/cycle", "not a date: ''"),
        ("/cycle?date=2999-01-01", "has not ended"),
    ):
        refused = ask(server, "POST", path)
        assert refused.status_code == 400 and says in refused.json()["error"], path
    assert ask(server, "POST", "/etl?date=2020-01-02").status_code == 404  # this server runs no etl


def test_the_openapi_description_lists_every_route_and_wants_the_same_host_origin_and_token(server):
    assert ask(server, "GET", "/openapi.json", token="").status_code == 403
    assert ask(server, "GET", "/openapi.json", host=f"evil.example:{server.port}").status_code == 403
    assert ask(server, "GET", "/docs").status_code == 404  # no interactive docs: they would load scripts from a CDN
    paths = ask(server, "GET", "/openapi.json").json()["paths"]
    assert set(paths) == {"/status", "/audit", "/query", "/dedupe", "/cycle", "/shred"}
    assert "text/plain" in paths["/query"]["post"]["requestBody"]["content"]


def query_head(server, length: int, token: str | None = None) -> bytes:
    host, token = f"127.0.0.1:{server.port}", server.token if token is None else token
    return f"POST /query HTTP/1.1\r\nHost: {host}\r\n{client.TOKEN_HEADER}: {token}\r\nContent-Length: {length}\r\n\r\n".encode()


def test_a_body_over_the_limit_sent_whole_gets_its_413_not_a_reset(server):
    too_long = client.MAX_SQL_BYTES + 1
    answer = raw(server.port, query_head(server, too_long) + b" " * too_long)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in answer
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"error": f"query too long: {too_long} bytes, at most {client.MAX_SQL_BYTES}"}


def test_a_refused_query_sent_whole_gets_its_403_not_a_reset(server):
    query = b"SELECT 1 --" + b" " * (client.MAX_SQL_BYTES - 11)  # all of it sent before the answer is read
    assert raw(server.port, query_head(server, len(query), token="guess") + query).startswith(b"HTTP/1.1 403 ")


@pytest.mark.parametrize(
    "head",
    [
        "Host: 127.0.0.1:{port}\r\nHost: evil.example\r\n",  # two Hosts: which one a proxy or a page meant is anyone's guess
        "Host: 127.0.0.1:{port}\r\nContent-Length: 8\r\nContent-Length: 9\r\n",
    ],
)
def test_a_request_whose_head_is_not_http_is_refused_in_json_and_closed(server, head):
    request = f"POST /query HTTP/1.1\r\n{head.format(port=server.port)}{client.TOKEN_HEADER}: {server.token}\r\n\r\nSELECT 1"
    answer = raw(server.port, request.encode())
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer
    assert "invalid HTTP request" in orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]


def test_a_query_without_a_length_is_411(server):
    request = (
        f"POST /query HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{client.TOKEN_HEADER}: {server.token}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n8\r\nSELECT 1\r\n0\r\n\r\n"
    )
    assert raw(server.port, request.encode()).startswith(b"HTTP/1.1 411 ")


@pytest.mark.system
def test_a_connection_that_sends_no_request_is_closed_within_the_read_time(server):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=admin.READ_SECONDS + 10) as s:
        s.sendall(b"POST /query HTTP/1.1\r\n")  # and nothing more
        assert s.recv(65536) == b""
    assert time.monotonic() - started < admin.READ_SECONDS + 3


def test_close_stops_serving_at_once_and_leaves_no_thread_behind(tmp_path):
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    before = set(threading.enumerate())
    server = admin.AdminServer(writer, lambda: {})
    server.start()
    try:
        for _ in range(3):  # the blocking routes run on worker threads
            assert ask(server, "POST", "/query", body=b"SELECT 1").status_code == 200
            assert ask(server, "GET", "/status").status_code == 200
        assert len(set(threading.enumerate()) - before) >= 2  # its own, and a worker
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 2
        with pytest.raises(httpx.ConnectError):
            ask(server, "GET", "/status")
        assert wait_until(lambda: set(threading.enumerate()) <= before, timeout=5)
    finally:
        server.close()
        writer.close()


def test_a_taken_port_is_an_oserror_before_anything_starts(tmp_path):
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    before = set(threading.enumerate())
    try:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            with pytest.raises(OSError) as caught:
                admin.AdminServer(writer, lambda: {}, port=taken.getsockname()[1])
        assert caught.value.strerror == "Address already in use" and set(threading.enumerate()) == before
    finally:
        writer.close()


def test_a_route_that_fails_answers_500_in_json_and_the_next_request_is_served(tmp_path):
    def broken() -> dict:
        raise RuntimeError("the status went away")

    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    server = admin.AdminServer(writer, broken)
    server.start()
    try:
        failed = ask(server, "GET", "/status")
        assert failed.status_code == 500 and failed.json() == {"error": "RuntimeError: the status went away"}
        assert ask(server, "POST", "/query", body=b"SELECT 1 AS one").json() == {"columns": ["one"], "rows": [[1]]}
    finally:
        server.close()
        writer.close()
