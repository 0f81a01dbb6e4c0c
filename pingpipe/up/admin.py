"""The running `pingpipe up`'s admin port: queries and status while it holds the warehouse.

Loopback only. `POST /query` with the SQL as the body answers {"columns", "rows"} (read-only
queries only: warehouse.py); `GET /status` answers status(); `GET /audit` the privacy audit; `POST /dedupe?date=YYYY-MM-DD` runs the
live -> stable copy for that day (under the writer's lock, between commits); all as JSON. `DATA/up.json`
(its owner's alone) tells clients where the port is and the token it wants. Clients (`pingpipe query`,
`pingpipe status`) use it when `up` runs, and open the DuckDB file read-only themselves when it does not.

Loopback is not enough: a web page can POST to 127.0.0.1 (CSRF) or reach it under its own name (DNS
rebinding). So every request must name this port in Host, come from no other Origin, and carry the
token, which only the owner of DATA/up.json can read.
"""

from __future__ import annotations

import datetime as dt
import hmac
import http.client
import os
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import duckdb
import orjson

from pingpipe import utc
from pingpipe.loader.writers.duckdb import cursor as duckdb_cursor

from . import warehouse

STATE_FILE = "up.json"
TOKEN_HEADER = "X-Pingpipe-Token"
MAX_SQL_BYTES = 1024 * 1024
READ_SECONDS = 5.0  # for a request's head and body: SQL from this machine arrives in milliseconds
ANSWER_SECONDS = 300.0  # for writing an answer (a large result to a slow reader)
LINGER_SECONDS = 1.0  # after a refusal: what the client still sends is discarded this long, then the connection closed


class AdminServer:
    def __init__(
        self,
        writer,
        status_extra: Callable[[], dict],
        port: int = 0,
        cycle: Callable[[object], dict] | None = None,
        rules: list | None = None,
        etl: Callable[..., dict] | None = None,
        shred: Callable[..., dict] | None = None,
    ):
        """`cycle(day)` runs the daily cycle for a day (POST /cycle?date=YYYY-MM-DD); `rules` are the
        user-id rules `up` shreds with; `etl(day, only, sql)` runs the day's queries (POST
        /etl?date=YYYY-MM-DD[&table=T…], the body naming a folder of the caller's queries, or empty);
        `shred(dry_run, rules)` shreds as `up` does (POST /shred), else cycle.shred_warehouse."""
        # Users' SQL runs on the writer's DuckDB instance, closed to the outside as it opened (`connect`);
        # warehouse.run_query checks that before each query.
        self.token = secrets.token_urlsafe(32)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(writer, status_extra, self.token, cycle, rules, etl, shred))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="admin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never started
            self.httpd.shutdown()
        self.httpd.server_close()

    def write_state(self, path: Path, state: dict) -> None:
        """The state file clients find this port by, with its token added."""
        write_private(path, orjson.dumps({**state, "admin_port": self.port, "admin_token": self.token}))


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (0600), whole or not at all: it holds the admin token."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file left by a crash keeps its old mode otherwise
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Refused(Exception):
    """A request answered with `code` and closed, its body unread."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def check_request(headers, port: int, token: str) -> None:
    """Refuse (403) a request not meant for this port by its owner: another Host (DNS rebinding),
    another Origin (a web page's cross-site POST), no token or another one."""
    ours = {f"127.0.0.1:{port}", f"localhost:{port}"}
    hosts = [h.strip().lower() for h in headers.get_all("Host") or []]
    if len(hosts) != 1 or hosts[0] not in ours:
        raise Refused(403, f"refused: Host {', '.join(hosts) or '(none)'} is not this admin port")
    origins = {f"http://{h}" for h in ours}
    for origin in headers.get_all("Origin") or []:
        if origin.strip().lower() not in origins:
            raise Refused(403, "refused: a request from another origin")
    given = headers.get(TOKEN_HEADER) or ""
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("ascii")):
        raise Refused(403, f"refused: no valid {TOKEN_HEADER} (the admin_token in DATA/{STATE_FILE})")


