"""Test your instrumentation in CI: a real `pingpipe up` for an app's own test suite.

    pipeline = Pipeline(tmp_path / "data", schemas=...).start()
    ... point the app's Glean at pipeline.edge_url, with a debug tag ...
    ping = pipeline.wait_for_ping(tag, doctype="baseline")
    assert ping.metric("counter", "ui.launches") == 3
    rejected = pipeline.assert_rejected(tag, doctype="custom", error_type="ParsePayload")

Every answer is the debug view's, read from its JSON API (`api/debug/<tag>` on the dictionary's
port), and where a ping went is `pingpipe trace`'s: a test in another language reads the same JSON.
The pytest plugin (pytest_plugin.py) makes one for a test session.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_HEADER = "X-Pingpipe-Token"


@dataclass
class Ping:
    """A ping as the debug view shows it: its verdict, and its payload (a refused one's body as text)."""

    tag: str
    doctype: str | None
    document_id: str | None
    valid: bool
    verdict: str
    payload: object
    namespace: str | None = None
    version: str | None = None
    received: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, entry: dict) -> Ping:
        known = {name for name in cls.__dataclass_fields__ if name != "extra"}
        return cls(**{k: v for k, v in entry.items() if k in known}, extra={k: v for k, v in entry.items() if k not in known})

    def metric(self, kind: str, name: str):
        """A metric's value as the ping carries it (`metrics.<kind>.<name>`, Glean's layout)."""
        metrics = self.payload.get("metrics", {}) if isinstance(self.payload, dict) else {}
        if name not in metrics.get(kind, {}):
            have = sorted(f"{k}.{n}" for k, values in metrics.items() for n in values)
            raise AssertionError(f"{self.doctype} ping {self.document_id} has no {kind} metric {name}; it has: {', '.join(have) or 'none'}")
        return metrics[kind][name]


class Pipeline:
    """One `pingpipe up` on free ports in `data` (its queue, warehouse and state), for tests."""

    def __init__(self, data: Path, *, schemas: Path | None = None, port: int | None = None, args: tuple[str, ...] = ()):
        self.data, self.schemas, self.args = Path(data), schemas, tuple(args)
        self.port, self.fixed_port = port or free_port(), port is not None
        self.proc: subprocess.Popen | None = None
        self.log = self.data.with_name(self.data.name + "-up.log")

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Pipeline:
        """Start it; a port found free that another process took first is traded for another."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except RuntimeError as exc:
                if "Address already in use" not in str(exc) or attempt == 2 or self.fixed_port:
                    raise
                self.port = free_port()
        return self  # not reached: the last attempt returns or raises

    def _start(self, timeout: float) -> Pipeline:
        from .client import read_state

        cmd = [sys.executable, "-m", "pingpipe.cli", "up", "--data", str(self.data), "--port", str(self.port), "--ui-port", "0"]
        cmd += ["--workers", "1", *(["--schemas", str(self.schemas)] if self.schemas else []), *self.args]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pingpipe up exited with {self.proc.returncode}:\n{self.log.read_text()}")
            state = read_state(self.data)
            if state and state["pid"] == self.proc.pid:
                self.state = state
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"pingpipe up did not start in {timeout} s:\n{self.log.read_text()}")

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as a person stops it: what is queued is committed first."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def debug_view(self, tag: str = "") -> dict:
        """The debug view's JSON: its tags (no `tag`), or one tag's pings, newest first."""
        url = self.state["ui"] + "api/debug/" + urllib.parse.quote(tag, safe="")
        token = urllib.parse.parse_qs(urllib.parse.urlparse(self.state["ui_link"]).query)["token"][0]
        request = urllib.request.Request(url, headers={TOKEN_HEADER: token})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def pings(self, tag: str, doctype: str | None = None) -> list[Ping]:
        """The pings the debug view holds for `tag` (of `doctype`), oldest first."""
        found = [Ping.from_json(e) for e in reversed(self.debug_view(tag)["pings"])]
        return [p for p in found if doctype is None or p.doctype == doctype]

    def wait_for(self, tag: str, doctype: str | None = None, count: int = 1, timeout: float = 30.0) -> list[Ping]:
        """At least `count` pings of `tag` (and `doctype`), committed; AssertionError saying what came if not in time."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.pings(tag, doctype)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = ", ".join(f"{p.doctype} ({p.verdict})" for p in self.pings(tag)) or "nothing"
                raise AssertionError(f"waited {timeout} s for {count} {doctype or 'ping'}(s) tagged {tag}; the debug view has: {seen}")
            time.sleep(0.1)

    def wait_for_ping(self, tag: str, doctype: str | None = None, timeout: float = 30.0) -> Ping:
        return self.wait_for(tag, doctype, 1, timeout)[-1]

    def assert_valid(self, tag: str, doctype: str, timeout: float = 30.0) -> Ping:
        """The latest `doctype` ping of `tag`, which the pipeline must have taken as a row."""
        ping = self.wait_for_ping(tag, doctype, timeout)
        if not ping.valid:
            raise AssertionError(f"{doctype} ping {ping.document_id} was {ping.verdict}: {ping.error_message}")
        return ping

    def assert_rejected(self, tag: str, doctype: str, error_type: str | None = None, timeout: float = 30.0) -> Ping:
        """The latest `doctype` ping of `tag`, which the pipeline must have refused (with `error_type`),
        and whose error row `trace` finds."""
        ping = self.wait_for_ping(tag, doctype, timeout)
        if ping.valid:
            raise AssertionError(f"{doctype} ping {ping.document_id} was taken as a row, not refused")
        if error_type is not None and ping.error_type != error_type:
            raise AssertionError(
                f"{doctype} ping {ping.document_id} was refused as {ping.error_type}, not {error_type}: {ping.error_message}"
            )
        states = [p["state"] for p in self.trace(ping.document_id)["places"]]
        if "error" not in states:
            raise AssertionError(f"{doctype} ping {ping.document_id} is refused in the debug view, but trace finds it: {states}")
        return ping

    def trace(self, document_id: str) -> dict:
        """Every place the document is known (`pingpipe trace`)."""
        from .client import call

        return call(self.data, "GET", "/trace?" + urllib.parse.urlencode({"id": document_id}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
