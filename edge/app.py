"""The edge ASGI application.

`/submit/...` is served by a raw ASGI handler in front of Starlette: it is the hot path, and a
framework's per-route machinery (request objects, routing, response classes) costs several times
more than the work itself. Everything else (the Dockerflow endpoints) is a plain Starlette app:
three routes need no more, and the edge starts without FastAPI's import. The handler never
parses or decompresses the body ("don't crack the egg").

Status codes follow Mozilla's edge specification: 405 for methods other than POST/PUT, 414 for
a path over the limit, 400 for an undecodable path, 404 for a path of the wrong form, 411 without
Content-Length (chunked bodies included: clients must send a length), 413 for a body over the
limit, 431 for an attribute over 1024 bytes, 507 when the disk is below its floor (or full), 503
when the edge is out of descriptors, 500 when the message could not be made safe otherwise, and 200
only once it is. Answers that leave the body unread (411, 413, 414, 431) close the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pingpipe import utc
from pingpipe.schemas.names import SUBMISSION_TIMESTAMP, URI

from .config import EdgeConfig
from .cors import Cors
from .metrics import EdgeMetrics
from .publish import Publisher, failure_status
from .uri import check_submit_path

log = logging.getLogger("pingpipe.edge")

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    411: b"Length Required",
    413: b"Payload Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
    507: b"Insufficient Storage",
}
UNREAD_BODY = frozenset({411, 413, 414, 431})  # answered without reading the body, so the connection closes
# Empty bodies, as Mozilla's edge answers: the status says it all, and an empty body saves a
# socket write per request (uvicorn writes the header block and a non-empty body separately).
_STARTS = {
    code: {
        "type": "http.response.start",
        "status": code,
        "headers": [(b"content-length", b"0")] + ([(b"connection", b"close")] if code in UNREAD_BODY else []),
    }
    for code in _REASONS
}
_EMPTY = {"type": "http.response.body", "body": b""}
_ALLOW = {"type": "http.response.start", "status": 405, "headers": [(b"allow", b"POST, PUT"), (b"content-length", b"0")]}


def build_publisher(config: EdgeConfig, metrics: EdgeMetrics | None) -> Publisher:
    if config.uses_pubsub:
        from .publish.pubsub import PubSubPublisher

        return PubSubPublisher(
            config.routes,
            spool_dir=config.spool_dir,
            publish_timeout=config.publish_timeout,
            min_free_bytes=config.min_free_bytes,
            flush_interval=config.flush_interval,
            max_bytes=config.segment_max_bytes,
            max_age=config.segment_max_age,
            fsync=config.fsync,
            metrics=metrics,
            shutdown_flush_seconds=config.shutdown_flush_seconds,
        )
    from .publish.localqueue import LocalQueuePublisher

    return LocalQueuePublisher(
        config.spool_dir,
        min_free_bytes=config.min_free_bytes,
        max_bytes=config.segment_max_bytes,
        max_age=config.segment_max_age,
        fsync=config.fsync,
    )


def header_text(raw: bytes) -> str:
    """A header value or query string as text: UTF-8 (what clients send), else latin-1, which
    maps every byte to a character, so no byte is lost."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def version_info(config: EdgeConfig) -> dict:
    """Dockerflow's version object: version.json if deployed with one, else the package's."""
    path = config.version_file or Path(os.environ.get("PINGPIPE_VERSION_FILE", "version.json"))
    if path.is_file():
        return json.loads(path.read_text())
    try:
        pkg = version("pingpipe")
    except PackageNotFoundError:  # pragma: no cover
        pkg = "unknown"
    return {
        "source": "https://github.com/pingpipe/pingpipe",
        "version": pkg,
        "commit": os.environ.get("PINGPIPE_COMMIT", "unknown"),
        "build": os.environ.get("PINGPIPE_BUILD", ""),
    }


