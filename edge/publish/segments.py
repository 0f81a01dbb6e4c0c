"""A durable, append-only log of raw-message lines in segment files, with group commit.

It is both the embedded local queue and the Pub/Sub disk fallback. Each worker process writes
its own open segment `<time>-<host>-<pid>-<seq>.ndjson.open`; a segment is sealed (renamed to
`.ndjson`) when it reaches a size or an age, so readers (the decoder's file input, the flush
loop) only ever see complete files in Mozilla's raw-message format.

`append` returns only after the line is on disk (written and fsync'd). Requests that arrive
while a write+fsync is in flight are batched into the next one (group commit), so one fsync
makes many requests durable and durability costs latency, not throughput. Below saturation the
batches are small, so a small batch waits `group_delay` (1 ms) for company first, which costs
less CPU per request than many tiny fsyncs (the edge's CPU at a fixed rate: benchmarks/bench_up.py,
phase 2).
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pingpipe.private import FILE_MODE

from . import accepted

OPEN = ".ndjson.open"
SEALED = ".ndjson"


class StorageFull(OSError):
    """Free disk is below the configured floor (or the disk said ENOSPC): answer 507."""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a writer process still runs. A zombie (killed, not yet reaped) does not: it writes nothing more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)
    return state not in ("Z", "X")


def sealed_segments(directory: Path) -> list[Path]:
    """Sealed segments, oldest first (names start with a nanosecond timestamp)."""
    return sorted(p for p in Path(directory).glob(f"*{SEALED}") if p.is_file())


def seal_file(path: Path, ledger: bool = True) -> Path | None:
    """Seal an open segment left by a dead writer: cut a torn last line, count it into this process's
    ledger (accepted.py), rename; or remove it if empty."""
    data_end = path.stat().st_size
    if data_end:
        with open(path, "rb+") as f:
            f.seek(max(0, data_end - 1))
            if f.read(1) != b"\n":
                content = path.read_bytes()
                cut = content.rfind(b"\n") + 1  # a torn line was never acknowledged
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
                data_end = cut
    if data_end == 0:
        path.unlink()
        return None
    if ledger:
        accepted.record(path.parent, path, f"{socket.gethostname()}-{os.getpid()}")
    target = path.with_name(path.name[: -len(OPEN)] + SEALED)
    os.rename(path, target)
    fsync_dir(path.parent)
    return target


def recover(directory: Path, ledger: bool = True) -> list[Path]:
    """Seal every open segment whose writer process is gone (after a crash or kill -9), counting each
    into the ledger (unless `ledger` is False: a spool's messages are counted where they go)."""
    host = socket.gethostname()
    sealed = []
    for path in sorted(Path(directory).glob(f"*{OPEN}")):
        parts = path.name[: -len(OPEN)].split("-")
        try:
            pid = int(parts[-2])
            writer_host = "-".join(parts[1:-2])
        except (ValueError, IndexError):
            pid, writer_host = -1, ""
        if writer_host == host and pid != os.getpid() and pid_alive(pid):
            continue  # a live sibling worker's segment
        if writer_host == host and pid == os.getpid():
            continue
        try:
            result = seal_file(path, ledger)
        except FileNotFoundError:  # another process (the edge, `pingpipe up`) sealed it first
            continue
        if result is not None:
            sealed.append(result)
    return sealed


@dataclass
class _Open:
    path: Path
    fd: int
    size: int
    created: float
    counts: Counter = field(default_factory=Counter)  # its lines by accepted.key, for the ledger


class SegmentLog:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 16 * 1024 * 1024,
        max_age: float = 1.0,
        fsync: bool = True,
        min_free_bytes: int = 0,
        group_delay: float = 0.001,
        group_min: int = 64,
        ledger: bool = True,
    ):
        """`ledger`: count each sealed segment (accepted.py), as a queue does; a spool does not."""
        self.directory = Path(directory)
        self.ledger = ledger
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.fsync = fsync
        self.min_free_bytes = min_free_bytes
        self.group_delay = group_delay  # a batch of fewer than group_min lines waits this long for more
        self.group_min = group_min
        self._worker = f"{socket.gethostname()}-{os.getpid()}"
        self._seq = 0
        self._open: _Open | None = None
        self._pending: list[tuple[bytes, asyncio.Future, str | None]] = []
        self._committing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment-writer")
        self._free_checked = 0.0
        self._free_ok = True
        self._last_error: BaseException | None = None
        self._rotator: asyncio.Task | None = None
        self.appended = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Seal dead writers' segments and start the age-based sealing timer."""
        recover(self.directory, self.ledger)
        loop = asyncio.get_running_loop()
        self._rotator = loop.create_task(self._rotate_periodically())

    async def close(self) -> None:
        if self._rotator is not None:
            self._rotator.cancel()
        while self._pending or self._committing:
            await asyncio.sleep(0.001)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._seal_current)
        self._executor.shutdown(wait=True)

    # -- health ----------------------------------------------------------------------------

    def has_room(self) -> bool:
        now = time.monotonic()
        if now - self._free_checked > 0.25:
            self._free_checked = now
            self._free_ok = shutil.disk_usage(self.directory).free >= self.min_free_bytes
        return self._free_ok

    def healthy(self) -> bool:
        return self._last_error is None

    def backlog(self) -> tuple[int, int]:
        """(sealed segments, their bytes) waiting for a reader."""
        segments = sealed_segments(self.directory)
        return len(segments), sum(p.stat().st_size for p in segments)

    # -- writing ---------------------------------------------------------------------------

    async def append(self, line: bytes) -> None:
        """Durably append one newline-terminated line; raises StorageFull below the disk floor."""
        await self.enqueue(line)

    def enqueue(self, line: bytes, key: str | None = None) -> asyncio.Future:
        """Queue a line for the next group commit: the future completes once it is on disk. `key` is
        its accepted.key, for the ledger, when the caller has its attributes (else read from the line).

        Raises StorageFull at once below the disk floor. No coroutine per line: the edge's
        protocol answers from the future's callback.
        """
        if self.min_free_bytes and not self.has_room():
            raise StorageFull("free disk below the configured floor")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((line, future, key))
        if not self._committing:
            self._committing = True
            loop.create_task(self._commit())
        return future

    async def _commit(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                if self.group_delay and len(self._pending) < self.group_min:
                    await asyncio.sleep(self.group_delay)
                batch, self._pending = self._pending, []
                counts = Counter(k if k is not None else accepted.key_of(line) for line, _, k in batch) if self.ledger else None
                try:
                    await loop.run_in_executor(self._executor, self._write, b"".join(line for line, _, _ in batch), counts)
                except OSError as exc:
                    self._last_error = exc
                    error = StorageFull(str(exc)) if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc
                    for _, future, _ in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                self._last_error = None
                self.appended += len(batch)
                for _, future, _ in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._committing = False

    def _write(self, data: bytes, counts: Counter | None = None) -> None:
        """Runs on the single writer thread: all file operations are serialized there."""
        current = self._open
        if current is None or current.size >= self.max_bytes:
            self._seal_current()
            current = self._new_segment()
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.write(current.fd, view[written:])
            if self.fsync:
                os.fdatasync(current.fd)
        except OSError:
            # Cut what was half written, so the file never holds a torn, unacknowledged line.
            os.ftruncate(current.fd, current.size)
            raise
        current.size += len(data)
        if counts:
            current.counts.update(counts)

    def _new_segment(self) -> _Open:
        self._seq += 1
        name = f"{time.time_ns():020d}-{self._worker}-{self._seq:06d}{OPEN}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
        if self.fsync:
            try:
                fsync_dir(self.directory)  # needs a descriptor too: EMFILE here must not leak `fd`
            except OSError:
                os.close(fd)
                path.unlink(missing_ok=True)
                raise
        self._open = _Open(path, fd, 0, time.monotonic())
        return self._open

    def _seal_current(self) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        os.close(current.fd)
        if current.size == 0:
            current.path.unlink(missing_ok=True)
            return
        if self.ledger:
            accepted.record(self.directory, current.path, self._worker, current.counts, self.fsync)
        os.rename(current.path, current.path.with_name(current.path.name[: -len(OPEN)] + SEALED))
        if self.fsync:
            fsync_dir(self.directory)

    def _seal_if_old(self) -> None:
        current = self._open
        if current is not None and current.size and time.monotonic() - current.created >= self.max_age:
            self._seal_current()

    def seal_now(self) -> None:
        """Seal the open segment from the writer thread (blocking); used by flushers and tests."""
        self._executor.submit(self._seal_current).result()

    async def _rotate_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(self.max_age / 4, 0.01))
            try:
                await loop.run_in_executor(self._executor, self._seal_if_old)
            except OSError as exc:  # pragma: no cover - surfaced by healthy()
                self._last_error = exc
