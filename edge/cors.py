"""CORS for `/submit`, so that web pages (Glean.js) can send pings: one policy for both request paths.

Glean.js sends most pings with `navigator.sendBeacon` (a `text/plain` POST, no preflight) and large
ones with `fetch`, which the browser preflights (`OPTIONS` with Access-Control-Request-Method and
-Headers) and blocks unless the answer allows it. Mozilla's public endpoint takes Glean.js pings
from any origin, its CORS answers coming from the layer in front of the edge; pingpipe's edge
answers itself, from an allow-list (`*`, the default, is any origin). Never credentials: no
Access-Control-Allow-Credentials, so a browser never attaches cookies. A preflight is answered and
forgotten: it never reaches the queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from .uri import check_submit_path

ANY = "*"
METHODS = (b"POST", b"PUT")
# What Glean.js (and the Glean SDKs) send besides the CORS-safelisted headers.
HEADERS = ("content-type", "content-encoding", "date", "x-telemetry-agent", "x-debug-id", "x-source-tags")


@dataclass(frozen=True)
class Cors:
    origins: tuple[str, ...] = (ANY,)
    max_age: int = 86400

    def allow_origin(self, origin: bytes | None) -> bytes | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, or None (not allowed)."""
        if ANY in self.origins:
            return b"*"
        if origin is not None and origin.decode("latin-1") in self.origins:
            return origin
        return None

    def header_lines(self, headers) -> bytes:
        """The CORS lines of a submission's answer (an allowed Origin's, or none)."""
        if ANY in self.origins:
            return b"access-control-allow-origin: *\r\n"
        value = self.allow_origin(_get(headers, b"origin"))
        return b"access-control-allow-origin: " + value + b"\r\nvary: Origin\r\n" if value else b""

    def preflight(self, raw_path: bytes, headers) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The answer to an OPTIONS request: (status, headers). 4xx for what is not a submission's preflight."""
        status = check_submit_path(raw_path)
        if status != 200:
            return status, []
        method = _get(headers, b"access-control-request-method")
        if method is None or method.upper() not in METHODS:
            return 405, []  # the answer's Allow header says POST, PUT
        origin = self.allow_origin(_get(headers, b"origin"))
        if origin is None:
            return 403, [(b"vary", b"Origin")]  # the browser blocks the request; nothing was stored
        asked = [
            h.strip().lower() for h in (_get(headers, b"access-control-request-headers") or b"").decode("latin-1").split(",") if h.strip()
        ]
        unknown = [h for h in asked if h not in HEADERS]
        if unknown:
            return 403, [(b"vary", b"Origin")]
        out = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", b"POST, PUT"),
            (b"access-control-allow-headers", ", ".join(HEADERS).encode()),
            (b"access-control-max-age", str(self.max_age).encode()),
        ]
        if origin != b"*":
            out.append((b"vary", b"Origin"))
        return 204, out


def _get(headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
