"""The running `pingpipe up`'s admin port: queries, status and the daily jobs while it holds the warehouse.

Loopback only, FastAPI on uvicorn (loopback.py), every answer JSON:
- `GET /status`: status() and the running `up`'s own figures;
- `GET /audit[?deep=1]`: the privacy audit (deep: every byte under the data folder);
- `POST /query`, the SQL as the body: {"columns", "rows"} (read-only queries only: warehouse.py);
- `POST /dedupe?date=YYYY-MM-DD`: the live -> stable copy of that day (under the writer's lock, between commits);
- `POST /cycle?date=YYYY-MM-DD`: the daily cycle of a day that has ended;
- `POST /etl?date=YYYY-MM-DD[&table=T...]`: the day's derived tables, the body naming a folder of queries (or empty);
- `POST /shred[?dry_run=1][&full=1]`: deletion requests, the body the caller's own user-id rules (or empty);
- `POST /replay?…`: error rows decoded again (replay.py's Selection as the query);
- `GET /trace?id=DOCUMENT_ID`: every place the document is known (trace.py);
- `GET /stats?date=YYYY-MM-DD[&by=namespace|doctype|table]`: a day's pings accounted for (stats.py);
- `GET /openapi.json`: this list, as OpenAPI.
`DATA/up.json` (its owner's alone) tells clients (client.py) where the port is and the token it wants. Clients
(`pingpipe query`, `status`, `audit`, `shred`, `cycle`, `etl run`, `load --dedupe`) use it when `up`
runs, and open the DuckDB file themselves when it does not.

Loopback is not enough: a web page can POST to 127.0.0.1 (CSRF) or reach it under its own name (DNS
rebinding). So every request, the OpenAPI description too, must name this port in Host, come from no
other Origin, and carry the token, which only the owner of DATA/up.json can read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from pathlib import Path
from typing import Annotated, Callable

import anyio
import duckdb
import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pingpipe import loopback, utc
from pingpipe.loader.writers.duckdb import cursor as duckdb_cursor

from . import warehouse
from .client import MAX_SQL_BYTES, STATE_FILE, TOKEN_HEADER

READ_SECONDS = loopback.READ_SECONDS  # for a request's head and body: SQL from this machine arrives in milliseconds
TEXT_BODY = {"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}}


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
        replay: Callable[..., dict] | None = None,
        trace: Callable[[str], dict] | None = None,
        stats: Callable[[dt.date, str | None], dict] | None = None,
    ):
        """`cycle(day)` runs the daily cycle for a day (POST /cycle); `rules` are the user-id rules `up`
        shreds with; `etl(day, only, sql)` runs the day's queries (POST /etl); `shred(dry_run, rules)`
        shreds as `up` does (POST /shred), else cycle.shred_warehouse; `replay(selection, dry_run,
        cycle_days)` replays error rows (POST /replay). OSError if the port is taken."""
        # Users' SQL runs on the writer's DuckDB instance, closed to the outside as it opened (`connect`);
        # warehouse.run_query checks that before each query.
        self.token = secrets.token_urlsafe(32)
        sock = loopback.bind("127.0.0.1", port)
        self.port = sock.getsockname()[1]
        routes = Routes(writer, status_extra, cycle, rules, etl, shred, replay, trace, stats)
        self.serving = loopback.Serving(api(routes, self.port, self.token), sock, "admin", JSONErrors)

    def start(self) -> None:
        self.serving.start()

    def close(self) -> None:
        self.serving.close()

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
    """A request answered with `code` and {"error": message}, and its connection closed."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.headers = headers or {}


def check_request(headers: Headers, port: int, token: str) -> None:
    """Refuse (403) a request not meant for this port by its owner: another Host (DNS rebinding),
    another Origin (a web page's cross-site POST), no token or another one."""
    ours = loopback.our_hosts(port)
    if (host := loopback.foreign_host(headers, ours)) is not None:
        raise Refused(403, f"refused: Host {host} is not this admin port")
    origins = {f"http://{h}" for h in ours}
    for origin in headers.getlist("origin"):
        if origin.strip().lower() not in origins:
            raise Refused(403, "refused: a request from another origin")
    if not loopback.same_secret(headers.get(TOKEN_HEADER) or "", token):
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


async def read_body(request: Request, limit: int = MAX_SQL_BYTES) -> bytes:
    """The body, refused unread when its length is wrong or over `limit`; whole within READ_SECONDS
    (a slow drip is cut off too)."""
    content_length(request.headers.get("content-length"), limit)
    try:
        with anyio.fail_after(READ_SECONDS):
            return await request.body()
    except TimeoutError:
        raise Refused(408, f"the query did not arrive within {READ_SECONDS:g} s") from None
    except ClientDisconnect:
        raise Refused(400, "the body ended before its Content-Length") from None


