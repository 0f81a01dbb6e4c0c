"""Days are UTC days, wherever pingpipe runs.

Mozilla's `submission_date` is the UTC day of `submission_timestamp`. A machine's own time zone
must not move a ping to another day: every "now", "today", "yesterday" and day's bounds pingpipe
computes in Python comes from here, and every DuckDB instance it opens runs in TIME_ZONE, so that
SQL's `CAST(timestamp AS DATE)` and `DATE(...)` agree with them.
"""

from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc
TIME_ZONE = "UTC"  # every DuckDB instance's (loader/writers/duckdb.py)


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def today() -> dt.date:
    return now().date()


def yesterday() -> dt.date:
    """The last day that has ended: the one a daily job covers by default."""
    return today() - dt.timedelta(days=1)


def ended(day: dt.date) -> bool:
    """Whether the UTC day is over (only then is it complete)."""
    return day < today()


def bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The day's first instant and the next day's, in UTC: [start, end)."""
    start = dt.datetime.combine(day, dt.time(), UTC)
    return start, start + dt.timedelta(days=1)


def day_of(moment: dt.datetime) -> dt.date:
    """The UTC day of a moment (a naive one is taken as UTC)."""
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).date()