def content_length(value: str | None, limit: int) -> int:
    """The body's length from its header; Refused when it is missing, not a number, or over `limit`."""
    if value is None:
        raise Refused(411, "Content-Length required")
    value = value.strip()
    if not re.fullmatch(r"[0-9]{1,20}", value):
        raise Refused(400, f"invalid Content-Length: {value[:40]!r}")
    length = int(value)
    if length > limit:
        raise Refused(413, f"query too long: {length} bytes, at most {limit}")
    return length


def _handler(writer, status_extra, token: str, cycle=None, rules=None, etl=None, shred=None):
    con = writer.con

    class Handler(BaseHTTPRequestHandler):
        timeout = READ_SECONDS  # the socket's: a client that stops sending does not hold a thread
        _linger = False

        def log_message(self, *args):  # quiet: the terminal shows the status line
            pass

        def _send(self, code: int, body: dict, close: bool = False) -> None:
            data = warehouse.dumps(body)
            self.connection.settimeout(ANSWER_SECONDS)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = self._linger = True
            self.end_headers()
            self.wfile.write(data)

        def finish(self):
            super().finish()
            if self._linger:
                linger(self.connection)

        def _serve(self, route: Callable[[], dict]) -> None:
            try:
                check_request(self.headers, self.server.server_address[1], token)
                body = route()
            except Refused as exc:
                self._send(exc.code, {"error": str(exc)}, close=True)
            except Exception as exc:  # noqa: BLE001 - a bug answers, rather than dropping the connection
                self._send(500, {"error": f"{type(exc).__name__}: {exc}"}, close=True)
            else:
                self._send(200, body)

        def do_GET(self):
            self._serve(self._get)

        def do_POST(self):
            self._serve(self._post)

        def _get(self) -> dict:
            if self.path == "/status":
                return {**status_extra(), **warehouse.status(con)}  # the last cycle as recorded in the file
            if self.path == "/audit?deep=1":
                from pingpipe.privacy.audit import deep

                found = deep(con, Path(writer.path).parent, duckdb_cursor)
                return {"deep": found.lines(), "kept": found.kept, "files": found.files, "recorded": found.recorded}
            if self.path == "/audit":
                from pingpipe.privacy.audit import audit

                findings = audit(con, duckdb_cursor)
                return {"findings": findings.lines(), "rows": findings.scanned}
            raise Refused(404, "not found")

        def _post(self) -> dict:
            if self.path.startswith("/dedupe?date="):
                return self._dedupe(self.path.split("=", 1)[1])
            if self.path.startswith("/cycle?date=") and cycle is not None:
                day = self._date(self.path.split("=", 1)[1])
                problem = not_ended(day)
                if problem:
                    raise Refused(400, problem)
                return cycle(day)
            if self.path.startswith("/etl?") and etl is not None:
                from urllib.parse import parse_qs, urlsplit

                params = parse_qs(urlsplit(self.path).query)
                sql = self._body(content_length(self.headers.get("Content-Length"), MAX_SQL_BYTES)).decode("utf-8", "replace")
                return etl(self._date((params.get("date") or [""])[0]), set(params["table"]) if "table" in params else None, sql or None)
            if self.path in ("/shred", "/shred?dry_run=1"):
                from pingpipe.privacy.shred import RulesError, load_rules, parse_rules

                from .cycle import shred_warehouse

                extra = self._body(content_length(self.headers.get("Content-Length"), MAX_SQL_BYTES))
                try:  # the caller's own rules (shred --user-ids), before up's
                    mine = parse_rules(extra.decode("utf-8", "replace"), "--user-ids") if extra else []
                except RulesError as exc:
                    raise Refused(400, str(exc)) from None
                mine += load_rules() if rules is None else rules
                dry_run = self.path.endswith("dry_run=1")
                return shred(dry_run, mine) if shred else shred_warehouse(writer, dry_run=dry_run, rules=mine)
            if self.path != "/query":
                raise Refused(404, "not found")
            sql = self._body(content_length(self.headers.get("Content-Length"), MAX_SQL_BYTES))
            try:
                return warehouse.run_query(con, sql.decode("utf-8", "replace"))
            except warehouse.QueryError as exc:
                raise Refused(400, str(exc)) from None

        def _body(self, length: int) -> bytes:
            """Exactly `length` bytes, within READ_SECONDS in all (a slow drip is cut off too)."""
            deadline = time.monotonic() + READ_SECONDS
            chunks, left = [], length
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Refused(408, f"the query did not arrive within {READ_SECONDS:g} s")
                self.connection.settimeout(remaining)
                try:
                    chunk = self.rfile.read1(min(left, 65536))
                except TimeoutError:
                    raise Refused(408, f"the query did not arrive within {READ_SECONDS:g} s") from None
                if not chunk:
                    raise Refused(400, "the body ended before its Content-Length")
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)

        @staticmethod
        def _date(day: str):
            try:
                return dt.date.fromisoformat(day)
            except ValueError:
                raise Refused(400, f"not a date: {day!r} (YYYY-MM-DD)") from None

        def _dedupe(self, day: str) -> dict:
            from pingpipe.loader.stable import copy_deduplicate

            date = self._date(day)
            try:
                return {"kept": copy_deduplicate(writer, date)}
            except duckdb.Error as exc:
                raise Refused(400, str(exc)) from None

    return Handler


