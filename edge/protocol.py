"""uvicorn's httptools protocol, with `/submit` answered in place.

For each request, uvicorn's ASGI path builds a scope, a RequestResponseCycle, an asyncio Event
and a Task, and moves the body and the answer through coroutines. Measured here, that costs
more than all of the edge's own work. A submission needs none of it. Its headers and body
arrive in the parser's callbacks, and the message goes to the publisher. The answer is written
when the publisher's future completes: an fsync, or a Pub/Sub ack.

Every other path (Dockerflow, 404s) still goes through the ASGI app. So does everything when
the app uvicorn loaded is not pingpipe's own, for example when uvicorn wraps it in a middleware
(proxy headers): then this class is plain uvicorn, and the middleware is never bypassed.

A connection's answers keep the order of its requests (HTTP/1.1 pipelining). Answers wait in a
queue and are written from its head as their futures complete. An ASGI request that comes after
submissions starts only once they are answered. A submission that comes while an ASGI request
runs goes through ASGI too, and uvicorn queues it behind.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from functools import partial

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .publish import StorageFull

log = logging.getLogger("pingpipe.edge")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_PIPELINE_LIMIT = 16  # stop reading a connection with this many answers pending


class _Answer:
    __slots__ = ("status", "keep_alive", "attributes", "parts", "size", "started")

    def __init__(self, status: int | None, keep_alive: bool):
        self.status = status  # None until decided
        self.keep_alive = keep_alive
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

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.submit is None:
            return super().on_message_begin()
        self.url = b""
        self.headers = []
        self.expect_100_continue = False
        self.fast = False

    def on_headers_complete(self) -> None:
        if self.submit is None:
            return super().on_headers_complete()
        parsed = httptools.parse_url(self.url)
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy or not parsed.path.startswith(b"/submit") or self.parser.should_upgrade():
            # uvicorn's ASGI path: build the scope its on_message_begin would have built.
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers
            return super().on_headers_complete()
        self.fast = True
        parser = self.parser
        http_version = parser.get_http_version()
        status, attributes, _ = self.submit.head(parser.get_method().decode("ascii"), parsed.path, parsed.query,
                                                 self.headers, http_version, self.client)
        answer = _Answer(None, http_version != "1.0" and parser.should_keep_alive() and not self.closing)
        self.answers.append(answer)
        if status != 200:
            if self.expect_100_continue:
                answer.keep_alive = False  # the client may or may not send the body now: do not guess
            answer.status = status
            self.receiving = None  # any body is read and dropped
            self._write_ready()
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
        except StorageFull:
            answer.status = 507
        except Exception:
            log.exception("could not make a message safe")
            answer.status = 500
        else:
            future.add_done_callback(partial(self._published, answer))
            if len(self.answers) >= _PIPELINE_LIMIT:
                self.flow.pause_reading()
            return
        self._write_ready()

    # -- answers ------------------------------------------------------------------------------

    def _published(self, answer: _Answer, future) -> None:
        exc = future.exception() if not future.cancelled() else None
        if exc is None and not future.cancelled():
            answer.status = 200
            if self.metrics is not None:
                self.metrics.observe_publish(time.perf_counter() - answer.started, answer.size)
        elif isinstance(exc, StorageFull):
            answer.status = 507
        else:
            if exc is not None:
                log.error("could not make a message safe", exc_info=exc)
            answer.status = 500
        self._write_ready()

    def _head(self, status: int, keep_alive: bool) -> bytes:
        """The status line and headers (uvicorn's defaults, e.g. Date, included), cached until they change."""
        defaults = self.server_state.default_headers
        if defaults is not self._heads_for:
            self._heads, self._heads_for = {}, defaults
        head = self._heads.get((status, keep_alive))
        if head is None:
            lines = [STATUS_LINE[status]]
            lines += [name + b": " + value + b"\r\n" for name, value in defaults]
            if status == 405:
                lines.append(b"allow: POST, PUT\r\n")
            lines.append(b"content-length: 0\r\n")
            if not keep_alive:
                lines.append(b"connection: close\r\n")
            head = self._heads[(status, keep_alive)] = b"".join(lines) + b"\r\n"
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
            transport.write(self._head(answer.status, answer.keep_alive))
            if not answer.keep_alive:
                transport.close()
        if answers or transport.is_closing():
            return
        self.flow.resume_reading()
        if self.deferred is not None:
            cycle, app = self.deferred
            self.deferred = None
            super()._start_asgi_task(cycle, app)
        elif self.cycle is None or self.cycle.response_complete:
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    # -- uvicorn hooks --------------------------------------------------------------------------

    def _start_asgi_task(self, cycle, app) -> None:
        if self.answers:  # submissions before it are still unanswered
            self.deferred = (cycle, app)
        else:
            super()._start_asgi_task(cycle, app)

    def shutdown(self) -> None:
        """Graceful shutdown: pending submissions are answered first, then the connection closes."""
        if self.answers:
            self.closing = True
            for answer in self.answers:
                answer.keep_alive = False
        else:
            super().shutdown()
