"""The running `pingpipe up`'s admin port: queries and status while it holds the warehouse.

Loopback only. `POST /query` with the SQL as the body answers {"columns", "rows"} (read-only
statements only); `GET /status` answers status(); `POST /dedupe?date=YYYY-MM-DD` runs the
live -> stable copy for that day (under the writer's lock, between commits); all as JSON. `DATA/up.json` tells clients
where the port is. Clients (`pingpipe query`, `pingpipe status`) use it when `up` runs, and open
the DuckDB file read-only themselves when it does not.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import duckdb
import orjson

from . import warehouse

STATE_FILE = "up.json"
MAX_SQL_BYTES = 1024 * 1024


class AdminServer:
    def __init__(self, writer, status_extra: Callable[[], dict], port: int = 0):
        handler = _handler(writer, status_extra)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="admin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never started
            self.httpd.shutdown()
        self.httpd.server_close()


def _handler(writer, status_extra):
    con = writer.con

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the terminal shows the status line
            pass

        def _send(self, code: int, body: dict) -> None:
            data = warehouse.dumps(body)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/status":
                try:
                    self._send(200, {**warehouse.status(con), **status_extra()})
                except Exception as exc:  # pragma: no cover - reported to the client
                    self._send(500, {"error": str(exc)})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self):
            if self.path.startswith("/dedupe?date="):
                self._dedupe(self.path.split("=", 1)[1])
                return
            if self.path != "/query":
                self._send(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_SQL_BYTES:
                self._send(413, {"error": "query too long"})
                return
            sql = self.rfile.read(length).decode("utf-8", "replace")
            try:
                self._send(200, warehouse.run_query(con, sql))
            except warehouse.QueryError as exc:
                self._send(400, {"error": str(exc)})

        def _dedupe(self, day: str) -> None:
            import datetime as dt

            from pingpipe.loader.stable import copy_deduplicate

            try:
                date = dt.date.fromisoformat(day)
            except ValueError:
                self._send(400, {"error": f"not a date: {day!r} (YYYY-MM-DD)"})
                return
            try:
                self._send(200, {"kept": copy_deduplicate(writer, date)})
            except duckdb.Error as exc:
                self._send(400, {"error": str(exc)})

    return Handler


# -- clients -----------------------------------------------------------------------------


def read_state(data: Path) -> dict | None:
    """The running `up`'s state file, if its process is alive."""
    try:
        state = orjson.loads((data / STATE_FILE).read_bytes())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return state


class NotRunning(Exception):
    pass


def call(data: Path, method: str, path: str, body: bytes | None = None, timeout: float = 300.0) -> dict:
    """Ask the running `up` (NotRunning if there is none); raises QueryError on a 4xx answer."""
    state = read_state(data)
    if state is None:
        raise NotRunning(str(data))
    request = urllib.request.Request(f"http://127.0.0.1:{state['admin_port']}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise warehouse.QueryError(orjson.loads(exc.read()).get("error", str(exc))) from None
    except urllib.error.URLError as exc:
        raise NotRunning(str(exc)) from None