def not_ended(day: dt.date) -> str | None:
    """Why `day`'s cycle cannot run yet, or None. A day that has not ended (UTC) is refused: its cycle
    would copy part of it and be recorded as done, and `up` would never run that day whole."""
    if utc.ended(day):
        return None
    return (
        f"{day} has not ended (UTC): a day's cycle runs once it is over (`up` runs each one by itself); "
        f"the last day that has ended is {utc.yesterday()}"
    )


def linger(sock: socket.socket, seconds: float = LINGER_SECONDS, limit: int = MAX_SQL_BYTES) -> None:
    """Half-close, and discard what the client still sends (briefly, boundedly, never kept): closing on
    unread bytes resets the connection, and the reset would take the refusal with it."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + seconds
        while limit > 0 and (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            chunk = sock.recv(min(65536, limit))
            if not chunk:
                break
            limit -= len(chunk)
    except OSError:
        pass


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


class AdminError(warehouse.QueryError):
    """The running `up` could not be asked, or its answer read; the message is one line for the user."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_of(body: bytes, fallback: str) -> str:
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    return str(error) if error else fallback


def call(data: Path, method: str, path: str, body: bytes | None = None, timeout: float = 300.0) -> dict:
    """Ask the running `up` (NotRunning if there is none); raises QueryError for a query it refused,
    AdminError (a QueryError too) for anything else that went wrong between us."""
    if body is not None and len(body) > MAX_SQL_BYTES:
        raise warehouse.QueryError(f"query too long: {len(body)} bytes, at most {MAX_SQL_BYTES}")
    state = read_state(data)
    if state is None:
        raise NotRunning(str(data))
    where = f"the running pingpipe up (pid {state.get('pid')}, admin port {state.get('admin_port')})"
    try:
        url = f"http://127.0.0.1:{int(state['admin_port'])}{path}"
    except (KeyError, TypeError, ValueError):
        raise AdminError(f"{data / STATE_FILE} names no admin port") from None
    headers = {TOKEN_HEADER: str(state.get("admin_token", "")), "Content-Type": "text/plain; charset=utf-8"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = response.read()
    except urllib.error.HTTPError as exc:
        message = _error_of(exc.read(), f"HTTP {exc.code} {exc.reason}")
        if exc.code == 400:  # the query's own fault: DuckDB's message, as it wrote it
            raise warehouse.QueryError(message) from None
        raise AdminError(_one_line(f"{where} refused: {message}")) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise NotRunning(str(exc)) from None
        raise AdminError(_one_line(f"{where} did not answer: {exc.reason}")) from None
    except (OSError, http.client.HTTPException) as exc:  # reset, timed out, closed without an answer
        raise AdminError(_one_line(f"{where} did not answer: {exc!r}")) from None
    try:
        return orjson.loads(answer)
    except orjson.JSONDecodeError:
        raise AdminError(f"{where} answered something that is not JSON ({len(answer)} bytes)") from None
