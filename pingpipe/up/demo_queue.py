"""`pingpipe demo`'s history into `up`'s queue, as the edge would have taken each ping on its day.

How a ping gets into the past. The edge stamps `submission_timestamp` when a request arrives, and
no header changes that (Mozilla's edge has none either: `Date` is kept as `metadata.header.date`,
nothing more). A history POSTed now would be one day of data: every derived table counts by
submission date. So the demo does not POST; it does what the edge does with each request:

* the message's attributes are made by the edge's own code (`SubmitHandler.head`: the URI's
  check, the header attributes, Content-Length, the client's address), from the headers the
  Glean SDK sends; a submission the edge would refuse stops the demo;
* `submission_timestamp` is then the time the history says it arrived, in the edge's format;
* the message is appended to DATA/queue with the edge's durable segment log (group commit,
  fsync), the file format and queue that `pingpipe logs ingest` also writes.

From there each message is what an edge ping is: `up`'s workers decode it with the decoder
(gunzip, schema validation, geo, normalization, dedupe) and commit it exactly once, as rows,
error rows or counted duplicates. Nothing writes a table directly. Rejected alternatives: an
edge setting that trusts a client's clock would be a door into every deployment's data for one
command's sake; POSTing now and rewriting timestamps afterwards would be writing tables directly.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Callable

from pingpipe import utc
from pingpipe.edge.app import SubmitHandler
from pingpipe.edge.config import EdgeConfig
from pingpipe.edge.publish.segments import OPEN, SEALED, SegmentLog
from pingpipe.message import encode_line
from pingpipe.schemas.names import SUBMISSION_TIMESTAMP

from .demo import Submission

BATCH = 2000  # lines handed to the segment log at a time (one group commit or a few)
SEGMENT_BYTES = 1024 * 1024  # small segments: `up`'s workers share them, and the progress moves


class DemoRefused(ValueError):
    """A submission the edge would not accept: the history is wrong, not the pipeline."""


class Edge:
    """The edge's rules for turning a request into a raw message (no server, no socket)."""

    def __init__(self, queue: Path, max_body_bytes: int = EdgeConfig.max_body_bytes):
        self.handler = SubmitHandler(EdgeConfig(queue_dir=queue, max_body_bytes=max_body_bytes), publisher=None, metrics=None)

    def message(self, sub: Submission) -> bytes:
        """The raw-message line the edge would have queued for `sub`, stamped with its arrival."""
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in sub.headers]
        status, attributes, length = self.handler.head("POST", sub.uri.encode("ascii"), None, headers, "1.1", (sub.remote_addr, 0))
        if status != 200 or attributes is None:
            raise DemoRefused(f"the edge would answer {status} to {sub.uri}")
        if length != len(sub.body):
            raise DemoRefused(f"{sub.uri}: Content-Length {length}, body {len(sub.body)} bytes")
        attributes[SUBMISSION_TIMESTAMP] = utc.timestamp(sub.submitted)
        return encode_line(sub.body, attributes)


def writer_mark() -> str:
    """What the names of this process's queue segments contain (SegmentLog names them by host and pid)."""
    return f"-{socket.gethostname()}-{os.getpid()}-"


def ours(queue: Path, mark: str) -> list[Path]:
    """This process's segments still in the queue (sealed or open): a committed one is deleted."""
    if not queue.is_dir():
        return []
    return [p for p in queue.iterdir() if mark in p.name and p.name.endswith((SEALED, OPEN))]


async def queue_all(submissions: list[Submission], queue: Path, edge: Edge, progress: Callable[[int, int], None] | None = None) -> int:
    """Append every submission's message to the queue, durably, in order; returns how many."""
    log = SegmentLog(queue, max_bytes=SEGMENT_BYTES, max_age=0.25)
    log.start()
    done = 0
    try:
        for i in range(0, len(submissions), BATCH):
            lines = [edge.message(s) for s in submissions[i : i + BATCH]]
            await asyncio.gather(*(log.enqueue(line) for line in lines))
            done += len(lines)
            if progress is not None:
                progress(done, len(submissions))
    finally:
        await log.close()
    return done


def queue_history(
    submissions: list[Submission],
    queue: Path,
    *,
    max_body_bytes: int = EdgeConfig.max_body_bytes,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    return asyncio.run(queue_all(submissions, queue, Edge(queue, max_body_bytes), progress))


def wait_loaded(
    queue: Path,
    mark: str,
    running: Callable[[], bool],
    *,
    progress: Callable[[int], None] | None = None,
    poll: float = 0.2,
    stall: float = 120.0,
) -> bool:
    """Wait until `up` committed every segment this process queued (True), or stopped (False).

    TimeoutError if nothing moved for `stall` seconds while `up` runs."""
    left = ours(queue, mark)
    moved = time.monotonic()
    while left:
        if not running():
            return False
        if progress is not None:
            progress(len(left))
        time.sleep(poll)
        now_left = ours(queue, mark)
        if len(now_left) < len(left):
            moved = time.monotonic()
        elif time.monotonic() - moved > stall:
            raise TimeoutError(
                f"{len(now_left)} demo segment(s) in {queue} not loaded after {stall:.0f} s; `pingpipe status` shows what `up` is doing"
            )
        left = now_left
    return True
