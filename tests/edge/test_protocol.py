"""EdgeProtocol over real sockets: submissions answered without ASGI, in order, and as uvicorn would."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from pingpipe.edge.app import create_app
from pingpipe.edge.config import EdgeConfig
from pingpipe.edge.protocol import EdgeProtocol
from pingpipe.message import RawMessage

from ..helpers import free_port

DOC = "2c3a0767-d84a-4d02-8a92-fa54a3376049"


class Server:
    """pingpipe's app under uvicorn with EdgeProtocol, in this process; counts /submit calls that reach ASGI."""

    def __init__(self, queue, app=None):
        self.app = app if app is not None else create_app(EdgeConfig(queue_dir=queue, min_free_bytes=0, segment_max_age=0.1))
        self.queue = queue
        self.asgi_submits = 0

        async def counting(scope, receive, send):
            if scope["type"] == "http" and scope["path"].startswith("/submit"):
                self.asgi_submits += 1
            await self.app(scope, receive, send)

        if hasattr(self.app, "pingpipe_submit"):
            counting.pingpipe_submit = self.app.pingpipe_submit
        self.port = free_port()
        config = uvicorn.Config(
            counting,
            host="127.0.0.1",
            port=self.port,
            http=EdgeProtocol,
            loop="uvloop",
            lifespan="on",
            log_level="warning",
            timeout_keep_alive=30,
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def messages(self) -> list[RawMessage]:
        deadline = time.monotonic() + 3
        while list(self.queue.glob("*.ndjson.open")) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [
            RawMessage.from_line(line) for p in sorted(self.queue.glob("*.ndjson")) for line in p.read_bytes().splitlines() if line.strip()
        ]


def post(path: str, body: bytes = b'{"a": 1}', *, version: str = "1.1", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str]]]:
    """Read `count` bodiless or short-bodied responses; (status, headers) each."""
    data = b""
    out = []
    while len(out) < count:
        while True:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed after {len(out)} responses")
            data += chunk
        head, data = data[:end].decode(), data[end + 4 :]
        lines = head.split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(data) < length:
            data += sock.recv(65536)
        data = data[length:]
        out.append((int(lines[0].split()[1]), headers))
    return out


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_submissions_are_answered_without_the_asgi_app_and_made_durable(tmp_path):
    with Server(tmp_path) as server, server.connect() as sock:
        for i in range(3):
            sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC[:-1]}{i}?v=4", extra="User-Agent: ua\r\n"))
            [(status, headers)] = read_responses(sock, 1)
            assert status == 200 and headers["content-length"] == "0" and "date" in headers
        assert server.asgi_submits == 0
        messages = server.messages()
    assert [m.attributes["uri"][-1] for m in messages] == ["0", "1", "2"]
    assert messages[0].data == b'{"a": 1}'
    assert messages[0].attributes["args"] == "v=4" and messages[0].attributes["user_agent"] == "ua"
    assert messages[0].attributes["remote_addr"] == "127.0.0.1"


def test_pipelined_submissions_are_answered_in_request_order(tmp_path):
    requests = [
        post(f"/submit/eng-workflow/hgpush/1/{DOC[:-1]}0"),
        post("/submit/eng-workflow/hgpush/1/not-a-uuid"),  # answered at once, but after the one before
        post(f"/submit/eng-workflow/hgpush/1/{DOC[:-1]}1"),
        post(f"/submit/eng-workflow/hgpush/1/{DOC[:-1]}2"),
        # its body is never read, so the connection closes after its answer
        b"PUT /submit/x/y/1/" + DOC.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    ]
    with Server(tmp_path) as server, server.connect() as sock:
        sock.sendall(b"".join(requests))
        assert [status for status, _ in read_responses(sock, len(requests))] == [200, 404, 200, 200, 411]
        assert closed(sock)
        assert server.asgi_submits == 0
        assert sorted(m.attributes["uri"][-1] for m in server.messages()) == ["0", "1", "2"]


