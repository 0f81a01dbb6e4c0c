"""Log files (or stdin) into the queue `pingpipe up` loads from, through the edge's durable segment log.

Each line becomes a raw message (mozlog.py) appended to DATA/queue with the edge's group commit:
once `ingest` has counted a line, it is fsync'd in a segment, and from there the same exactly-once
commit as an edge ping's applies. A file followed (`follow=True`) is read as it grows; where each
file was read up to is kept in an offsets file, written only after its lines are durable, so a
restart goes on where it stopped. A line read twice after a crash is a counted duplicate (its
document id), never a second row.

A file is known as log shippers know it, by its device and inode and a hash of its first bytes,
not by its name, and it is read through a handle kept open. So a file renamed by log rotation
(`mv r.log r.log.1`) is read on to its end and never again from its start, and the new `r.log`
is a new file; a restart finds each file again under whatever name it has now. Compressed files
(what rotation makes of old logs) are not read. A file truncated in place (`copytruncate`) is
read again from its start: what was written to it between the last read and the truncation is
lost.

No line is ever held whole past `max_line_bytes`: a longer one becomes an error row of its head
(mozlog.too_long), so one line cannot stall the reader or fill its memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import orjson

from pingpipe.edge.publish import accepted
from pingpipe.edge.publish.segments import SegmentLog
from pingpipe.message import encode_line

from .mozlog import Convert, GleanEvents, Skipped, received_now

BATCH_LINES = 1000
POLL_SECONDS = 0.25
MAX_LINE_BYTES = 1024 * 1024  # as the edge's body limit: a log line is one message
READ_BYTES = 1024 * 1024  # read at a time from a file
FINGERPRINT_BYTES = 256  # the first bytes of a file that tell it from another with a reused inode
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".z")


@dataclass
class IngestConfig:
    queue: Path
    follow: bool = False
    offsets: Path | None = None  # where each file was read up to (None: read every file from its start)
    segment_max_age: float = 0.25
    poll: float = POLL_SECONDS
    convert: Convert = field(default_factory=GleanEvents)  # a line -> its raw message: Glean server events, or a service's rows
    max_line_bytes: int = MAX_LINE_BYTES


@dataclass(frozen=True)
class TooLong:
    """A line over the limit: its first bytes, and its length."""

    head: bytes
    size: int


@dataclass
class Lines:
    """Splits bytes into lines, holding at most `limit` bytes of an unfinished one."""

    limit: int
    partial: bytes = b""  # a last line without its newline yet (a file being written)
    long: TooLong | None = None  # the line being skipped because it is over the limit

    @property
    def pending(self) -> int:
        """Bytes read since the last line ended."""
        return self.long.size if self.long is not None else len(self.partial)

    def feed(self, data: bytes) -> list[bytes | TooLong]:
        out: list[bytes | TooLong] = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._add(data[start:end])
            out.append(self._end())
            start = end + 1
        self._add(data[start:])
        return out

    def finish(self) -> list[bytes | TooLong]:
        """The last line of a stream that ended without its newline."""
        return [self._end()] if self.pending else []

    def _add(self, piece: bytes) -> None:
        if self.long is not None:
            self.long = TooLong(self.long.head, self.long.size + len(piece))
        elif len(self.partial) + len(piece) > self.limit:
            whole = self.partial + piece[: self.limit + 1 - len(self.partial)]
            self.long, self.partial = TooLong(whole[: self.limit], len(self.partial) + len(piece)), b""
        elif piece:
            self.partial += piece

    def _end(self) -> bytes | TooLong:
        line, self.partial, self.long = self.long or self.partial, b"", None
        return line


def fingerprint(file: BinaryIO, size: int) -> tuple[str, int]:
    """The hash of a file's first bytes, and how many it covers."""
    head = os.pread(file.fileno(), min(size, FINGERPRINT_BYTES), 0)
    return hashlib.sha256(head).hexdigest(), len(head)


