"""What the queue accepted, per submission day, namespace and document type, kept durably beside it.

When a segment is sealed (by its writer, or by `recover` after a kill) its lines are counted and one
line is appended to the ledger, `<queue>/accepted/<writer>.log`, and flushed to disk before the
segment's rename: a sealed segment is always counted. A kill between the two counts the segment
again when it is recovered; readers keep one count per segment. Messages of a segment still open
are counted by reading it (`count`). So `pingpipe stats` knows what was accepted without trusting
the stages that came after, and a restart hides nothing.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import orjson

from pingpipe.private import FILE_MODE, FOLDER_MODE

FOLDER = "accepted"
_DAY = re.compile(rb'"submission_timestamp":"(\d{4}-\d\d-\d\d)')
_URI = re.compile(rb'"uri":"/submit/([^/"]+)/([^/"]*)(?:/([^/"]*))?')
_SERVICE = re.compile(rb'"log_service":"([^"]*)"')
_TYPE = re.compile(rb'"log_type":"([^"]*)"')


def key_of(line: bytes) -> str:
    """`day namespace doctype version` of a raw-message line, read from its URI in its attributes (which
    come before its payload); a service's log line is namespace `logs:<service>` and its Type; what
    cannot be read is empty (a legacy telemetry URI names no version)."""
    end = line.find(b'"payload"')
    head = line[: end if end > 0 else len(line)]
    day = _DAY.search(head)
    uri = _URI.search(head)
    if uri is not None:
        namespace, second, third = (g.decode("utf-8", "replace") if g else "" for g in uri.groups())
        telemetry = namespace == "telemetry"  # /submit/telemetry/<docid>/<doctype>/...
        doctype, version = (third, "") if telemetry else (second, third)
    else:
        service, type_ = _SERVICE.search(head), _TYPE.search(head)
        namespace = f"logs:{service.group(1).decode('utf-8', 'replace')}" if service else ""
        doctype = type_.group(1).decode("utf-8", "replace") if type_ and service else ""
        version = ""
    return f"{day.group(1).decode() if day else ''} {namespace} {doctype} {version}"


def count(data: bytes) -> Counter:
    """The lines of a segment's bytes, by `key_of`."""
    return Counter(key_of(line) for line in data.split(b"\n") if line)


def stem(name: str) -> str:
    """A segment's name without its suffix: the same open and sealed."""
    return name.split(".", 1)[0]


def record(directory: Path, segment: Path, worker: str, fsync: bool = True) -> None:
    """Count `segment` (not renamed yet) into the ledger of `directory`'s writer `worker`."""
    counts = count(segment.read_bytes())
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
