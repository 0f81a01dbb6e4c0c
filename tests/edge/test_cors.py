"""Web pages as clients: HTTPS on the edge, and CORS for Glean.js's fetch uploader (preflight), on
both the /submit fast path and the ASGI app, over real sockets."""

from __future__ import annotations

import ssl
import uuid

import httpx
import pytest

from tests.fixtures.demo import demo_ping

from ..helpers import make_certificate, run_edge, submit_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


PAGE = "http://127.0.0.1:8000"
PREFLIGHT = {"Origin": PAGE, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


def queued(queue) -> bytes:
    return b"".join(p.read_bytes() for p in queue.glob("*.ndjson*"))


@pytest.mark.system
def test_https_serves_submissions_and_the_dockerflow_endpoints(tmp_path, certificate):
    cert, key = certificate
    with run_edge(tmp_path / "q", "--tls-cert", str(cert), "--tls-key", str(key), tls=True) as edge:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), base_url=f"https://127.0.0.1:{edge.port}") as client:
            doc = str(uuid.uuid4())
            assert client.post(submit_path(doc_id=doc), content=b'{"a": 1}').status_code == 200  # the fast path
            assert client.get("/__heartbeat__").status_code == 200  # the ASGI app
        plain = str(uuid.uuid4())
        answer = httpx.post(f"http://127.0.0.1:{edge.port}{submit_path(doc_id=plain)}", content=b"{}")
        assert answer.status_code == 400 and "https://" in answer.text  # plain HTTP is not spoken, and says so
    assert doc.encode() in queued(tmp_path / "q") and plain.encode() not in queued(tmp_path / "q")


@pytest.mark.system
def test_a_preflight_is_allowed_for_glean_headers_and_never_queued(tmp_path):
    with run_edge(tmp_path / "q") as edge:
        answer = httpx.options(edge.url + submit_path(), headers=PREFLIGHT)
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["access-control-allow-methods"] == "POST, PUT"
        assert "content-type" in answer.headers["access-control-allow-headers"]
        assert int(answer.headers["access-control-max-age"]) > 0
        assert "access-control-allow-credentials" not in answer.headers
        post = httpx.post(edge.url + submit_path(), content=b"{}", headers={"Origin": PAGE, "Content-Type": "text/plain"})
        assert post.status_code == 200 and post.headers["access-control-allow-origin"] == "*"
    lines = [line for line in queued(tmp_path / "q").splitlines() if line]
    assert len(lines) == 1  # the POST; the preflight wrote nothing


@pytest.mark.parametrize(
    "path, headers, status",
    [
        ("/submit/not-a-submission", PREFLIGHT, 404),
        ("/elsewhere", PREFLIGHT, 404),
        (submit_path(doc_id="3b7d0765-368a-4819-918d-0f41f9b80b76"), {**PREFLIGHT, "Access-Control-Request-Method": "DELETE"}, 405),
        (submit_path(doc_id="762cce8d-95b6-4685-bfc9-d340939ed200"), {**PREFLIGHT, "Access-Control-Request-Headers": "x-unknown"}, 403),
    ],
)  # fixed ids: every test process must collect the same tests (pytest-xdist)
@pytest.mark.system
def test_a_preflight_for_anything_else_is_a_4xx(tmp_path, path, headers, status):
    with run_edge(tmp_path / "q") as edge:
        assert httpx.options(edge.url + path, headers=headers).status_code == status
    assert queued(tmp_path / "q") == b""


@pytest.mark.system
def test_an_allow_list_answers_its_origins_only(tmp_path):
    with run_edge(tmp_path / "q", "--cors-origin", PAGE) as edge:
        ok = httpx.options(edge.url + submit_path(), headers=PREFLIGHT)
        assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == PAGE and ok.headers["vary"] == "Origin"
        other = httpx.options(edge.url + submit_path(), headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
        post = httpx.post(edge.url + submit_path(), content=b"{}", headers={"Origin": "https://evil.example"})
        assert post.status_code == 200 and "access-control-allow-origin" not in post.headers  # the browser hides it


def test_the_asgi_path_answers_preflights_and_submissions_alike(tmp_path):
    """A wrapped app (no fast path: what runs behind a middleware) gives the same CORS answers."""
    from pingpipe.edge.app import create_app
    from pingpipe.edge.config import EdgeConfig

    from .test_protocol import Server

    app = create_app(EdgeConfig(queue_dir=tmp_path / "q", min_free_bytes=0, segment_max_age=0.1))

    async def wrapped(scope, receive, send):  # no `pingpipe_submit`: EdgeProtocol is plain uvicorn
        await app(scope, receive, send)

    with Server(tmp_path / "q", app=wrapped) as server:
        base = f"http://127.0.0.1:{server.port}"
        ok = httpx.options(base + submit_path(), headers=PREFLIGHT)
        assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == "*"
        assert "content-length" not in ok.headers
        assert httpx.options(base + "/submit/nope", headers=PREFLIGHT).status_code == 404
        post = httpx.post(base + submit_path(), content=b"{}", headers={"Origin": PAGE})
        assert post.status_code == 200 and post.headers["access-control-allow-origin"] == "*"
        assert server.asgi_submits == 3


@pytest.mark.system
def test_up_serves_https_with_cors_and_loads_a_web_pages_ping(tmp_path, certificate):
    import json
    import os
    import signal

    from tests.up.conftest import start_up

    cert, key = certificate
    up = start_up(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key), "--cors-origin", PAGE, tls=True)
    try:
        base = f"https://127.0.0.1:{up.port}"
        verify = ssl.create_default_context(cafile=str(cert))
        ping = demo_ping({"counter": {"demo.launches": 4}}, sdk="web")
        path = f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}"
        assert httpx.options(base + path, headers=PREFLIGHT, verify=verify).headers["access-control-allow-origin"] == PAGE
        answer = httpx.post(
            base + path, content=json.dumps(ping), verify=verify, headers={"Origin": PAGE, "Content-Type": "text/plain;charset=UTF-8"}
        )  # as sendBeacon posts
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == PAGE
        up.wait_committed(1)
        assert up.query("SELECT metrics.counter.demo_launches AS n FROM pingpipe_demo_live.hello_v1") == [{"n": 4}]
    finally:
        os.killpg(up.proc.pid, signal.SIGKILL)
        up.proc.wait(timeout=20)
