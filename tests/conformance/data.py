"""Where Mozilla's data for the conformance tests is: `../shared/fixtures` beside the clone (development
machines and CI), else the cache `fetch.py` fills, if it is complete; else nowhere (the tests skip,
and fail under CI)."""

from __future__ import annotations

import os
from pathlib import Path

from .fetch import CACHE, complete

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared" / "fixtures").resolve()
MISSING = (
    "Mozilla's data is not here: put shared/ beside the clone, or run `python3 tests/conformance/fetch.py` "
    "(it fetches the pinned files from Mozilla's public repositories)"
)


def locate() -> Path | None:
    if os.environ.get("PINGPIPE_CONFORMANCE_DATA"):  # tests of this very logic, and a custom place
        path = Path(os.environ["PINGPIPE_CONFORMANCE_DATA"])
        return path if path.is_dir() else None
    if SHARED.is_dir():
        return SHARED
    return CACHE if complete(CACHE) else None


DATA = locate()


def files(folder: str, pattern: str) -> list[Path]:
    """Mozilla's files for parametrize lists built at collection: none when the data is missing (the
    layer's tests then skip with MISSING)."""
    return sorted((DATA / folder).glob(pattern)) if DATA is not None else []
