"""The dictionary and debug viewer, served by `pingpipe up` on a loopback address of their own.

Never on the edge's port: the pages show what clients sent (debug pings). Read-only, GET and HEAD
only. Requests must name this address in Host, so a web page cannot reach it under a name of its
own (DNS rebinding). Any local user can reach a loopback port, and the debug pings are people's
data, so the pages also want a token, as Jupyter's do: `up` prints a link that carries it
(`link`), which the browser opens once and then holds as a cookie; the link is also in the
state file only the owner of DATA can read (`pingpipe status` prints it).
"""

from __future__ import annotations

import hmac
import secrets
import socket
import threading
import urllib.parse
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .pages import Page, Site

COOKIE = "pingpipe_ui"


class UIServer:
    def __init__(self, site: Site, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        self.site = site
        self.token = token or secrets.token_urlsafe(24)
        self.httpd = ThreadingHTTPServer((host, port), _handler(site, self.token))
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self.httpd.RequestHandlerClass.allowed_hosts = {f"{host}:{self.port}", f"localhost:{self.port}", f"127.0.0.1:{self.port}"}
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="ui", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def link(self) -> str:
        """The address with its token: opened once, the browser is let in."""
        return f"{self.url}?token={self.token}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()


def _given(cookie_header: str | None) -> str:
    try:
        morsel = SimpleCookie(cookie_header or "").get(COOKIE)
    except CookieError:
        return ""
    return morsel.value if morsel is not None else ""


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("ascii"))


def _handler(site: Site, token: str):
    refused = Page(
        403,
        "text/plain; charset=utf-8",
        b"refused: open the link `pingpipe up` printed, with its token (`pingpipe status` shows it again)\n",
    )

    class Handler(BaseHTTPRequestHandler):
        allowed_hosts: set[str] = set()
        server_version = "pingpipe-ui"
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # Headers and body go out in two writes: without NODELAY the body waits for the
            # client's delayed ACK (40 ms a page).
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format, *args):  # quiet: `up` prints its own line
            pass

        def do_GET(self):
            self._answer(head=False)

        def do_HEAD(self):
            self._answer(head=True)

        def _answer(self, head: bool) -> None:
            hosts = self.headers.get_all("Host") or []
            path, _, query = self.path.partition("?")
            offered = urllib.parse.parse_qs(query).get("token", [""])[0]
            if len(hosts) != 1 or hosts[0].strip().lower() not in self.allowed_hosts:
                page = Page(403, "text/plain; charset=utf-8", b"refused: Host is not this address\n")
            elif offered and _same(offered, token):  # the link: keep the token as a cookie, out of the address bar
                self.send_response(303)
                self.send_header("Location", path or "/")
                self.send_header("Set-Cookie", f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
                self.send_header("Content-Length", "0")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                return
            elif not _same(_given(self.headers.get("Cookie")), token):
                page = refused
            else:
                try:
                    page = site.render(self.path)
                except Exception as exc:  # noqa: BLE001 - one page failing must not take the server down
                    page = Page(500, "text/plain; charset=utf-8", f"this page failed: {exc!r}\n".encode("utf-8"))
            self.send_response(page.status)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(page.body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
            self.end_headers()
            if not head:
                try:
                    self.wfile.write(page.body)
                except (BrokenPipeError, ConnectionResetError, socket.timeout):
                    pass

    return Handler
