"""The embedded transport: messages go to a durable local segment log (see segments.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pingpipe.message import encode_line

from . import accepted
from .segments import SegmentLog


class LocalQueuePublisher:
    def __init__(self, directory: Path, *, min_free_bytes: int, max_bytes: int, max_age: float, fsync: bool = True):
        self.log = SegmentLog(directory, max_bytes=max_bytes, max_age=max_age, fsync=fsync, min_free_bytes=min_free_bytes)

    async def start(self) -> None:
        self.log.start()

    async def close(self) -> None:
        await self.log.close()

    async def publish(self, data: bytes, attributes: dict[str, str]) -> None:
        await self.log.enqueue(encode_line(data, attributes), accepted.key(attributes))

    def start_publish(self, data: bytes, attributes: dict[str, str]) -> asyncio.Future:
        return self.log.enqueue(encode_line(data, attributes), accepted.key(attributes))

    def route_status(self, uri: str, method: str) -> int:
        return 200

    def health(self) -> tuple[int, dict]:
        if not self.log.has_room():
            return 507, {"queue": "free disk below the floor"}
        if not self.log.healthy():
            return 500, {"queue": "last write failed"}
        return 200, {"queue": "ok"}

    def backlog(self) -> tuple[int, int]:
        return self.log.backlog()
