"""The failure policy for queue segments, in memory: retry later, isolate, give up only on data."""

from __future__ import annotations

import duckdb
import pytest

from pingpipe.up.retry import Failures, RetryConfig, environmental

CONFIG = RetryConfig(attempts=3, first_delay=1.0, max_delay=8.0)


def test_segments_that_failed_together_are_retried_alone_and_that_failure_does_not_count():
    failures = Failures(CONFIG)
    failures.failed(["a", "b"], ValueError("bad data"), now=100.0)
    assert failures.suspect("a") and failures.suspect("b") and not failures.suspect("c")
    assert not failures.due("a", 100.5) and failures.due("a", 101.0) and failures.due("c", 100.0)
    assert failures.alone == {} and failures.given_up == {}


def test_a_segment_that_fails_alone_on_its_data_is_given_up_after_the_set_number_of_attempts():
    failures = Failures(CONFIG)
    exc = TypeError("Recursion limit reached")
    for _ in range(2):
        failures.failed(["a"], exc, now=0.0)
        assert "a" not in failures.given_up
    failures.failed(["a"], exc, now=0.0)
    assert failures.given_up == {"a": exc}


def test_the_delay_doubles_and_is_capped():
    failures = Failures(CONFIG)
    delays = []
    for _ in range(6):
        failures.failed(["a"], OSError("disk"), now=0.0)
        delays.append(failures.not_before["a"])
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize(
    "exc",
    [
        OSError(28, "No space left on device"),
        MemoryError(),
        duckdb.IOException("IO Error: Could not write file"),
        duckdb.TransactionException('Failed to commit: Could not write file "w.duckdb.wal": No space left on device'),
        duckdb.TransactionException('Failed to commit: Could not write file "w.duckdb.wal": File too large'),
    ],
)
def test_a_failure_of_the_disk_or_memory_never_gives_up_on_the_data(exc):
    assert environmental(exc)
    failures = Failures(CONFIG)
    for _ in range(10):
        failures.failed(["a"], exc, now=0.0)
    assert failures.given_up == {} and failures.suspect("a")


def test_a_cause_of_the_disk_behind_another_error_is_found():
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as inner:
            raise RuntimeError("commit failed") from inner
    except RuntimeError as outer:
        assert environmental(outer)
    assert not environmental(duckdb.ConversionException("Could not convert string 'x' to INT64"))
    assert not environmental(TypeError("Recursion limit reached"))


def test_a_committed_segment_is_forgotten():
    failures = Failures(CONFIG)
    failures.failed(["a"], ValueError("x"), now=0.0)
    failures.done(["a"])
    assert not failures.suspect("a") and failures.due("a", 0.0) and failures.waiting() == 0