@dataclass
class Source:
    """A file being read: its open handle, its identity, and how far it was read."""

    path: Path
    file: BinaryIO
    dev: int
    ino: int
    lines: Lines
    offset: int = 0  # bytes read from the file
    print_: tuple[str, int] = ("", 0)  # fingerprint(), refreshed until it covers FINGERPRINT_BYTES

    @property
    def key(self) -> tuple[int, int]:
        return self.dev, self.ino

    @property
    def done(self) -> int:
        """Where its complete lines end: where a restart goes on from."""
        return self.offset - self.lines.pending

    def record(self) -> dict:
        return {
            "path": str(self.path),
            "dev": self.dev,
            "ino": self.ino,
            "fingerprint": self.print_[0],
            "fingerprint_bytes": self.print_[1],
            "offset": self.done,
        }

    def matches(self, saved: dict) -> bool:
        """Whether a saved record is of this file: the same inode, and the same first bytes."""
        if saved.get("ino") != self.ino or (saved.get("dev") is not None and saved["dev"] != self.dev):
            return False
        if not saved.get("fingerprint"):
            return saved.get("path") == str(self.path)  # an offsets file from before fingerprints: its name
        head = os.pread(self.file.fileno(), saved.get("fingerprint_bytes", 0), 0)
        return hashlib.sha256(head).hexdigest() == saved["fingerprint"]

    def read(self) -> Iterator[list[bytes | TooLong]]:
        """The lines added since the last read, a chunk at a time; a file truncated in place is read
        again from its start."""
        size = os.fstat(self.file.fileno()).st_size
        if size < self.offset:
            self.offset, self.lines = 0, Lines(self.lines.limit)
        if self.print_[1] < FINGERPRINT_BYTES and size > self.print_[1]:
            self.print_ = fingerprint(self.file, size)
        while self.offset < size:
            data = os.pread(self.file.fileno(), min(READ_BYTES, size - self.offset), self.offset)
            if not data:
                return
            self.offset += len(data)
            yield self.lines.feed(data)

    def close(self) -> None:
        self.file.close()


@dataclass
class Totals:
    queued: int = 0
    skipped: Counter = field(default_factory=Counter)


def read_offsets(path: Path | None) -> list[dict]:
    """The saved records of the files read (an older offsets file, {path: [inode, offset]}, is read too)."""
    if path is None or not path.is_file():
        return []
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return []
    if isinstance(data, dict) and "files" not in data:
        return [{"path": p, "ino": v[0], "offset": v[1]} for p, v in data.items() if isinstance(v, list) and len(v) == 2]
    return list(data.get("files", [])) if isinstance(data, dict) else []


def write_offsets(path: Path, sources: list[Source]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps({"version": 2, "files": [s.record() for s in sources]}))
    os.replace(tmp, path)


def open_source(path: Path, limit: int, saved: list[dict]) -> Source | None:
    """A file opened for reading, going on from its saved record if one is of it; None if it is gone."""
    try:
        file = open(path, "rb")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    stat = os.fstat(file.fileno())
    source = Source(path, file, stat.st_dev, stat.st_ino, Lines(limit))
    for record in saved:
        if source.matches(record):
            source.offset = min(int(record.get("offset", 0)), stat.st_size)
            break
    source.print_ = fingerprint(file, stat.st_size)
    return source


def listed(directory: Path) -> list[Path]:
    """The log files of a folder: hidden and compressed ones aside, oldest first."""
    found = []
    for path in directory.iterdir():
        name = path.name.lower()
        if name.startswith(".") or name.endswith(COMPRESSED):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.is_file():
            found.append((stat.st_mtime, path.name, path))
    return [path for _, _, path in sorted(found)]


