"""What the queue accepted, per submission day, namespace and document type, kept durably beside it.

A writer counts the lines it appends to a segment, by `key` of the attributes it was given (never
by reading them back). When the segment is sealed, one line is appended to the ledger,
`<queue>/accepted/<writer>.log`, and flushed to disk before the segment's rename: a sealed segment
is always counted. A segment a killed writer left open is counted by reading it when `recover`
seals it. A kill between the ledger line and the rename counts the segment again when it is
recovered; readers keep one count per segment. Messages of a segment still open are counted by
reading it (`count`). So `pingpipe stats` knows what was accepted without trusting the stages that
came after, and a restart hides nothing.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import orjson
import pybase64

from pingpipe.private import FILE_MODE, FOLDER_MODE
from pingpipe.schemas.names import SUBMISSION_TIMESTAMP, URI

FOLDER = "accepted"


def key(attributes: dict[str, str]) -> str:
    """`day namespace doctype version` of a message, from its attributes: its submission day and the
    names its URI gives (a legacy telemetry URI names no version); a service's log line is namespace
    `logs:<service>` and its Type; what is missing is empty."""
    day = (attributes.get(SUBMISSION_TIMESTAMP) or "")[:10]
    uri = attributes.get(URI)
    if uri:
        parts = uri.split("/", 6)  # "", "submit", namespace, then doctype/version or docid/doctype
        namespace = parts[2] if len(parts) > 2 else ""
        if namespace == "telemetry":
            doctype, version = (parts[4] if len(parts) > 4 else ""), ""
        else:
            doctype, version = (parts[3] if len(parts) > 3 else ""), (parts[4] if len(parts) > 4 else "")
    elif "log_service" in attributes:
        namespace, doctype, version = f"logs:{attributes['log_service']}", attributes.get("log_type", ""), ""
    else:
        namespace = doctype = version = ""
    return f"{day} {namespace} {doctype} {version}"


_RECEIVED = re.compile(rb'"receiveTimestamp"\s*:\s*"([0-9]{4}-[0-9]{2}-[0-9]{2})')


def dated(attributes: dict[str, str], data: bytes, default: str = "") -> dict[str, str]:
    """The attributes, with the submission day the decoder will give the message: a server's log entry
    (no submission_timestamp, no uri) is dated by its body's `receiveTimestamp`, else `default`."""
    if SUBMISSION_TIMESTAMP in attributes or URI in attributes:
        return attributes
    found = _RECEIVED.search(data)
    return {**attributes, SUBMISSION_TIMESTAMP: found.group(1).decode() if found else default}


def key_of(line: bytes) -> str:
    """`key` of a raw-message line (a segment read back: a killed writer's, or a writer that gave none)."""
    try:
        message = orjson.loads(line)
        attributes = message.get("attributeMap") or {}
        return key(dated(attributes, pybase64.b64decode(message.get("payload") or "")))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return key({})


def count(data: bytes) -> Counter:
    """The lines of a segment's bytes, by `key_of`."""
    return Counter(key_of(line) for line in data.split(b"\n") if line)


def stem(name: str) -> str:
    """A segment's name without its suffix: the same open and sealed."""
    return name.split(".", 1)[0]


def record(directory: Path, segment: Path, worker: str, counts: Counter | None = None, fsync: bool = True) -> None:
    """Count `segment` (not renamed yet) into the ledger of `directory`'s writer `worker`: its
    `counts` as its writer kept them, or else read from the file."""
    counts = count(segment.read_bytes()) if counts is None else counts
    if not counts:
        return
    folder = directory / FOLDER
    folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
    fd = os.open(folder / f"{worker}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        os.write(fd, orjson.dumps({"segment": stem(segment.name), "counts": counts}, option=orjson.OPT_APPEND_NEWLINE))
        if fsync:
            os.fdatasync(fd)
    finally:
        os.close(fd)


def ledger(directory: Path) -> dict[str, Counter]:
    """Every sealed segment's counts, by its stem (the last count where a kill counted one twice)."""
    out: dict[str, Counter] = {}
    folder = Path(directory) / FOLDER
    for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:  # a line torn by a kill: its segment was not renamed, and is counted again
                continue
            out[entry["segment"]] = Counter(entry["counts"])
    return out
