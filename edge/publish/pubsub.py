"""Google Cloud Pub/Sub transport with a durable disk fallback.

A message is published to the topic its URI routes to and answered 200 once Pub/Sub acks it.
If Pub/Sub errors or does not ack within the publish timeout, the message is fsync'd to the
disk queue instead (and still gets 200). While Pub/Sub is failing, new messages go straight to
disk, so clients are not held for the timeout. A flush loop republishes queued segments, oldest
first, deleting a segment only after every message in it was acked; a queue left by a crashed
process is flushed after restart. Delivery is at least once: a publish that timed out may still
land, and its spooled copy is then a duplicate (the decoder deduplicates by document id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from pingpipe.message import BadLine, RawMessage, encode_line

from ..config import Route
from .segments import SEALED, SegmentLog, pid_alive, recover, sealed_segments

log = logging.getLogger("pingpipe.edge.pubsub")
FLUSHING = ".flushing-"
UNROUTABLE = ".unroutable.ndjson.keep"  # queued messages no route takes, kept beside the spool for an operator


def unroutable(directory: Path) -> list[Path]:
    """The files of queued messages that match no route (never dropped, never republished)."""
    return sorted(Path(directory).glob(f"*{UNROUTABLE}"))


def claim_suffix() -> str:
    """What a flusher appends to a segment it claims: its host and pid."""
    return f"{FLUSHING}{socket.gethostname()}-{os.getpid()}"


def stale_claim(name: str, host: str, pid: int, alive=pid_alive) -> bool:
    """Whether a claimed segment (`….ndjson.flushing-HOST-PID`) was left by a flusher that is gone,
    asked by process `pid` on `host` before it claims anything: one on another host (the volume
    moved: a pod rescheduled, a drain Job), one with this very pid (a restarted pod is pid 1 again),
    or one whose process is dead. A live sibling's claim (`pingpipe up`'s edge workers) is kept."""
    owner = name.rsplit(FLUSHING, 1)[1]
    claim_host, _, claim_pid = owner.rpartition("-")
    try:
        number = int(claim_pid)
    except ValueError:
        return True
    if (claim_host or host) != host or number == pid:
        return True
    return not alive(number)


def make_client(publish_timeout: float) -> Any:
    """A PublisherClient that batches briefly (latency matters: the client waits for the ack)."""
    from google.cloud import pubsub_v1

    batch = pubsub_v1.types.BatchSettings(max_messages=1000, max_bytes=9_000_000, max_latency=0.002)
    return pubsub_v1.PublisherClient(batch_settings=batch)


class PubSubPublisher:
    def __init__(
        self,
        routes: tuple[Route, ...],
        *,
        spool_dir: Path,
        publish_timeout: float = 1.0,
        min_free_bytes: int = 0,
        flush_interval: float = 1.0,
        max_bytes: int = 16 * 1024 * 1024,
        max_age: float = 1.0,
        fsync: bool = True,
        client: Any = None,
        metrics: Any = None,
        shutdown_flush_seconds: float = 20.0,
    ):
        self.routes = [(route.regex, route) for route in routes]
        self.timeout = publish_timeout
        self.flush_interval = flush_interval
        self.shutdown_flush_seconds = shutdown_flush_seconds
        self.spool = SegmentLog(spool_dir, max_bytes=max_bytes, max_age=max_age, fsync=fsync, min_free_bytes=min_free_bytes, ledger=False)
        self.client = client if client is not None else make_client(publish_timeout)
        self.metrics = metrics
        self.pubsub_ok = True
        self.spooled = 0
        self.flushed = 0
        self._flusher: asyncio.Task | None = None

    # -- routing ---------------------------------------------------------------------------

    def _route(self, uri: str) -> Route | None:
        path = uri.split("?", 1)[0]
        for regex, route in self.routes:
            if regex.match(path):
                return route
        return None

    def route_status(self, uri: str, method: str) -> int:
        route = self._route(uri)
        if route is None:
            return 404
        return 200 if method in route.methods else 405

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._release_dead_claims()
        self.spool.start()
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def close(self) -> None:
        """Stop (requests have stopped: SIGTERM), and republish what is spooled, within the grace
        period: a pod scaled down must not strand messages on a volume no pod may mount again. What
        cannot be published in time stays sealed on disk for the next edge on that volume."""
        if self._flusher is not None:
            self._flusher.cancel()  # a segment it was flushing is released (flush_once), and republished below
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.spool.close()  # seals the open segment
        if not sealed_segments(self.spool.directory):
            return
        loop = asyncio.get_running_loop()
        deadline, flushed = loop.time() + self.shutdown_flush_seconds, 0
        while sealed_segments(self.spool.directory) and (remaining := deadline - loop.time()) > 0:
            try:  # a segment that fails (Pub/Sub not back yet) is tried again while the grace period lasts
                done = await asyncio.wait_for(self.flush_once(), remaining)
            except Exception as exc:  # noqa: BLE001 - the grace period is over, or Pub/Sub still down
                log.warning("shutting down: spooled messages stay on disk (%s)", type(exc).__name__)
                break
            flushed += done
            if not done:
                await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
        if flushed:
            log.warning("shutting down: republished %d spooled message(s)", flushed)
        left = sealed_segments(self.spool.directory)
        if left:
            log.warning("shutting down: %d spooled segment(s) stay in %s for the next edge", len(left), self.spool.directory)

    # -- publishing ------------------------------------------------------------------------

    async def _publish_now(self, topic: str, data: bytes, attributes: dict[str, str]) -> None:
        future = self.client.publish(topic, data, **attributes)
        await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)

    def start_publish(self, data: bytes, attributes: dict[str, str]) -> asyncio.Future:
        return asyncio.ensure_future(self.publish(data, attributes))

    async def publish(self, data: bytes, attributes: dict[str, str]) -> None:
        route = self._route(attributes["uri"])
        if route is None:  # the app answers 404 before this; a changed route table lands here
            raise LookupError(f"no route for {attributes['uri']}")
        if self.pubsub_ok:
            try:
                await self._publish_now(route.topic, data, attributes)
                return
            except Exception as exc:  # noqa: BLE001 - any failure or timeout: fall back to disk
                log.warning("Pub/Sub publish failed (%s); spooling to disk", type(exc).__name__)
                self.pubsub_ok = False
        await self.spool.append(encode_line(data, attributes))
        self.spooled += 1
        if self.metrics is not None:
            self.metrics.spooled += 1

    # -- flushing --------------------------------------------------------------------------

    def _release_dead_claims(self) -> None:
        host, pid = socket.gethostname(), os.getpid()
        for path in self.spool.directory.glob(f"*{SEALED}{FLUSHING}*"):
            if stale_claim(path.name, host, pid):
                os.rename(path, path.with_name(path.name.rsplit(FLUSHING, 1)[0]))

    async def drain(self, progress=None) -> int:
        """Republish everything on the spool volume, retrying while Pub/Sub refuses, and return how
        many messages: for a volume whose pod will not come back (a StatefulSet scaled down). Open
        segments of writers that are gone are sealed first; nothing is deleted before its ack."""
        self._release_dead_claims()
        recover(self.spool.directory, ledger=False)
        total, last = 0, time.monotonic()
        while sealed_segments(self.spool.directory):
            flushed = await self.flush_once()
            total += flushed
            if progress is not None and (flushed or time.monotonic() - last > 10):
                progress(total, len(sealed_segments(self.spool.directory)))
                last = time.monotonic()
            if not flushed:
                await asyncio.sleep(self.flush_interval)
        return total

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush_once()
            except Exception:  # pragma: no cover - logged, retried next round
                log.exception("flush round failed")

    async def flush_once(self) -> int:
        """Republish sealed segments oldest first; returns how many messages were flushed."""
        count = 0
        for segment in sealed_segments(self.spool.directory):
            claimed = segment.with_name(segment.name + claim_suffix())
            try:
                os.rename(segment, claimed)
            except FileNotFoundError:
                continue  # another worker took it
            lines = [line for line in claimed.read_bytes().split(b"\n") if line.strip()]
            futures = []
            unroutable = []
            for line in lines:
                try:
                    message = RawMessage.from_line(line)
                except BadLine:
                    unroutable.append(line)
                    continue
                route = self._route(message.attributes.get("uri", ""))
                if route is None:
                    unroutable.append(line)
                    continue
                futures.append(asyncio.wrap_future(self.client.publish(route.topic, message.data, **message.attributes)))
            try:
                await asyncio.wait_for(asyncio.gather(*futures), timeout=max(self.timeout * 10, 10.0))
            except asyncio.CancelledError:  # stopped mid-flush (SIGTERM): the segment is released for the shutdown flush
                os.rename(claimed, segment)
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the flush: the segment stays for the next try
                log.warning("flush of %s failed (%s); will retry", segment.name, type(exc).__name__)
                os.rename(claimed, segment)
                self.pubsub_ok = False
                if self.metrics is not None:
                    self.metrics.flush_failures += 1
                return count
            if unroutable:
                # Never dropped: kept beside the queue for an operator, and logged.
                keep = claimed.with_name(claimed.name.split(SEALED)[0] + UNROUTABLE)
                keep.write_bytes(b"\n".join(unroutable) + b"\n")
                log.error("%d queued message(s) match no route; kept in %s", len(unroutable), keep)
            claimed.unlink()
            count += len(futures)
            self.flushed += len(futures)
            self.pubsub_ok = True
            if self.metrics is not None:
                self.metrics.flushed += len(futures)
        if count == 0 and not self.pubsub_ok and not sealed_segments(self.spool.directory):
            self.pubsub_ok = True  # nothing queued: let the next request try Pub/Sub again
        return count

    # -- health ----------------------------------------------------------------------------

    def health(self) -> tuple[int, dict]:
        if not self.spool.has_room():
            return 507, {"queue": "free disk below the floor", "pubsub": "ok" if self.pubsub_ok else "failing"}
        if not self.pubsub_ok and not self.spool.healthy():
            return 500, {"queue": "last write failed", "pubsub": "failing"}
        return 200, {
            "queue": "ok" if self.spool.healthy() else "last write failed",
            "pubsub": "ok" if self.pubsub_ok else "failing; spooling to disk",
        }

    def backlog(self) -> tuple[int, int]:
        return self.spool.backlog()
