"""HTTPS on the edge: a connection from its accept to the end of its TLS handshake.

The event loop's own TLS (`create_server(ssl=…)`) hands a connection to the HTTP protocol only
once its handshake is done, so none of the protocol's limits hold before that: a client that
opens a connection and never finishes (or never starts) its handshake keeps a descriptor for a
minute, and enough of them starve the queue. Here the handshake is a phase like the headers:
- the descriptor reserve is checked when the connection is accepted (beyond it, closed at once);
- from the accept to the end of the handshake it has `header_timeout` seconds;
- a connection whose first byte is not a TLS record (plain HTTP sent to the HTTPS port) is
  answered 400 in plain text saying to use https, as nginx does, instead of nothing.
Then the loop's TLS layer (uvloop's, or asyncio's) carries the connection to EdgeProtocol.
"""

from __future__ import annotations

import asyncio
import resource
import ssl
import time

from .config import EdgeConfig, tls_context
from .protocol import EdgeProtocol, descriptor

_HANDSHAKE = 0x16  # the content type of the TLS record every handshake starts with
_ALPN = ["http/1.1"]
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
)
PLAIN_HTTP_TEXT = b"This port speaks HTTPS only: the request was sent as plain HTTP. Use https:// in the URL.\n"
_contexts: dict[tuple[str, str], ssl.SSLContext] = {}


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """The server's TLS context, made once per process and certificate."""
    context = _contexts.get((cert, key))
    if context is None:
        context = tls_context(cert, key)  # the pair was checked at start-up (EdgeConfig.check)
        context.set_alpn_protocols(_ALPN)
        context = _contexts[(cert, key)] = context
    return context


def _ssl_protocol_class(loop):
    """The loop's own TLS protocol: uvloop's runs in C, asyncio's is for any other loop."""
    try:
        import uvloop
        from uvloop.loop import SSLProtocol
    except ImportError:
        uvloop = None
    if uvloop is not None and isinstance(loop, uvloop.Loop):
        return SSLProtocol
    from asyncio.sslproto import SSLProtocol

    return SSLProtocol


def _feed(protocol, data: bytes) -> None:
    """Hand bytes already read to a buffered protocol, as the transport would have."""
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


class TLSEdgeProtocol(asyncio.Protocol):
    """The edge's protocol for HTTPS: uvicorn makes one per accepted connection, as it would
    EdgeProtocol, which takes over once the handshake is done."""

    def __init__(self, config, server_state, app_state, _loop=None):
        self.loop = _loop or asyncio.get_event_loop()
        self.http = EdgeProtocol(config=config, server_state=server_state, app_state=app_state, _loop=_loop)
        submit = self.http.submit
        edge: EdgeConfig = submit.config if submit is not None else EdgeConfig()
        self.context = server_context(str(edge.tls_cert), str(edge.tls_key))
        self.timeout = edge.header_timeout
        self.fd_reserve = edge.fd_reserve
        self.metrics = self.http.metrics
        self.transport = None
        self.deadline = None
        self.started = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        if descriptor(transport) >= resource.getrlimit(resource.RLIMIT_NOFILE)[0] - self.fd_reserve:
            self._count(503)  # nothing can be said before a handshake, and one costs what the queue needs
            transport.abort()
            return
        self.started = time.monotonic()
        self.deadline = self.loop.call_later(self.timeout, self._expired)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if data[0] != _HANDSHAKE:
            self._cancel()
            if data[:1].isalpha():  # a request line: an http:// URL for an https one
                self._count(400)
                transport.write(PLAIN_HTTP_ANSWER % (len(PLAIN_HTTP_TEXT), PLAIN_HTTP_TEXT))
                transport.close()
            else:
                transport.abort()
            return
        self._cancel()
        left = max(0.001, self.timeout - (time.monotonic() - self.started))
        tls = _ssl_protocol_class(self.loop)(self.loop, self.http, self.context, None, server_side=True, ssl_handshake_timeout=left)
        transport.pause_reading()
        transport.set_protocol(tls)
        tls.connection_made(transport)
        _feed(tls, data)
        if not transport.is_closing():
            transport.resume_reading()

    def eof_received(self):
        self._cancel()
        return False  # the transport closes

    def connection_lost(self, exc) -> None:
        self._cancel()

    def _expired(self) -> None:
        self.deadline = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _cancel(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _count(self, status: int) -> None:
        if self.metrics is not None:
            self.metrics.count(status)
