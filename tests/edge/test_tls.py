"""HTTPS under hostile clients: a handshake is a phase with a deadline like the headers, the
descriptor reserve holds before it, and plain HTTP sent to the HTTPS port is told to use https.
A real `pingpipe edge` subprocess, real sockets, a real TLS client."""

from __future__ import annotations

import select
import socket
import ssl
import subprocess
import time
import uuid

import httpx
import pytest

from ..helpers import make_certificate, many_descriptors, queued_doc_ids, run_edge, submit_path

TIMEOUT = 1.0  # the header timeout, which bounds a handshake


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


def client_hello() -> bytes:
    """The first flight of a real TLS client."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def closed_within(socks: list[socket.socket], limit: float) -> list[float]:
    """When each connection was closed by the edge (seconds from now), or inf if it was not within `limit`."""
    start, closed = time.monotonic(), {}
    while len(closed) < len(socks) and time.monotonic() - start < limit:
        waiting = [s for s in socks if s.fileno() not in closed]
        readable, _, _ = select.select(waiting, [], [], 0.05)
        for sock in readable:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed[sock.fileno()] = time.monotonic() - start
    return [closed.get(s.fileno(), float("inf")) for s in socks]


def test_a_handshake_that_never_starts_or_never_ends_is_closed_within_the_header_timeout(tmp_path, certificate):
    cert, key = certificate
    with run_edge(tmp_path / "q", "--tls-cert", str(cert), "--tls-key", str(key), "--header-timeout", str(TIMEOUT),
                  "--keep-alive-timeout", "30", tls=True) as edge:
        hello = client_hello()
        socks = [socket.create_connection(("127.0.0.1", edge.port)) for _ in range(60)]
        try:
            for sock in socks[:30]:
                sock.sendall(hello[: len(hello) // 2])  # a handshake begun, never finished
            took = closed_within(socks, 10)  # the other 30 never send a byte
        finally:
            for sock in socks:
                sock.close()
        assert max(took) < TIMEOUT + 1.5, f"{sum(t == float('inf') for t in took)} of 60 still open after 10 s"
        assert min(took) >= TIMEOUT * 0.8
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:  # real clients still served
            assert client.post(f"https://127.0.0.1:{edge.port}{submit_path()}", content=b"{}").status_code == 200


def test_plain_http_sent_to_the_https_port_is_answered_400_saying_to_use_https(tmp_path, certificate):
    cert, key = certificate
    with run_edge(tmp_path / "q", "--tls-cert", str(cert), "--tls-key", str(key), tls=True) as edge:
        doc = str(uuid.uuid4())
        out = subprocess.run(["curl", "-sS", "-i", "-X", "POST", "--data", "{}",
                              f"http://127.0.0.1:{edge.port}{submit_path(doc_id=doc)}"],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout.startswith("HTTP/1.1 400 "), out
        assert "Use https://" in out.stdout
        time.sleep(0.5)
        assert doc not in queued_doc_ids(tmp_path / "q")


def test_connections_beyond_the_descriptor_reserve_are_closed_before_any_handshake(tmp_path, certificate):
    """With 256 descriptors and 64 kept for the queue, 300 connections that never start their
    handshake: the surplus is closed at once, the rest at the header timeout, and HTTPS is then
    served, with the 300 still open on the client's side."""
    cert, key = certificate
    socks: list[socket.socket] = []
    with many_descriptors(1024) as child_limit:
        with run_edge(tmp_path / "q", "--tls-cert", str(cert), "--tls-key", str(key), "--header-timeout", str(TIMEOUT),
                      "--segment-max-age", "0.1", preexec_fn=child_limit(256), tls=True) as edge:
            for _ in range(300):
                socks.append(socket.create_connection(("127.0.0.1", edge.port)))
            took = closed_within(socks, TIMEOUT * 0.7)
            turned_away = sum(t != float("inf") for t in took)
            assert 300 - 192 <= turned_away < 300, turned_away  # at most 256 - 64 kept, and some kept
            time.sleep(TIMEOUT + 0.5)  # the kept ones reach their deadline
            doc = str(uuid.uuid4())
            with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=5) as client:
                assert client.post(f"https://127.0.0.1:{edge.port}{submit_path(doc_id=doc)}",
                                   content=b"{}").status_code == 200
            assert edge.proc.poll() is None
            for sock in socks:
                sock.close()
    deadline = time.monotonic() + 5
    while doc not in queued_doc_ids(tmp_path / "q") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert doc in queued_doc_ids(tmp_path / "q")