class SubmitHandler:
    """The raw ASGI `/submit` handler."""

    def __init__(self, config: EdgeConfig, publisher: Publisher, metrics: EdgeMetrics | None):
        self.config = config
        self.publisher = publisher
        self.metrics = metrics
        self.header_names = config.header_attributes()
        self.max_body = config.max_body_bytes
        self.max_uri = config.max_uri_bytes
        self.max_attr = config.max_attribute_bytes
        self.check_routes = config.uses_pubsub
        self.protocols = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "2": "HTTP/2"}
        self.cors = Cors(tuple(config.cors_origins), config.cors_max_age)

    async def _respond(self, send, code: int, cors: bytes = b"") -> None:
        if self.metrics is not None:
            self.metrics.count(code)
        start = _ALLOW if code == 405 else _STARTS[code]
        if cors:  # the answer's CORS lines (cors.py), as headers
            pairs = [line.split(b": ", 1) for line in cors.split(b"\r\n") if line]
            start = {**start, "headers": start["headers"] + [(name, value) for name, value in pairs]}
        await send(start)
        await send(_EMPTY)

    async def _preflight(self, send, raw_path: bytes, headers) -> None:
        status, extra = self.cors.preflight(raw_path, headers)
        if self.metrics is not None:
            self.metrics.count(status)
        base = (
            _ALLOW
            if status == 405
            else _STARTS.get(status)
            or {"type": "http.response.start", "status": status, "headers": [] if status == 204 else [(b"content-length", b"0")]}
        )
        await send({**base, "headers": base["headers"] + extra})
        await send(_EMPTY)

    def head(
        self, method: str, raw_path: bytes, query: bytes | None, headers, http_version: str, client
    ) -> tuple[int, dict[str, str] | None, int]:
        """Everything decided before the body: (status, the message's attributes, Content-Length).

        A status other than 200 is the answer, and the body need not be read. Shared by the ASGI
        handler below and the uvicorn protocol (protocol.py), so both answer alike.
        """
        if method != "POST" and method != "PUT":
            return 405, None, 0
        if len(raw_path) > self.max_uri:
            return 414, None, 0
        status = check_submit_path(raw_path)
        if status != 200:
            return status, None, 0
        if self.check_routes:
            status = self.publisher.route_status(raw_path.decode("ascii"), method)
            if status != 200:
                return status, None, 0
        # One pass over the headers: Content-Length, chunked bodies, and the kept attributes.
        attributes = {
            SUBMISSION_TIMESTAMP: utc.timestamp_at(),
            URI: raw_path.decode("ascii"),
            "protocol": self.protocols.get(http_version) or "HTTP/" + http_version,
            "method": method,
        }
        length = None
        header_names = self.header_names
        max_attr = self.max_attr
        for name, value in headers:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                return 411, None, 0
            attr = header_names.get(name)
            if attr is not None:
                if len(value) > max_attr:
                    return 431, None, 0
                try:  # header_text, inlined: this loop runs for every header of every submission
                    attributes[attr] = value.decode()
                except UnicodeDecodeError:
                    attributes[attr] = value.decode("latin-1")
        if length is None:
            return 411, None, 0
        try:
            expected = int(length)
        except ValueError:
            return 400, None, 0
        if expected < 0:
            return 400, None, 0
        if expected > self.max_body:
            return 413, None, 0
        if query:
            if len(query) > max_attr:
                return 431, None, 0
            attributes["args"] = header_text(query)
        if client:
            attributes["remote_addr"] = client[0]
        return 200, attributes, expected

    async def __call__(self, scope, receive, send) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        if scope["method"] == "OPTIONS":
            return await self._preflight(send, raw_path, scope["headers"])
        status, attributes, expected = self.head(
            scope["method"], raw_path, scope.get("query_string"), scope["headers"], scope.get("http_version", "1.1"), scope.get("client")
        )
        cors = self.cors.header_lines(scope["headers"])
        if status != 200:
            return await self._respond(send, status, cors)
        start = time.perf_counter()
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing was accepted, nothing is published
            chunk = message.get("body", b"")
            if chunk:
                body = body + chunk if body else chunk
                if len(body) > expected:
                    return await self._respond(send, 413, cors)
            if not message.get("more_body", False):
                break
        try:
            await self.publisher.publish(body, attributes)
        except Exception as exc:
            status = failure_status(exc)
            if status == 500:
                log.exception("could not make a message safe")
            return await self._respond(send, status, cors)
        if self.metrics is not None:
            self.metrics.observe_publish(time.perf_counter() - start, len(body))
        await self._respond(send, 200, cors)


async def http_error(_request, exc: HTTPException) -> Response:
    """Another path (404) or method (405) outside /submit: JSON, as the Dockerflow endpoints answer."""
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def create_app(config: EdgeConfig, *, publisher: Publisher | None = None, metrics: EdgeMetrics | None = None):
    """The ASGI app: raw /submit handler + Starlette for Dockerflow. The publisher starts with it."""
    metrics = metrics if metrics is not None else EdgeMetrics()
    publisher = publisher if publisher is not None else build_publisher(config, metrics)

    async def watch_backlog() -> None:
        while True:
            try:
                segments, size = await asyncio.get_running_loop().run_in_executor(None, publisher.backlog)
                metrics.queue_segments, metrics.queue_bytes = segments, size
                metrics.dump()
            except OSError as exc:  # e.g. EMFILE for a moment: the gauges wait for the next round
                log.warning("could not read the queue's backlog: %s", exc)
            await asyncio.sleep(1)

    @asynccontextmanager
    async def lifespan(_app):
        await publisher.start()
        watcher = asyncio.get_running_loop().create_task(watch_backlog())
        try:
            yield
        finally:
            watcher.cancel()
            await publisher.close()
            try:
                metrics.dump()  # the last counts, for whoever reads them (`pingpipe up`)
            except OSError as exc:
                log.warning("could not write the edge's counts: %s", exc)

    async def lbheartbeat(_request) -> Response:
        return Response(status_code=200)

    async def heartbeat(_request) -> Response:
        code, details = publisher.health()
        return JSONResponse({"status": "ok" if code == 200 else "error", "checks": details}, status_code=code)

    async def version_endpoint(_request) -> Response:
        return JSONResponse(version_info(config))

    routes = [Route("/__lbheartbeat__", lbheartbeat), Route("/__heartbeat__", heartbeat), Route("/__version__", version_endpoint)]
    api = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})

    submit = SubmitHandler(config, publisher, metrics)

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/submit"):
            await submit(scope, receive, send)
        else:
            await api(scope, receive, send)

    app.pingpipe_submit = submit  # protocol.py answers /submit with it, without the ASGI round trip
    app.publisher = publisher  # for tests and `pingpipe up`
    app.metrics = metrics
    return app
