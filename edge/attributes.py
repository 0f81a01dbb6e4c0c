"""Attribute values the edge computes itself (the header attributes are copied in app.py)."""

from __future__ import annotations

import time

_second = -1
_prefix = ""


def submission_timestamp(now: float | None = None) -> str:
    """ISO 8601 with microseconds and `Z`, e.g. 2018-03-12T21:02:18.123456Z.

    strftime is slow next to everything else on the hot path, so the seconds part is formatted
    once per second and reused.
    """
    global _second, _prefix
    micros_total = int((time.time() if now is None else now) * 1_000_000)
    seconds, micros = divmod(micros_total, 1_000_000)
    if seconds != _second:
        _prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))
        _second = seconds
    return f"{_prefix}{micros:06d}Z"
