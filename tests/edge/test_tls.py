"""HTTPS under hostile clients: a handshake is a phase with a deadline like the headers, the
descriptor reserve holds before it, and plain HTTP sent to the HTTPS port is told to use https.
A certificate and key that cannot serve are one line before anything starts, and the README's
openssl line makes a pair that does. A real `pingpipe edge` subprocess, real sockets, a real TLS client."""

from __future__ import annotations

import select
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from ..helpers import PINGPIPE, free_port, make_certificate, many_descriptors, queued_doc_ids, run_edge, submit_path

pytestmark = pytest.mark.system

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
    with run_edge(
        tmp_path / "q",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--header-timeout",
        str(TIMEOUT),
        "--keep-alive-timeout",
        "30",
        tls=True,
    ) as edge:
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
        out = subprocess.run(
            ["curl", "-sS", "-i", "-X", "POST", "--data", "{}", f"http://127.0.0.1:{edge.port}{submit_path(doc_id=doc)}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
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
        with run_edge(
            tmp_path / "q",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--header-timeout",
            str(TIMEOUT),
            "--segment-max-age",
            "0.1",
            preexec_fn=child_limit(256),
            tls=True,
        ) as edge:
            for _ in range(300):
                socks.append(socket.create_connection(("127.0.0.1", edge.port)))
            took = closed_within(socks, TIMEOUT * 0.7)
            turned_away = sum(t != float("inf") for t in took)
            assert 300 - 192 <= turned_away < 300, turned_away  # at most 256 - 64 kept, and some kept
            time.sleep(TIMEOUT + 0.5)  # the kept ones reach their deadline
            doc = str(uuid.uuid4())
            with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=5) as client:
                assert client.post(f"https://127.0.0.1:{edge.port}{submit_path(doc_id=doc)}", content=b"{}").status_code == 200
            assert edge.proc.poll() is None
            for sock in socks:
                sock.close()
    deadline = time.monotonic() + 5
    while doc not in queued_doc_ids(tmp_path / "q") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert doc in queued_doc_ids(tmp_path / "q")


@pytest.fixture(scope="module")
def bad_pairs(tmp_path_factory, certificate):
    """Pairs that cannot serve HTTPS, as people get them wrong: (--tls-cert, --tls-key, what the one line says)."""
    cert, key = certificate
    folder = tmp_path_factory.mktemp("bad-tls")
    other_cert, other_key = make_certificate(folder)
    encrypted = folder / "encrypted.pem"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:secret", "-out", str(encrypted)], check=True, capture_output=True
    )
    text = folder / "notes.txt"
    text.write_text("not a certificate\n")
    return {
        "swapped": (key, cert, f"--tls-cert {key} and --tls-key {cert} are swapped: the certificate is {cert}, the key {key}"),
        "another's key": (cert, other_key, f"the certificate {cert} does not match the key {other_key}"),
        "not PEM": (text, key, f"--tls-cert {text} is not a PEM certificate"),
        "a certificate as the key": (cert, other_cert, f"--tls-key {other_cert} holds a certificate, not a private key"),
        "encrypted key": (cert, encrypted, f"--tls-key {encrypted} is encrypted (it asks for a passphrase)"),
        "no key": (cert, None, "HTTPS needs both --tls-cert and --tls-key"),
    }


CASES = ["swapped", "another's key", "not PEM", "a certificate as the key", "encrypted key", "no key"]


@pytest.mark.parametrize("command", ["edge", "up"])
@pytest.mark.parametrize("case", CASES)
def test_a_pair_that_cannot_serve_https_is_one_line_naming_the_files_before_anything_starts(tmp_path, bad_pairs, case, command):
    cert, key, says = bad_pairs[case]
    args = ["--tls-cert", str(cert)] + (["--tls-key", str(key)] if key else [])
    where = ["--queue", str(tmp_path / "q")] if command == "edge" else ["--data", str(tmp_path / "data")]
    done = subprocess.run(
        [PINGPIPE, command, "--port", str(free_port()), *where, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out and "ConfigError" not in out, out
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], out
    assert not (tmp_path / "q").exists() and not (tmp_path / "data").exists()  # nothing was started, or even made


def test_the_readmes_openssl_line_makes_a_pair_the_edge_serves_https_to_127_0_0_1_with(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### From a web page") :]
    section = section[: section.index("\n### ", 1)]
    block = next(b for b in section.split("```sh\n")[1:] if b.lstrip().startswith("openssl req"))
    subprocess.run(["bash", "-ec", block[: block.index("```")]], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    with run_edge(tmp_path / "q", "--tls-cert", str(cert), "--tls-key", str(key), tls=True) as edge:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:  # checks the name: 127.0.0.1
            assert client.post(f"https://127.0.0.1:{edge.port}{submit_path()}", content=b"{}").status_code == 200
    assert "mkcert -install" in section and "mkcert -cert-file cert.pem -key-file key.pem localhost 127.0.0.1" in section
