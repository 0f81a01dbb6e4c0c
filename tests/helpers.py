"""Real processes for tests: free ports, a `pingpipe edge` subprocess, a small HTTP load generator."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

PINGPIPE = str(Path(sys.executable).with_name("pingpipe"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    port: int, path: str = "/__lbheartbeat__", timeout: float = 20.0, proc: subprocess.Popen | None = None, tls: bool = False
) -> None:
    """Wait until the server answers; `tls`: over HTTPS, whatever its certificate (a test's own)."""
    import ssl

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if tls:
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=1, context=context)
            else:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered on port {port}")


@dataclass
class Edge:
    proc: subprocess.Popen
    port: int
    queue: Path
    metrics_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=20)


@contextmanager
def run_edge(
    queue: Path, *args: str, env: dict | None = None, port: int | None = None, metrics: bool = False, preexec_fn=None, tls: bool = False
):
    """`preexec_fn` runs in the child before it starts, e.g. to lower its resource limits."""
    port = port or free_port()
    metrics_port = free_port() if metrics else None
    cmd = [PINGPIPE, "edge", "--port", str(port), "--queue", str(queue), "--min-free-bytes", "0", *args]
    if metrics_port:
        cmd += ["--metrics-port", str(metrics_port)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        preexec_fn=preexec_fn,
    )
    edge = Edge(proc, port, queue, metrics_port)
    try:
        wait_http(port, proc=proc, tls=tls)
        yield edge
    finally:
        if proc.poll() is None:
            edge.kill(signal.SIGTERM)


def submit_path(namespace: str = "eng-workflow", doctype: str = "hgpush", version: int = 1, doc_id: str | None = None) -> str:
    return f"/submit/{namespace}/{doctype}/{version}/{doc_id or uuid.uuid4()}"


@dataclass
class LoadResult:
    ok: list[str] = field(default_factory=list)  # document ids answered 200
    other: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def load(
    port: int,
    count: int,
    *,
    threads: int = 8,
    body: bytes = b'{"x": 1}',
    stop: threading.Event | None = None,
    path_for=submit_path,
    pace: float = 0.0,
) -> LoadResult:
    """Send `count` POSTs with fresh document ids over keep-alive connections; record each answer."""
    result = LoadResult()
    lock = threading.Lock()
    per_thread = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(n):
            if stop is not None and stop.is_set():
                return
            doc_id = str(uuid.uuid4())
            try:
                conn.request("POST", path_for(doc_id=doc_id), body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                with lock:
                    result.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            with lock:
                if status == 200:
                    result.ok.append(doc_id)
                else:
                    result.other[status] = result.other.get(status, 0) + 1
            if pace:
                time.sleep(pace)
        conn.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return result


def queued_doc_ids(queue: Path, include_open: bool = True) -> list[str]:
    """Document ids of every message in a queue directory (sealed and, optionally, open segments).

    One listing of the folder, so a segment sealed while it is read (renamed from `.open`) is read
    once, under whichever name it has by then, never missed or counted twice."""
    from pingpipe.message import RawMessage

    ids = []
    for name in sorted(os.listdir(queue)):
        if not (name.endswith(".ndjson") or (include_open and name.endswith(".ndjson.open"))):
            continue
        path = queue / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # sealed (or taken) since the listing
            sealed = queue / name.removesuffix(".open")
            if not name.endswith(".open") or not sealed.exists():
                continue
            data = sealed.read_bytes()
        lines = data.split(b"\n")
        if name.endswith(".open"):
            lines = lines[:-1]  # what follows the last newline is a line still being written
        for line in lines:
            if line.strip():
                ids.append(RawMessage.from_line(line).attributes["uri"].rsplit("/", 1)[1])
    return ids


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for 127.0.0.1 and localhost, made by openssl for a test."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def many_descriptors(need: int):
    """This test process with its open-file limit raised to the hard limit (skipped below `need`),
    restored after; yields a preexec_fn factory that gives a child process `n` descriptors."""
    import resource

    import pytest

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"this test process needs ~{need:,} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def child_limit(n: int):
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    try:
        yield child_limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def wait_until(condition, timeout: float = 10.0, every: float = 0.05):
    """Wait for `condition()` to be true (what a fixed sleep would only hope for); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler of the tests' fake HTTP APIs (for what cannot run here): JSON in and out, quiet."""

    def log_message(self, *args):
        pass

    def read_json(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

    def send_json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