class Tracker:
    """The files being read: a folder's, or the paths named, each found again after a rename."""

    def __init__(self, paths: list[Path], directory: Path | None, limit: int, saved: list[dict]):
        self.paths = paths
        self.directory = directory
        self.limit = limit
        self.saved = saved
        self.sources: list[Source] = []  # in the order they are read: known files first, oldest first

    def refresh(self) -> list[Source]:
        """Find renamed, new and gone files. Returns those gone (to be read to their end, then closed):
        a folder's file no longer in it, or a named file replaced by another under its name (a named
        file renamed away is read on until a new one takes its name)."""
        known = {s.key: s for s in self.sources}
        seen: set[tuple[int, int]] = set()
        for path in (listed(self.directory) if self.directory is not None else []) + self.paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                if path in self.paths:
                    seen.update(s.key for s in self.sources if s.path == path)
                continue
            key = (stat.st_dev, stat.st_ino)
            seen.add(key)
            if key in known:
                known[key].path = path  # renamed, or still there
                continue
            source = open_source(path, self.limit, self.saved)
            if source is not None and source.key not in known:
                self.sources.append(source)
                known[source.key] = source
                seen.add(source.key)
        gone = [s for s in self.sources if s.key not in seen]
        self.sources = [s for s in self.sources if s.key in seen]
        self.saved += [s.record() for s in gone]  # should it come back, it goes on from there
        return gone


async def _append(log: SegmentLog, lines: list[bytes | TooLong], totals: Totals, config: IngestConfig) -> None:
    received = received_now()
    futures = []
    for line in lines:
        if isinstance(line, TooLong):
            message = config.convert.too_long(line.head, line.size, config.max_line_bytes, received)
        elif not line.strip():
            continue
        else:
            message = config.convert(line, received)
        if isinstance(message, Skipped):
            totals.skipped[message.reason] += 1
            continue
        data, attributes = message
        futures.append(log.enqueue(encode_line(data, attributes), accepted.key(accepted.dated(attributes, data, received))))
    if futures:
        await asyncio.gather(*futures)
        totals.queued += len(futures)


async def _queue(log: SegmentLog, lines: list[bytes | TooLong], totals: Totals, config: IngestConfig) -> None:
    for i in range(0, len(lines), BATCH_LINES):
        await _append(log, lines[i : i + BATCH_LINES], totals, config)


async def _stdin(log: SegmentLog, totals: Totals, config: IngestConfig) -> None:
    loop = asyncio.get_running_loop()
    lines = Lines(config.max_line_bytes)
    while True:
        data = await loop.run_in_executor(None, sys.stdin.buffer.read1, READ_BYTES)
        batch = lines.feed(data) if data else lines.finish()
        await _queue(log, batch, totals, config)
        if not data:
            return


async def run(
    paths: list[Path], config: IngestConfig, stop: asyncio.Event | None = None, directory: Path | None = None, totals: Totals | None = None
) -> Totals:
    """Queue the lines of `paths` (a Path("-") is stdin), and with `follow`, what they gain, until
    `stop` is set; `directory`: also every file that appears in it. `totals` are counted into as
    lines go (a follower's, read while it runs)."""
    totals = totals if totals is not None else Totals()
    log = SegmentLog(config.queue, max_age=config.segment_max_age)
    log.start()
    tracker = Tracker([p for p in paths if str(p) != "-"], directory, config.max_line_bytes, read_offsets(config.offsets))
    stop = stop or asyncio.Event()
    try:
        if any(str(p) == "-" for p in paths):
            await _stdin(log, totals, config)
        while True:
            gone = tracker.refresh()
            for source in gone + tracker.sources:  # a renamed-away file to its end before the file that replaced it
                for lines in source.read():
                    await _queue(log, lines, totals, config)
                if source in gone or not config.follow:  # its last line, if it has no newline
                    await _queue(log, source.lines.finish(), totals, config)
            for source in gone:
                source.close()
            if config.offsets is not None:
                write_offsets(config.offsets, tracker.sources)
            if not config.follow or stop.is_set():
                return totals
            try:
                await asyncio.wait_for(stop.wait(), config.poll)
            except asyncio.TimeoutError:
                pass
    finally:
        for source in tracker.sources:
            source.close()
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
            await run([], self.config, self._stop, directory=self.directory, totals=self.totals)

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
