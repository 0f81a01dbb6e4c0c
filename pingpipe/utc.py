"""Days are UTC days, wherever pingpipe runs; the one home of time.

Mozilla's `submission_date` is the UTC day of `submission_timestamp`. A machine's own time zone
must not move a ping to another day: every "now", "today", "yesterday", day's bounds and timestamp
text pingpipe computes in Python comes from here, and every DuckDB instance it opens runs in
TIME_ZONE, so that SQL's `CAST(timestamp AS DATE)` and `DATE(...)` agree with them.
"""

from __future__ import annotations

import datetime as dt
import time

UTC = dt.timezone.utc
TIME_ZONE = "UTC"  # every DuckDB instance's (loader/writers/duckdb.py)
# Mozilla's submission_timestamp text: ISO 8601 in UTC with microseconds, e.g. 2018-03-12T21:02:18.123456Z.
# Fixed width, so text order is time order (decoder/dedupe.py relies on it).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the same to the second (a GeoIP database's build time)
_SECONDS_PART = TIMESTAMP_FORMAT.removesuffix("%fZ")

_second = -1
_prefix = ""


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def today() -> dt.date:
    return now().date()


def yesterday(day: dt.date | None = None) -> dt.date:
    """The last day that has ended (the day before `day`, if given): the one a daily job covers by default."""
    return (day or today()) - dt.timedelta(days=1)


def days_due(last: tuple[dt.date, dt.datetime | None] | None, today: dt.date, most: int) -> list[dt.date]:
    """The ended days whose daily cycle has not run, oldest first. `last` is the latest day cycled and
    when its cycle finished. Due: yesterday if it is later than that day, and the days before
    it that ended after that cycle (a stop or a missed start left them), the latest `most` in all.
    A day cycled by hand long ago leaves the days between alone: they ended before it ran."""
    end = yesterday(today)
    if last is None:
        return [end]
    day, finished = last
    if day >= end:
        return []
    ran = finished.astimezone(dt.timezone.utc).date() if finished else day
    first = min(max(day + dt.timedelta(days=1), ran, end - dt.timedelta(days=most - 1)), end)
    return [first + dt.timedelta(days=i) for i in range((end - first).days + 1)]


def day_or_yesterday(chosen: dt.date | None) -> dt.date:
    """The day a `--date` option chose (click gives a naive datetime: its date), else yesterday."""
    if chosen is None:
        return yesterday()
    return chosen.date() if isinstance(chosen, dt.datetime) else chosen


def ended(day: dt.date) -> bool:
    """Whether the UTC day is over (only then is it complete)."""
    return day < today()


def not_ended(day: dt.date) -> str | None:
    """Why `day`'s cycle cannot run yet, or None. A day that has not ended (UTC) is refused: its cycle
    would copy part of it and be recorded as done, and `up` would never run that day whole."""
    if ended(day):
        return None
    return (
        f"{day} has not ended (UTC): a day's cycle runs once it is over (`up` runs each one by itself); "
        f"the last day that has ended is {yesterday()}"
    )


def bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The day's first instant and the next day's, in UTC: [start, end)."""
    start = dt.datetime.combine(day, dt.time(), UTC)
    return start, start + dt.timedelta(days=1)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """The moment in UTC (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def day_of(moment: dt.datetime) -> dt.date:
    """The UTC day of a moment (a naive one is taken as UTC)."""
    return as_utc(moment).date()


def timestamp(moment: dt.datetime) -> str:
    """A moment as submission_timestamp text (TIMESTAMP_FORMAT; a naive moment is taken as UTC)."""
    return as_utc(moment).strftime(TIMESTAMP_FORMAT)


def timestamp_seconds(moment: dt.datetime) -> str:
    """A moment to the second (SECONDS_FORMAT), as Mozilla gives a GeoIP database's version."""
    return as_utc(moment).strftime(SECONDS_FORMAT)


def timestamp_at(seconds: float | None = None) -> str:
    """Seconds since the epoch (now, if None) as submission_timestamp text: the edge's, per request.

    strftime is slow next to everything else on the edge's hot path, so the seconds part is
    formatted once per second and reused.
    """
    global _second, _prefix
    micros_total = int((time.time() if seconds is None else seconds) * 1_000_000)
    whole, micros = divmod(micros_total, 1_000_000)
    if whole != _second:
        _prefix = time.strftime(_SECONDS_PART, time.gmtime(whole))
        _second = whole
    return f"{_prefix}{micros:06d}Z"
