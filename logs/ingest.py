"""Log files (or stdin) into the queue `pingpipe up` loads from, through the edge's durable segment log.

Each line becomes a raw message (mozlog.py) appended to DATA/queue with the edge's group commit:
once `ingest` has counted a line, it is fsync'd in a segment, and from there the same exactly-once
commit as an edge ping's applies. A file followed (`follow=True`) is read as it grows; where each
file was read up to is kept in an offsets file, written only after its lines are durable, so a
restart goes on where it stopped. A line read twice after a crash is a counted duplicate (its
document id), never a second row.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pingpipe.edge.publish.segments import SegmentLog
from pingpipe.message import encode_line

from .mozlog import Convert, Skipped, received_now, to_message

BATCH_LINES = 1000
POLL_SECONDS = 0.25


@dataclass
class IngestConfig:
    queue: Path
    follow: bool = False
    offsets: Path | None = None  # where each file was read up to (None: read every file from its start)
    segment_max_age: float = 0.25
    poll: float = POLL_SECONDS
    convert: Convert = to_message  # a line -> its raw message: Glean server events, or a service's rows


@dataclass
class Source:
    path: Path | None  # None: stdin
    offset: int = 0
    inode: int | None = None
    partial: bytes = b""  # a last line without its newline yet (a file being written)


@dataclass
class Totals:
    queued: int = 0
    skipped: Counter = field(default_factory=Counter)


def read_offsets(path: Path | None) -> dict[str, list[int]]:
    if path is None or not path.is_file():
        return {}
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return {}


def write_offsets(path: Path, sources: list[Source]) -> None:
    data = {str(s.path): [s.inode, s.offset - len(s.partial)] for s in sources if s.path is not None}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps(data))
    os.replace(tmp, path)


def _read(source: Source) -> list[bytes]:
    """The complete lines added to a file since the last read; a replaced or truncated file is read anew."""
    try:
        stat = source.path.stat()
    except FileNotFoundError:
        return []
    if source.inode != stat.st_ino or stat.st_size < source.offset:  # rotated, or truncated
        source.inode, source.offset, source.partial = stat.st_ino, 0, b""
    if stat.st_size == source.offset:
        return []
    with open(source.path, "rb") as f:
        f.seek(source.offset)
        data = f.read(stat.st_size - source.offset)
    source.offset += len(data)
    data = source.partial + data
    cut = data.rfind(b"\n") + 1
    source.partial = data[cut:]
    return data[:cut].splitlines()


async def _append(log: SegmentLog, lines: list[bytes], totals: Totals, convert: Convert) -> None:
    received = received_now()
    futures = []
    for line in lines:
        if not line.strip():
            continue
        message = convert(line, received)
        if isinstance(message, Skipped):
            totals.skipped[message.reason] += 1
            continue
        futures.append(log.enqueue(encode_line(*message)))
    if futures:
        await asyncio.gather(*futures)
        totals.queued += len(futures)


async def _stdin(log: SegmentLog, totals: Totals, convert: Convert) -> None:
    loop = asyncio.get_running_loop()
    batch: list[bytes] = []
    while True:
        line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
        if line:
            batch.append(line)
        if batch and (not line or len(batch) >= BATCH_LINES):
            await _append(log, batch, totals, convert)
            batch = []
        if not line:
            return


async def run(paths: list[Path], config: IngestConfig, stop: asyncio.Event | None = None,
              directory: Path | None = None) -> Totals:
    """Queue the lines of `paths` (a Path("-") is stdin), and with `follow`, what they gain, until
    `stop` is set; `directory`: also every file that appears in it."""
    totals = Totals()
    log = SegmentLog(config.queue, max_age=config.segment_max_age)
    log.start()
    offsets = read_offsets(config.offsets)
    sources = [Source(p) for p in paths if str(p) != "-"]
    for s in sources:
        inode, offset = offsets.get(str(s.path), [None, 0])
        s.inode, s.offset = inode, offset
    stop = stop or asyncio.Event()
    try:
        if any(str(p) == "-" for p in paths):
            await _stdin(log, totals, config.convert)
        while True:
            if directory is not None:
                known = {s.path for s in sources}
                for path in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
                    if path not in known:
                        inode, offset = offsets.get(str(path), [None, 0])
                        sources.append(Source(path, offset, inode))
            for source in sources:
                lines = _read(source)
                for i in range(0, len(lines), BATCH_LINES):
                    await _append(log, lines[i:i + BATCH_LINES], totals, config.convert)
                if not config.follow and source.partial:  # a last line without a newline, at the end
                    await _append(log, [source.partial], totals, config.convert)
                    source.partial = b""
            if config.offsets is not None:
                write_offsets(config.offsets, sources)
            if not config.follow or stop.is_set():
                return totals
            try:
                await asyncio.wait_for(stop.wait(), config.poll)
            except asyncio.TimeoutError:
                pass
    finally:
        await log.close()


class Follower:
    """`run` following a folder on a thread of its own: `pingpipe up --logs DIR`."""

    def __init__(self, directory: Path, config: IngestConfig):
        self.directory = directory
        self.config = config
        self.totals = Totals()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="logs", daemon=True)

    def _main(self) -> None:
        async def main():
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            self.totals = await run([], self.config, self._stop, directory=self.directory)

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - said by `up`, which keeps loading
            self.error = exc
        finally:
            self._ready.set()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """Read what is there, make it durable, and stop."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