def test_pipelined_requests_keep_their_order_across_asgi_ones(tmp_path):
    requests = [
        post(f"/submit/eng-workflow/hgpush/1/{DOC}"),
        b"GET /__version__ HTTP/1.1\r\nHost: x\r\n\r\n",  # must wait for the fsync before it
        post(f"/submit/eng-workflow/hgpush/1/{DOC[:-1]}0"),
        post("/submit/eng-workflow/hgpush/1/not-a-uuid"),
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /submit/eng-workflow/hgpush/1/" + DOC.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        post(f"/submit/eng-workflow/hgpush/1/{DOC[:-1]}1"),
    ]
    with Server(tmp_path) as server, server.connect() as sock:
        sock.sendall(b"".join(requests))
        answers = [(status, headers.get("content-type")) for status, headers in read_responses(sock, len(requests))]
        assert answers == [
            (200, None),
            (200, "application/json"),
            (200, None),
            (404, None),
            (404, "application/json"),
            (405, None),
            (200, None),
        ]
        assert len(server.messages()) == 3


def test_expect_100_continue_gets_its_interim_answer_before_the_body(tmp_path):
    body = b'{"big": "' + b"x" * 5000 + b'"}'
    with Server(tmp_path) as server, server.connect() as sock:
        sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC}", body, extra="Expect: 100-continue\r\n")[: -len(body)])
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert read_responses(sock, 1)[0][0] == 200
        assert server.messages()[0].data == body


def test_a_refused_submission_with_expect_100_continue_closes_the_connection(tmp_path):
    with Server(tmp_path) as server, server.connect() as sock:
        sock.sendall(post("/submit/eng-workflow/hgpush/1/bad", b"{}", extra="Expect: 100-continue\r\n")[:-2])
        [(status, headers)] = read_responses(sock, 1)
        assert status == 404 and headers["connection"] == "close"
        assert closed(sock)


def test_a_refused_body_is_drained_and_the_connection_kept(tmp_path):
    with Server(tmp_path) as server, server.connect() as sock:
        sock.sendall(post("/submit/eng-workflow/hgpush/1/bad", b"x" * 70_000))
        sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC}"))
        assert [s for s, _ in read_responses(sock, 2)] == [404, 200]


def test_http_1_0_is_answered_and_closed(tmp_path):
    with Server(tmp_path) as server, server.connect() as sock:
        sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC}", version="1.0"))
        [(status, headers)] = read_responses(sock, 1)
        assert status == 200 and headers["connection"] == "close"
        assert closed(sock)
        assert server.messages()[0].attributes["protocol"] == "HTTP/1.0"


def test_a_client_that_leaves_before_its_answer_breaks_nothing(tmp_path):
    with Server(tmp_path) as server:
        for i in range(20):
            sock = server.connect()
            sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC[:-2]}{i:02d}"))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()  # RST, most likely before the fsync
        with server.connect() as sock:
            sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC}"))
            assert read_responses(sock, 1)[0][0] == 200
        # Whatever arrived whole was published; nothing crashed; the last one is there.
        uris = [m.attributes["uri"] for m in server.messages()]
        assert f"/submit/eng-workflow/hgpush/1/{DOC}" in uris and len(uris) <= 21


def test_an_app_that_is_not_pingpipes_is_served_as_plain_uvicorn(tmp_path):
    async def hello(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"hi"})

    with Server(tmp_path, app=hello) as server, server.connect() as sock:
        sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC}") * 2)
        assert [s for s, _ in read_responses(sock, 2)] == [201, 201]
        assert server.asgi_submits == 2


@pytest.mark.parametrize("floor, code", [(0, 200), (1 << 62, 507)])
def test_the_disk_floor_is_answered_from_the_protocol(tmp_path, floor, code):
    app = create_app(EdgeConfig(queue_dir=tmp_path, min_free_bytes=floor, segment_max_age=0.1))
    with Server(tmp_path, app=app) as server, server.connect() as sock:
        sock.sendall(post(f"/submit/eng-workflow/hgpush/1/{DOC}"))
        assert read_responses(sock, 1)[0][0] == code
        assert server.asgi_submits == 0