def answer(body: dict) -> Response:
    """A route's answer; the connection closed after it, as every client asks once per connection."""
    return Response(warehouse.dumps(body), media_type="application/json", headers={"Connection": "close"})


def day_of(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Refused(400, f"not a date: {text!r} (YYYY-MM-DD)") from None


class Routes:
    """What each route does; every refusal is a Refused."""

    def __init__(self, writer, status_extra, cycle=None, rules=None, etl=None, shred=None, replay=None, trace=None, stats=None):
        self.writer = writer
        self.run_trace = trace
        self.run_stats = stats
        self.status_extra = status_extra
        self.run_cycle = cycle
        self.rules = rules
        self.run_etl = etl
        self.run_shred = shred
        self.run_replay = replay

    def status(self) -> Response:
        return answer({**self.status_extra(), **warehouse.status(self.writer.con)})  # the last cycle as recorded in the file

    def audit(self, deep: Annotated[str, Query(description="1: every byte under the data folder too")] = "") -> Response:
        if deep == "1":
            from pingpipe.privacy.audit import deep as scan

            found = scan(self.writer.con, Path(self.writer.path).parent, duckdb_cursor)
            return answer({"deep": found.lines(), "kept": found.kept, "files": found.files, "recorded": found.recorded})
        from pingpipe.privacy.audit import audit

        findings = audit(self.writer.con, duckdb_cursor)
        return answer({"findings": findings.lines(), "rows": findings.scanned})

    async def query(self, request: Request) -> Response:
        sql = (await read_body(request)).decode("utf-8", "replace")
        return await run_in_threadpool(self.read_only, sql)  # a large answer is serialized off the event loop too

    def read_only(self, sql: str) -> Response:
        try:
            return answer(warehouse.run_query(self.writer.con, sql))
        except warehouse.QueryError as exc:
            raise Refused(400, str(exc)) from None

    def dedupe(self, date: Annotated[str, Query(description="YYYY-MM-DD")] = "") -> Response:
        from .cycle import copy_deduplicate

        day = day_of(date)
        try:
            return answer({"kept": copy_deduplicate(self.writer, day)})
        except duckdb.Error as exc:
            raise Refused(400, str(exc)) from None

    def cycle(self, date: Annotated[str, Query(description="YYYY-MM-DD, a day that has ended (UTC)")] = "") -> Response:
        day = day_of(date)
        if problem := utc.not_ended(day):
            raise Refused(400, problem)
        return answer(self.run_cycle(day))

    async def etl(
        self,
        request: Request,
        date: Annotated[str, Query(description="YYYY-MM-DD")] = "",
        table: Annotated[list[str] | None, Query(description="only these tables (and what they read)")] = None,
    ) -> Response:
        sql = (await read_body(request)).decode("utf-8", "replace")
        day = day_of(date)
        only = set(table) if table is not None else None
        return await run_in_threadpool(lambda: answer(self.run_etl(day, only, sql or None)))

    async def shred(
        self,
        request: Request,
        dry_run: Annotated[str, Query(description="1: count, delete nothing")] = "",
        full: Annotated[str, Query(description="1: every partition, not only the new requests' and recent ones")] = "",
    ) -> Response:
        from pingpipe.privacy.shred import RulesError, load_rules, parse_rules

        extra = await read_body(request)
        try:  # the caller's own rules (shred --user-ids), before up's
            mine = parse_rules(extra.decode("utf-8", "replace"), "--user-ids") if extra else []
        except RulesError as exc:
            raise Refused(400, str(exc)) from None
        mine += load_rules() if self.rules is None else self.rules
        return await run_in_threadpool(self.shredded, dry_run == "1", mine, full == "1")

    def shredded(self, dry_run: bool, rules: list, full: bool) -> Response:
        from .cycle import shred_warehouse

        if self.run_shred is not None:
            return answer(self.run_shred(dry_run, rules, full))
        return answer(shred_warehouse(self.writer, dry_run=dry_run, rules=rules, full=full))

    async def replay(
        self,
        since: Annotated[str, Query(description="YYYY-MM-DD: submitted on or after")] = "",
        until: Annotated[str, Query(description="YYYY-MM-DD: submitted on or before")] = "",
        namespace: Annotated[list[str] | None, Query()] = None,
        doctype: Annotated[list[str] | None, Query()] = None,
        error_type: Annotated[list[str] | None, Query()] = None,
        dry_run: Annotated[str, Query(description="1: say what it would do")] = "",
        no_cycle: Annotated[str, Query(description="1: leave the replayed days' cycles to the caller")] = "",
        schemas: Annotated[str, Query(description="with dry_run: decode with this schema folder, not up's")] = "",
    ) -> Response:
        from pingpipe.schemas.registry import RegistryError

        from .replay import Selection

        for day in (since, until):
            if day:
                day_of(day)
        if schemas and dry_run != "1":
            raise Refused(400, "schemas: only a dry run replays with other schemas than up's")
        selection = Selection.from_query(since, until, namespace or [], doctype or [], error_type or [])

        def run() -> Response:
            try:
                return answer(self.run_replay(selection, dry_run == "1", no_cycle != "1", Path(schemas) if schemas else None))
            except RegistryError as exc:
                raise Refused(400, str(exc)) from None

        return await run_in_threadpool(run)

    def trace(self, id: Annotated[str, Query(description="the document id")] = "") -> Response:
        if not id or len(id) > 200:
            raise Refused(400, "id: give a document id")
        return answer(self.run_trace(id))

    def stats(
        self,
        date: Annotated[str, Query(description="YYYY-MM-DD (UTC)")] = "",
        by: Annotated[str, Query(description="namespace, doctype or table")] = "",
    ) -> Response:
        from .stats import BY

        if by and by not in BY:
            raise Refused(400, f"by: one of {', '.join(BY)}")
        return answer(self.run_stats(day_of(date), by or None))


def api(routes: Routes, port: int, token: str) -> FastAPI:
    """The admin API: its routes behind the Guard (no interactive docs: they would load scripts from a CDN)."""
    app = FastAPI(title="pingpipe up admin", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.add_api_route("/status", routes.status, methods=["GET"])
    app.add_api_route("/audit", routes.audit, methods=["GET"])
    app.add_api_route("/query", routes.query, methods=["POST"], openapi_extra=TEXT_BODY)
    app.add_api_route("/dedupe", routes.dedupe, methods=["POST"])
    if routes.run_cycle is not None:
        app.add_api_route("/cycle", routes.cycle, methods=["POST"])
    if routes.run_etl is not None:
        app.add_api_route("/etl", routes.etl, methods=["POST"], openapi_extra=TEXT_BODY)
    app.add_api_route("/shred", routes.shred, methods=["POST"], openapi_extra=TEXT_BODY)
    if routes.run_replay is not None:
        app.add_api_route("/replay", routes.replay, methods=["POST"])
    if routes.run_trace is not None:
        app.add_api_route("/trace", routes.trace, methods=["GET"])
    if routes.run_stats is not None:
        app.add_api_route("/stats", routes.stats, methods=["GET"])
    app.add_exception_handler(HTTPException, http_refusal)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_middleware(Guard, port=port, token=token)
    return app


async def http_refusal(request: Request, exc: HTTPException) -> Response:
    """Starlette's own refusals (no such route, another method) as this API's: {"error"}, closed."""
    message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    raise Refused(exc.status_code, message, dict(exc.headers or {}))


async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    raise Refused(400, f"invalid request: {exc.errors()[0].get('msg', exc) if exc.errors() else exc}")


class Guard:
    """Before any route: check_request. After: a Refused, or a bug, answered as {"error"} and closed
    (a bug answers, rather than dropping the connection)."""

    def __init__(self, app: ASGIApp, port: int, token: str):
        self.app = app
        self.port = port
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        receive = loopback.tracking(scope, receive)
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            check_request(Headers(scope=scope), self.port, self.token)
            await self.app(scope, receive, sending)
        except Refused as exc:
            if not started:
                await refuse(scope, receive, send, exc.code, str(exc), exc.headers)
        except Exception as exc:  # noqa: BLE001 - a bug answers, rather than dropping the connection
            if not started:
                await refuse(scope, receive, send, 500, f"{type(exc).__name__}: {exc}")


async def refuse(scope: Scope, receive: Receive, send: Send, code: int, message: str, headers: dict | None = None) -> None:
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await loopback.closing(scope, receive, send, code, b"application/json", orjson.dumps({"error": message}), extra)


class JSONErrors(loopback.Protocol):
    """A request that is not HTTP gets {"error"} too."""

    content_type = b"application/json"

    def error_body(self, message: str) -> bytes:
        return orjson.dumps({"error": message})
