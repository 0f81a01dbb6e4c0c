"""What `up` does with a queue segment whose processing or commit failed.

A failed segment is tried again later, with a growing delay, and the segments behind it go on
meanwhile: commits need no order, since each segment is marked done in its own transaction.
A segment that failed is handed out alone from then on, so one poison message cannot hold back
the good segments it was grouped with. A segment that fails alone `attempts` times on its data
is given up: its messages go to the error table, undecoded, with the failure as their message.

A failure of the environment (the disk, memory, the warehouse file) says nothing about the data,
so it never counts towards giving up: such a segment is retried, more and more slowly, until the
environment recovers. Everything else is taken to be the data's fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from .config import RetryConfig

# What DuckDB says when the disk, not the data, failed a commit (it may wrap it in another error).
_ENVIRONMENT_WORDS = (
    "No space left on device",
    "Disk quota exceeded",
    "File too large",
    "Could not write file",
    "Could not read from file",
    "Cannot allocate memory",
    "Out of Memory",
    "Too many open files",
    "Read-only file system",
)


def environmental(exc: BaseException) -> bool:
    """Whether a failure comes from the machine (disk, memory, files) rather than from the data."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (OSError, MemoryError, duckdb.IOException, duckdb.OutOfMemoryException)):
            return True
        if isinstance(exc, duckdb.Error) and any(w in str(exc) for w in _ENVIRONMENT_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@dataclass
class Failures:
    """Failure bookkeeping per segment name: when it may be tried again, and whether to give up on it."""

    config: RetryConfig = field(default_factory=RetryConfig)
    tries: dict[str, int] = field(default_factory=dict)  # every failure
    alone: dict[str, int] = field(default_factory=dict)  # failures on its data while handed out alone
    not_before: dict[str, float] = field(default_factory=dict)
    given_up: dict[str, BaseException] = field(default_factory=dict)  # name -> the failure its error rows carry

    def failed(self, names: list[str], exc: BaseException, now: float) -> None:
        """Segments handed out (or committed) together failed with `exc`."""
        counts = len(names) == 1 and not environmental(exc)
        for name in names:
            tries = self.tries[name] = self.tries.get(name, 0) + 1
            self.not_before[name] = now + min(self.config.max_delay, self.config.first_delay * 2 ** (tries - 1))
            if counts:
                self.alone[name] = self.alone.get(name, 0) + 1
                if self.alone[name] >= self.config.attempts:
                    self.given_up[name] = exc

    def suspect(self, name: str) -> bool:
        """It failed before: hand it out alone."""
        return name in self.tries

    def due(self, name: str, now: float) -> bool:
        return self.not_before.get(name, 0.0) <= now

    def done(self, names: list[str]) -> None:
        """Committed: forget them."""
        for name in names:
            for table in (self.tries, self.alone, self.not_before, self.given_up):
                table.pop(name, None)

    def waiting(self) -> int:
        return len(self.tries)
