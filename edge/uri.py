"""Which submission URLs the edge accepts (Mozilla's edge specification).

* `/submit/<namespace>/<doctype>/<docversion>/<docid>` (structured and Glean pings);
* `/submit/telemetry/<docid>/<doctype>/<appName>/<appVersion>/<appUpdateChannel>/<appBuildID>`;

`docid` must be a UUID and `docversion` an integer. A path of another shape for its namespace
is 404. The edge checks the shape only; whether the schema exists is the decoder's business.

`/submit/sslreports` (legacy TLS error reports) is 404. Mozilla's edge accepts it, and then its
decoder drops every such message unread (MessageScrubber's ignored URIs, bug 1585144). pingpipe
drops nothing it accepted, and keeps no table for them: refusing here says so to the client, and
keeps no message with an IP address that nobody reads.
"""

from __future__ import annotations

import re

OK, BAD_REQUEST, NOT_FOUND = 200, 400, 404

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_VERSION = re.compile(r"^[0-9]+$")
_SEGMENT = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no space


_FAST = re.compile(
    rb"^/submit/(?!telemetry/)[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[0-9]+/"
    rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def check_submit_path(raw_path: bytes) -> int:
    """200 if the path is a submission URL form, else the status to answer with."""
    if _FAST.match(raw_path):  # the common structured/Glean form, in one regex
        return OK
    try:
        path = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return BAD_REQUEST
    if any(c in path for c in " \t\r\n\x00"):
        return BAD_REQUEST
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "" or parts[1] != "submit":
        return NOT_FOUND
    namespace = parts[2]
    rest = parts[3:]
    if not _NAME.match(namespace):
        return NOT_FOUND
    if namespace == "telemetry":
        if len(rest) != 6 or not _UUID.match(rest[0]) or not _NAME.match(rest[1]):
            return NOT_FOUND
        return OK if all(_SEGMENT.match(p) for p in rest[2:]) else NOT_FOUND
    if len(rest) != 3:
        return NOT_FOUND
    doctype, version, docid = rest
    if _NAME.match(doctype) and _VERSION.match(version) and _UUID.match(docid):
        return OK
    return NOT_FOUND
