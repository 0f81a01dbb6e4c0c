"""The dictionary and debug viewer, served by `pingpipe up` on a loopback address of their own.

Never on the edge's port: the pages show what clients sent (debug pings). Read-only, GET and HEAD
only. Requests must name this address in Host, so a web page cannot reach it under a name of its
own (DNS rebinding). Any local user can reach a loopback port, and the debug pings are people's
data, so the pages also want a token, as Jupyter's do: `up` prints a link that carries it
(`link`), which the browser opens once and then holds as a cookie; the link is also in the
state file only the owner of DATA can read (`pingpipe status` prints it). A program (a test reading
the debug view's JSON, `api/debug/<tag>`) may send the token as the X-Pingpipe-Token header instead.

Starlette on uvicorn (pingpipe/loopback.py): the Gate checks Host and token before any route; the
one route hands every path to `Site.render`, the route table the static build uses too.
"""

from __future__ import annotations

import secrets
import urllib.parse

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pingpipe import loopback

from .pages import Page, Site

COOKIE = "pingpipe_ui"
TOKEN_HEADER = "X-Pingpipe-Token"  # the token as a header, for clients without cookies (the JSON API's)
TEXT = "text/plain; charset=utf-8"
FOREIGN_HOST = Page(403, TEXT, b"refused: Host is not this address\n")
NO_TOKEN = Page(403, TEXT, b"refused: open the link `pingpipe up` printed, with its token (`pingpipe status` shows it again)\n")
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'",
}


class UIServer:
    def __init__(self, site: Site, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        """OSError if the port is taken."""
        self.site = site
        self.token = token or secrets.token_urlsafe(24)
        sock = loopback.bind(host, port)
        self.host = host
        self.port = sock.getsockname()[1]
        self.serving = loopback.Serving(app(site, self.token, loopback.our_hosts(self.port, host)), sock, "ui")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def link(self) -> str:
        """The address with its token: opened once, the browser is let in."""
        return f"{self.url}?token={self.token}"

    def start(self) -> None:
        self.serving.start()

    def close(self) -> None:
        self.serving.close()


def app(site: Site, token: str, hosts: set[str]) -> Starlette:
    async def page(request: Request) -> Response:
        path = request.scope["raw_path"].decode("latin-1")
        query = request.scope["query_string"].decode("latin-1")  # a metric page's view (days, channel...)
        try:  # rendering reads the warehouse and the debug store: off the event loop
            done = await run_in_threadpool(site.render, f"{path}?{query}" if query else path)
        except Exception as exc:  # noqa: BLE001 - one page failing must not take the server down
            done = Page(500, TEXT, f"this page failed: {exc!r}\n".encode("utf-8"))
        return answer(done)

    return Starlette(
        routes=[Route("/{path:path}", page, methods=["GET"])],
        middleware=[Middleware(Gate, token=token, hosts=hosts)],
        exception_handlers={HTTPException: refused},
    )


async def refused(request: Request, exc: HTTPException) -> Response:
    """The router's own refusals (another method than GET or HEAD) with the pages' headers."""
    return answer(Page(exc.status_code, TEXT, f"{exc.detail}\n".encode()), exc.headers)


def answer(page: Page, extra: dict | None = None) -> Response:
    return Response(page.body, page.status, headers={"Content-Type": page.content_type, **HEADERS, **(extra or {})})


class Gate:
    """Before any route: a request must name this address, and carry the token as the cookie the
    link set. The link itself (`?token=`) is answered with that cookie, and the address without it."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str]):
        self.app = app
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        offered = urllib.parse.parse_qs(scope["query_string"].decode("latin-1")).get("token", [""])[0]
        if loopback.foreign_host(headers, self.hosts) is not None:
            response = answer(FOREIGN_HOST)
        elif offered and loopback.same_secret(offered, self.token):  # the link: the token as a cookie, out of the address bar
            path = scope["raw_path"].decode("latin-1") or "/"
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            response = Response(status_code=303, headers={"Location": path, "Set-Cookie": cookie, "Cache-Control": "no-store"})
        elif not (
            loopback.same_secret(cookie_parser(headers.get("cookie", "")).get(COOKIE, ""), self.token)
            or loopback.same_secret(headers.get(TOKEN_HEADER, ""), self.token)  # a test's client: no cookie jar
        ):
            response = answer(NO_TOKEN)
        else:
            return await self.app(scope, receive, send)
        await response(scope, receive, send)
