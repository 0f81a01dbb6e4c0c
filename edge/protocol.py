"""uvicorn's httptools protocol, with `/submit` answered in place.

For each request, uvicorn's ASGI path builds a scope, a RequestResponseCycle, an asyncio Event
and a Task, and moves the body and the answer through coroutines. Measured here, that costs
more than all of the edge's own work. A submission needs none of it. Its headers and body
arrive in the parser's callbacks, and the message goes to the publisher. The answer is written
when the publisher's future completes: an fsync, or a Pub/Sub ack.

Every other path (Dockerflow, 404s) still goes through the ASGI app. So does everything when
the app uvicorn loaded is not pingpipe's own, for example when uvicorn wraps it in a middleware
(proxy headers): then this class is plain uvicorn, and the middleware is never bypassed (the
limits below still hold, at EdgeConfig's defaults).

A connection's answers keep the order of its requests (HTTP/1.1 pipelining). Answers wait in a
queue and are written from its head as their futures complete. An ASGI request that comes after
submissions starts only once they are answered. A submission that comes while an ASGI request
runs goes through ASGI too, and uvicorn queues it behind.

No client decides how much the edge holds or for how long, on either path (this class parses
every request): the url and headers are counted as the parser's callbacks arrive (431, or 414
for the url), each phase of a request has a deadline (408), a connection beyond the descriptors
kept for the queue is turned away (503), and a refusal that leaves a body unread closes the
connection. A refusal is queued behind the answers before it, reading stops, and the connection
closes once it is written.
"""

from __future__ import annotations

import logging
import math
import resource
import time
import weakref
from collections import deque
from functools import partial

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .app import UNREAD_BODY
from .config import EdgeConfig
from .publish import failure_status

log = logging.getLogger("pingpipe.edge")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_PIPELINE_LIMIT = 16  # stop reading a connection with this many answers pending
_DEFAULTS = EdgeConfig()  # limits for an app that is not pingpipe's
# What a connection waits for, each with its deadline; 0: nothing (an answer is due, or it is closing).
_IDLE, _HEAD, _BODY = 1, 2, 3
_TICKS_PER_TIMEOUT = 8  # a deadline fires between 1 and 1 1/8 of its timeout


class _Stop(Exception):
    """Raised in a parser callback once the connection is refused: nothing after it is parsed."""


def small_body(headers: list[tuple[bytes, bytes]], limit: int) -> bool:
    """Whether a request's body is worth reading just to keep its connection: a length within the limit."""
    for name, value in headers:
        if name == b"transfer-encoding":
            return False
        if name == b"content-length":
            try:
                if int(value) > limit:
                    return False
            except ValueError:
                return False
    return True


def descriptor(transport) -> int:
    """The connection's file descriptor (-1 if unknown). Linux gives the lowest free one, so a high
    number means that every lower one is taken."""
    sock = transport.get_extra_info("socket")
    return sock.fileno() if sock is not None else -1


class _Clock:
    """One timer per server for every connection's deadlines.

    A request entering a phase stores the current tick (an int store: no timer handle, no
    allocation); every `period` seconds the clock ticks and each connection checks its phase.
    """

    def __init__(self, loop, connections: set, timeouts: tuple[float, float, float]):
        self.period = min(1.0, max(0.01, min(timeouts) / _TICKS_PER_TIMEOUT))
        self.limits = (0, *(math.ceil(t / self.period) for t in timeouts))  # ticks, by phase
        self.tick = 0
        self.loop = loop
        self.connections = connections
        self.running = False

    def start(self) -> None:
        if not self.running:
            self.running = True
            self.loop.call_later(self.period, self._sweep)

    def _sweep(self) -> None:
        self.tick += 1
        tick = self.tick
        for protocol in list(self.connections):
            if isinstance(protocol, EdgeProtocol):
                protocol.check_deadline(tick)
        if self.connections:
            self.loop.call_later(self.period, self._sweep)
        else:
            self.running = False  # no connection, no timer; the next connection starts it


_CLOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # uvicorn's ServerState -> its _Clock


