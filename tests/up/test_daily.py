"""The daily cycle inside `up`, in memory: when the warehouse is asked whether a day is due, and what `up` says after."""

from __future__ import annotations

import datetime as dt

from pingpipe.up.daily import CycleClock, summary


def test_the_cycle_is_looked_for_once_a_minute_never_while_stopping_nor_when_turned_off():
    clock = CycleClock(enabled=True, every=60.0)
    assert clock.look(100.0, stopping=False)
    assert not clock.look(159.0, stopping=False)
    assert clock.look(160.0, stopping=False)
    assert not clock.look(500.0, stopping=True)
    assert clock.look(500.0, stopping=False)  # a look refused while stopping does not count as one
    assert not CycleClock(enabled=False).look(1e9, stopping=False)


def test_the_summary_counts_each_step_then_names_each_failed_query():
    report = {
        "stable": {"a": 3, "b": 2},
        "shredded": {"a": 1},
        "expired": {},
        "etl": {"ran": ["x", "y"], "failed": {"z": "z: no such table"}},
    }
    assert summary(dt.date(2026, 11, 22), report) == [
        "daily cycle for 2026-11-22: stable 5 row(s), shredded 1, expired 0, derived tables 2 (1 failed)",
        "  etl: z: no such table",
    ]
