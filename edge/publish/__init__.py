"""Publishers: where the edge puts an accepted message before answering 200.

`publish(data, attributes)` returns only once the message is safe: fsync'd to the local queue, or
acknowledged by Pub/Sub (or, if Pub/Sub fails or is slow, fsync'd to the disk fallback).
"""

from __future__ import annotations

import asyncio
import errno
from typing import Protocol

from .segments import StorageFull


class Publisher(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, data: bytes, attributes: dict[str, str]) -> None: ...

    def start_publish(self, data: bytes, attributes: dict[str, str]) -> asyncio.Future:
        """`publish` without a coroutine: a future that completes once the message is safe.
        May raise at once (StorageFull: answer 507)."""
        ...

    def route_status(self, uri: str, method: str) -> int:
        """200 if a message to this uri/method has a destination, else the status (404/405)."""
        ...

    def health(self) -> tuple[int, dict]:
        """(HTTP status for /__heartbeat__, details)."""
        ...

    def backlog(self) -> tuple[int, int]:
        """(segments, bytes) on local disk not yet consumed/flushed."""
        ...


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


def failure_status(exc: BaseException) -> int:
    """The answer to a message that could not be made safe.

    507 for a full disk and 503 for a lack of descriptors: both pass, and both tell the client to
    retry later. 500 only for what the edge cannot explain.
    """
    if isinstance(exc, StorageFull):
        return 507
    if isinstance(exc, OSError):
        if exc.errno in _FULL:
            return 507
        if exc.errno in _OUT_OF_DESCRIPTORS:
            return 503
    return 500


__all__ = ["Publisher", "StorageFull", "failure_status"]