class _Answer:
    __slots__ = ("status", "keep_alive", "attributes", "parts", "size", "started", "cors")

    def __init__(self, status: int | None, keep_alive: bool, cors: bytes = b""):
        self.status = status  # None until decided
        self.keep_alive = keep_alive
        self.cors = cors  # the answer's CORS header lines (cors.py)
        self.attributes: dict[str, str] | None = None
        self.parts: list[bytes] = []
        self.size = 0
        self.started = 0.0


class EdgeProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.submit = getattr(self.app, "pingpipe_submit", None)
        self.metrics = self.submit.metrics if self.submit is not None else None
        self.answers: deque[_Answer] = deque()
        self.receiving: _Answer | None = None  # the submission whose body is arriving
        self.fast = False  # whether the request being parsed is answered here
        self.deferred = None  # an ASGI request waiting for the submissions before it
        self.closing = False
        self._heads: dict[tuple[int, bool], bytes] = {}
        self._heads_for = None
        config = self.submit.config if self.submit is not None else _DEFAULTS
        self.max_url = config.max_url_bytes
        self.max_head = config.max_header_bytes
        self.url_limit = min(config.max_url_bytes, config.max_header_bytes)
        # The parser holds a header line unseen until it ends: the raw bytes of an unfinished head
        # are bounded too, at twice the counted limit (framing, whitespace).
        self.max_head_raw = 2 * config.max_header_bytes
        self.max_headers = config.max_headers
        self.max_body = config.max_body_bytes
        self.fd_reserve = config.fd_reserve
        clock = _CLOCKS.get(self.server_state)
        if clock is None:
            timeouts = (self.timeout_keep_alive, config.header_timeout, config.body_timeout)
            clock = _CLOCKS[self.server_state] = _Clock(self.loop, self.connections, timeouts)
        self.clock = clock
        self.phase = 0
        self.since = 0  # the clock's tick when the phase began
        self.head_size = 0  # url + header names and values of the request being parsed
        self.head_raw = 0  # bytes received since the last head ended
        self.refused = False  # reading has stopped: the connection closes after its last answer
        self.after_asgi: int | None = None  # a refusal waiting for the ASGI requests before it

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.phase, self.since = _IDLE, self.clock.tick
        self.clock.start()
        if descriptor(transport) >= resource.getrlimit(resource.RLIMIT_NOFILE)[0] - self.fd_reserve:
            self._turn_away()

    def data_received(self, data: bytes) -> None:
        """uvicorn's, but a malformed request's 400 waits for the answers before it, and the raw
        bytes of an unfinished head are bounded."""
        if self.refused:
            self.flow.pause_reading()  # resumed by an ASGI receive(): read nothing more
            return
        self._unset_keepalive_if_required()
        if self.phase != _BODY:
            self.head_raw += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if not self.refused:  # malformed, not stopped by a callback
                cause = exc.__context__
                if cause is not None and not isinstance(cause, _Stop):
                    log.error("a parser callback failed", exc_info=cause)
                else:
                    self.logger.warning("Invalid HTTP request received.")
                self._refuse(400)
            return
        if self.head_raw > self.max_head_raw:
            self._refuse(431)

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.phase, self.since = _HEAD, self.clock.tick
        self.head_size = 0
        if self.submit is None:
            return super().on_message_begin()
        self.url = b""
        self.headers = []
        self.expect_100_continue = False
        self.fast = False

    def on_url(self, url: bytes) -> None:
        self.url += url
        size = self.head_size + len(url)
        self.head_size = size
        if size > self.url_limit:
            self._refuse(414 if size > self.max_url else 431)
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self.head_size + len(name) + len(value)
        self.head_size = size
        headers = self.headers
        if size > self.max_head or len(headers) >= self.max_headers:
            self._refuse(431)
            raise _Stop
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.phase, self.since = _BODY, self.clock.tick
        self.head_raw = 0
        if self.submit is None:
            super().on_headers_complete()
            return self._close_after_large_body()
        parsed = httptools.parse_url(self.url)
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy or not parsed.path.startswith(b"/submit") or self.parser.should_upgrade():
            # uvicorn's ASGI path: build the scope its on_message_begin would have built.
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers
            super().on_headers_complete()
            return self._close_after_large_body()
        self.fast = True
        parser = self.parser
        http_version = parser.get_http_version()
        method = parser.get_method()
        submit = self.submit
        if method == b"OPTIONS":  # a browser's preflight: answered here, never queued
            status, extra = submit.cors.preflight(parsed.path, self.headers)
            attributes, cors = None, b"".join(name + b": " + value + b"\r\n" for name, value in extra)
        else:
            status, attributes, _ = submit.head(method.decode("ascii"), parsed.path, parsed.query, self.headers, http_version, self.client)
            cors = submit.cors.header_lines(self.headers)
        answer = _Answer(None, http_version != "1.0" and parser.should_keep_alive() and not self.closing, cors)
        self.answers.append(answer)
        if status != 200:
            answer.status = status
            self.receiving = None
            if status in UNREAD_BODY or self.expect_100_continue or not small_body(self.headers, self.max_body):
                # The body is not worth reading (an expecting client may or may not send it): answer, then close.
                answer.keep_alive = False
                self._stop_reading()
                self._write_ready()
                raise _Stop
            self._write_ready()  # any body is read and dropped
            return
        answer.attributes = attributes
        answer.started = time.perf_counter()
        self.receiving = answer
        if self.expect_100_continue and len(self.answers) == 1:  # never ahead of an earlier request's answer
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if not self.fast:
            return super().on_body(body)
        if self.receiving is not None:
            self.receiving.parts.append(body)

    def on_message_complete(self) -> None:
        self.phase = 0
        if not self.fast:
            return super().on_message_complete()
        answer, self.receiving = self.receiving, None
        if answer is None:
            return
        parts = answer.parts
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        answer.parts = []  # the publisher has its own copy (the encoded line)
        answer.size = len(body)
        try:
            future = self.submit.publisher.start_publish(body, answer.attributes)
        except Exception as exc:
            answer.status = failure_status(exc)
            if answer.status == 500:
                log.exception("could not make a message safe")
        else:
            future.add_done_callback(partial(self._published, answer))
            if len(self.answers) >= _PIPELINE_LIMIT:
                self.flow.pause_reading()
            return
        self._write_ready()

    # -- limits ---------------------------------------------------------------------------------

    def check_deadline(self, tick: int) -> None:
        """Called by the clock: close a connection idle too long, answer 408 to a request too slow."""
        phase = self.phase
        if not phase or tick - self.since <= self.clock.limits[phase] or self.transport.is_closing():
            return
        if self.flow.read_paused:
            self.since = tick  # the edge stopped reading, not the client
        elif phase == _IDLE:
            self.phase = 0
            self.transport.close()
        else:
            self._refuse(408)

    def _close_after_large_body(self) -> None:
        """An ASGI request with a large body (or one of unknown length) closes its connection after
        its answer: an app that answers without reading the body must not leave the edge reading it."""
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and not small_body(self.headers, self.max_body):
            cycle.keep_alive = False

    def _turn_away(self) -> None:
        """Answer 503 and close at once: the descriptors left are the queue's."""
        self._stop_reading()
        if self.metrics is not None:
            self.metrics.count(503)
        self.transport.write(self._head(503, False))
        self.transport.close()

    def _stop_reading(self) -> None:
        self.refused = True
        self.phase = 0
        self.flow.pause_reading()

    def _refuse(self, status: int) -> None:
        """Answer the request being read with `status` after the answers before it, then close; read nothing more."""
        in_body = self.phase == _BODY
        self._stop_reading()
        if not in_body:
            self._answer_last(status)
        elif self.fast:
            self._refuse_submission_body(status)
        else:
            self._refuse_asgi_body(status)

    def _answer_last(self, status: int) -> None:
        """`status` as the connection's last answer, after the ASGI requests and submissions before it."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.disconnected:
            self.after_asgi = status  # written by on_response_complete
            return
        self.answers.append(_Answer(status, False))
        self._write_ready()

    def _refuse_submission_body(self, status: int) -> None:
        answer = self.receiving
        if answer is not None:
            self.receiving = None
            answer.parts = []
            answer.status, answer.keep_alive = status, False
            self._write_ready()
        elif self.answers:  # answered before its body (a refusal being drained): close after that answer
            self.answers[-1].keep_alive = False
        else:
            self.transport.close()

    def _refuse_asgi_body(self, status: int) -> None:
        cycle = self.cycle
        if cycle.response_started:  # the app answered without waiting for the body
            if cycle.response_complete:
                self.transport.close()
            else:
                cycle.keep_alive = False
            return
        cycle.disconnected = True  # the app, if it runs, sees http.disconnect and writes nothing
        cycle.message_event.set()
        if self.deferred is not None and self.deferred[0] is cycle:
            self.deferred = None
        queued = next((entry for entry in self.pipeline if entry[0] is cycle), None)
        if queued is not None:
            self.pipeline.remove(queued)
            self.after_asgi = status
        else:
            self.answers.append(_Answer(status, False))
            self._write_ready()

    # -- answers ------------------------------------------------------------------------------

    def _published(self, answer: _Answer, future) -> None:
        exc = future.exception() if not future.cancelled() else None
        if exc is None and not future.cancelled():
            answer.status = 200
            if self.metrics is not None:
                self.metrics.observe_publish(time.perf_counter() - answer.started, answer.size)
        else:
            answer.status = failure_status(exc) if exc is not None else 500
            if answer.status == 500 and exc is not None:
                log.error("could not make a message safe", exc_info=exc)
        self._write_ready()

    def _head(self, status: int, keep_alive: bool, cors: bytes = b"") -> bytes:
        """The status line and headers (uvicorn's defaults, e.g. Date, included), cached until they change.
        The CORS lines are few distinct values (`*`, or an allowed origin), so they are part of the key."""
        defaults = self.server_state.default_headers
        if defaults is not self._heads_for:
            self._heads, self._heads_for = {}, defaults
        head = self._heads.get((status, keep_alive, cors))
        if head is None:
            lines = [STATUS_LINE[status]]
            lines += [name + b": " + value + b"\r\n" for name, value in defaults]
            if status == 405:
                lines.append(b"allow: POST, PUT\r\n")
            lines.append(cors)
            if status != 204:  # a 204 has no Content-Length (RFC 9110)
                lines.append(b"content-length: 0\r\n")
            if not keep_alive:
                lines.append(b"connection: close\r\n")
            head = self._heads[(status, keep_alive, cors)] = b"".join(lines) + b"\r\n"
        return head

    def _write_ready(self) -> None:
        """Write the answers at the head of the queue that are decided, in request order."""
        answers = self.answers
        transport = self.transport
        while answers and answers[0].status is not None:
            answer = answers.popleft()
            if self.metrics is not None:
                self.metrics.count(answer.status)
            self.server_state.total_requests += 1
            if transport.is_closing():
                continue  # the client left; a published message stays published
            transport.write(self._head(answer.status, answer.keep_alive, answer.cors))
            if not answer.keep_alive:
                transport.close()
        if answers or transport.is_closing():
            return
        if not self.refused:
            self.flow.resume_reading()
        if self.deferred is not None:
            cycle, app = self.deferred
            self.deferred = None
            super()._start_asgi_task(cycle, app)
        elif not self.phase and not self.refused and (self.cycle is None or self.cycle.response_complete):
            # Idle: the keep-alive timeout runs on the clock, so an answer costs no timer handle.
            self.phase, self.since = _IDLE, self.clock.tick

    # -- uvicorn hooks --------------------------------------------------------------------------

    def _start_asgi_task(self, cycle, app) -> None:
        if self.answers:  # submissions before it are still unanswered
            self.deferred = (cycle, app)
        else:
            super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        if self.after_asgi is None:
            super().on_response_complete()
            if self.timeout_keep_alive_task is not None and not self.phase:  # idle: uvicorn armed its timer
                self.phase, self.since = _IDLE, self.clock.tick  # which a client's CRLFs would cancel
            return
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.pipeline:  # uvicorn's, without resuming reading
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        status, self.after_asgi = self.after_asgi, None
        self.answers.append(_Answer(status, False))
        self._write_ready()

    def shutdown(self) -> None:
        """Graceful shutdown: pending submissions are answered first, then the connection closes."""
        if self.answers:
            self.closing = True
            for answer in self.answers:
                answer.keep_alive = False
        else:
            super().shutdown()
