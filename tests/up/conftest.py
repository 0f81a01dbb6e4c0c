"""`pingpipe up` as a real subprocess: start it, ask it, stop it, kill it; queue segments as the edge writes them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pingpipe.message import encode_line
from pingpipe.up import client
from tests.helpers import PINGPIPE, free_port, wait_http

GOOD = b'{"changesetID": "0123456789abcdef0123456789abcdef01234567", "reviewSystemUsed": "phabricator", "repository": "r"}'


def line(doc_id: str | None = None, body: bytes = GOOD, ts: str = "2026-11-23T10:00:00.000000Z") -> bytes:
    return encode_line(
        body, {"uri": f"/submit/eng-workflow/hgpush/1/{doc_id or uuid.uuid4()}", "submission_timestamp": ts, "remote_addr": "81.2.69.160"}
    )


def segment(folder: Path, name: str, *lines: bytes) -> Path:
    path = folder / f"{name}.ndjson"
    path.write_bytes(b"".join(lines))
    return path


@dataclass
class UpProcess:
    proc: subprocess.Popen
    port: int
    data: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, sql: str) -> list[dict]:
        result = client.call(self.data, "POST", "/query", sql.encode("utf-8"))
        return [dict(zip(result["columns"], row, strict=True)) for row in result["rows"]]

    def status(self) -> dict:
        return client.call(self.data, "GET", "/status")

    def wait_committed(self, messages: int, timeout: float = 90.0) -> dict:
        """Wait until at least `messages` messages are committed (rows + errors + duplicates)."""
        deadline = time.monotonic() + timeout
        status = {}
        while time.monotonic() < deadline:
            status = self.status()
            if status["committed"].get("messages", 0) >= messages:
                return status
            time.sleep(0.1)
        raise TimeoutError(f"only {status.get('committed')} committed, wanted {messages}; log:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def start_up(data: Path, *args: str, port: int | None = None, schemas: Path | None = None, tls: bool = False) -> UpProcess:
    if port is None:  # a port found free can be taken by another test process before `up` binds it: take another
        for attempt in range(3):
            try:
                return start_up(data, *args, port=free_port(), schemas=schemas, tls=tls)
            except RuntimeError as exc:
                if "Address already in use" not in str(exc) or attempt == 2:
                    raise
    log = data.with_name(data.name + f"-up-{time.time_ns()}.log")
    cmd = [PINGPIPE, "up", "--data", str(data), "--port", str(port), "--workers", "1", *args]
    if schemas is not None:
        cmd += ["--schemas", str(schemas)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    up = UpProcess(proc, port, data, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pingpipe up exited with {proc.returncode}:\n{log.read_text()}")
        state = client.read_state(data)
        if state and state["pid"] == proc.pid:
            wait_http(port, proc=proc, tls=tls)
            return up
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError(f"pingpipe up did not start:\n{log.read_text()}")


@pytest.fixture
def run_up(tmp_path):
    started: list[UpProcess] = []

    def run(*args: str, data: Path | None = None, **kwargs) -> UpProcess:
        up = start_up(data or tmp_path / "data", *args, **kwargs)
        started.append(up)
        return up

    yield run
    for up in started:
        if up.proc.poll() is None:
            try:
                os.killpg(up.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            up.proc.wait(timeout=20)


def scan_warehouse(up: UpProcess, needle: str) -> list[str]:
    """Every table (metadata tables excluded) with a row whose text contains `needle`."""
    hits = []
    for table in up.status()["tables"]:
        schema, _, name = table["table"].partition(".")
        sql = f'SELECT count(*) AS n FROM "{schema}"."{name}" AS t WHERE CAST(t AS VARCHAR) LIKE \'%{needle}%\''
        if up.query(sql)[0]["n"]:
            hits.append(table["table"])
    return hits


def loads(text: str):
    return orjson.loads(text)
