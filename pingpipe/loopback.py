"""A loopback HTTP server of `up`'s (the admin port, the dictionary): an ASGI app served by uvicorn
on a thread of its own, and the checks both make before any route.

Why not Starlette's TrustedHostMiddleware: it drops the port and reads the first Host header only,
and a page on another port of this machine, or a request with two Hosts, must be refused too.
uvicorn runs its h11 protocol: it writes header names as the app spells them, as clients have
always seen them; a request's head gets READ_SECONDS, as every read from a client does.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
import threading

import anyio
import h11
import uvicorn
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

READ_SECONDS = 5.0  # for a request's head, and for its body: a client on this machine sends in milliseconds
LINGER_SECONDS = 1.0  # after a refusal: what the client still sends is discarded this long, then the connection closed
LINGER_BYTES = 1024 * 1024
STOP_SECONDS = 2.0  # close(): requests under way get this long to finish, then they are cancelled
BODY_DONE = "pingpipe.body_done"  # in the scope: the request's body has been read to its end


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a taken port is the caller's OSError, before anything starts."""
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only then (else each page waits for a delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of a previous run is no conflict
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def our_hosts(port: int, host: str = "127.0.0.1") -> set[str]:
    return {f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}


def foreign_host(headers: Headers, allowed: set[str]) -> str | None:
    """The Host a request names when it is not this server, or None. It must name it in exactly one
    Host header: a page reaching 127.0.0.1 under a name of its own (DNS rebinding) names its own."""
    hosts = [h.strip().lower() for h in headers.getlist("host")]
    if len(hosts) != 1 or hosts[0] not in allowed:
        return ", ".join(hosts) or "(none)"
    return None


def same_secret(given: str, secret: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("ascii"))


def tracking(scope: Scope, receive: Receive) -> Receive:
    """`receive`, noting in the scope when the body has been read to its end (closing() needs to know)."""

    async def wrapped():
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            scope[BODY_DONE] = True
        return message

    return wrapped


async def closing(
    scope: Scope, receive: Receive, send: Send, status: int, content_type: bytes, body: bytes, extra: list | None = None
) -> None:
    """Answer and close the connection. What the client still sends of its body is discarded first
    (briefly, boundedly, never kept): closing on unread bytes resets the connection, and the reset
    would take the answer with it."""
    headers = [(b"Content-Type", content_type), (b"Content-Length", str(len(body)).encode()), (b"Connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body, "more_body": True})
    left = LINGER_BYTES
    with anyio.move_on_after(LINGER_SECONDS):
        while not scope.get(BODY_DONE) and left > 0:
            message = await receive()
            left -= len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
    await send({"type": "http.response.body", "body": b""})


class Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the first request's head (a client that connects and
    sends nothing does not hold a connection), and its 400 for a request that is not HTTP (a bad
    Content-Length, two Hosts) written as the app writes its own refusals."""

    content_type = b"text/plain; charset=utf-8"

    def error_body(self, message: str) -> bytes:
        return f"{message}\n".encode()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.head_deadline = self.loop.call_later(READ_SECONDS, self.head_late)

    def head_late(self) -> None:
        if self.cycle is None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.head_deadline.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        body = self.error_body("invalid HTTP request: its head could not be read (Host, Content-Length)")
        headers = [(b"Content-Type", self.content_type), (b"Content-Length", str(len(body)).encode()), (b"Connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class Serving:
    """`app` on `sock`, served by uvicorn on a thread named `name`. close() stops it: requests under
    way get STOP_SECONDS, and nothing is left running after it returns but a request still in a
    blocking call (it ends with that call)."""

    def __init__(self, app: ASGIApp, sock: socket.socket, name: str, protocol: type[Protocol] = Protocol):
        self.sock = sock
        config = uvicorn.Config(
            app,
            http=protocol,
            loop="asyncio",
            lifespan="off",
            log_config=None,
            log_level="error",  # quiet: `up` prints its own lines
            access_log=False,
            server_header=False,
            timeout_keep_alive=int(READ_SECONDS),
            timeout_graceful_shutdown=int(STOP_SECONDS),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float = STOP_SECONDS + 3) -> None:
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(timeout)
        self.sock.close()
