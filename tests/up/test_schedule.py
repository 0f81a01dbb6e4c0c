"""Which segments `up` hands out next, in memory: oldest first, up to batch_bytes, a failed one alone."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pingpipe.up.retry import Failures, RetryConfig
from pingpipe.up.schedule import failure_line, given_up_error, next_group
from pingpipe.up.work import SegmentFailed, WorkerCrashed

SIZES = {"1-a.ndjson": 10, "2-b.ndjson": 10, "3-c.ndjson": 10, "4-d.ndjson": 10}
QUEUE = [Path("/queue") / name for name in SIZES]  # oldest first, as sealed_segments lists them


def names(group: list[Path]) -> list[str]:
    return [p.name for p in group]


def pick(claimed=(), failures=None, now=0.0, stopping=False, batch_bytes=25, sizes=SIZES) -> list[str]:
    group = next_group(
        QUEUE,
        set(claimed),
        failures or Failures(RetryConfig(first_delay=1.0)),
        now,
        stopping=stopping,
        batch_bytes=batch_bytes,
        size=lambda p: sizes.get(p.name),
    )
    return names(group)


def test_segments_go_oldest_first_up_to_batch_bytes_but_at_least_one():
    assert pick(batch_bytes=25) == ["1-a.ndjson", "2-b.ndjson"]
    assert pick(batch_bytes=1) == ["1-a.ndjson"]  # one segment larger than a batch still goes
    assert pick(batch_bytes=1000) == list(SIZES)


def test_claimed_and_vanished_segments_are_skipped():
    assert pick(claimed={"1-a.ndjson"}) == ["2-b.ndjson", "3-c.ndjson"]
    assert pick(sizes={k: v for k, v in SIZES.items() if k != "2-b.ndjson"}) == ["1-a.ndjson", "3-c.ndjson"]


def test_a_segment_that_failed_goes_alone_once_due_and_the_ones_behind_it_go_on_meanwhile():
    failures = Failures(RetryConfig(first_delay=1.0))
    failures.failed(["2-b.ndjson"], ValueError("bad data"), now=0.0)
    assert pick(failures=failures, now=0.5) == ["1-a.ndjson", "3-c.ndjson"]  # not due yet: skipped
    assert pick(failures=failures, now=1.0) == ["1-a.ndjson"]  # due: the group ends before it
    assert pick(claimed={"1-a.ndjson"}, failures=failures, now=1.0) == ["2-b.ndjson"]  # then alone


def test_while_stopping_a_segment_that_failed_stays_queued_for_the_next_start():
    failures = Failures(RetryConfig(first_delay=1.0))
    failures.failed(["1-a.ndjson"], ValueError("bad data"), now=0.0)
    assert pick(failures=failures, now=5.0, stopping=True) == ["2-b.ndjson", "3-c.ndjson"]


def test_a_given_up_segment_becomes_load_errors_or_worker_crashes_saying_how_often_it_failed():
    error, error_type = given_up_error("1-a.ndjson", ValueError("bad"), 3)
    assert isinstance(error, SegmentFailed) and error_type == "Load" and "1-a.ndjson failed 3 times" in str(error)
    error, error_type = given_up_error("1-a.ndjson", WorkerCrashed("died"), 3)
    assert isinstance(error, WorkerCrashed) and error_type == "WorkerCrashed" and "killed a worker process 3 times" in str(error)


def test_the_failure_line_says_whose_fault_and_when_it_is_tried_again():
    disk = failure_line("committing", ["1-a.ndjson"], duckdb.IOException("No space left on device"), 4.2)
    assert disk.startswith("committing ['1-a.ndjson'] failed (the environment's, in 4 s; the segments behind go on)")
    assert "(retried alone," in failure_line("processing", ["1-a.ndjson", "2-b.ndjson"], ValueError(), 1.0)
    assert "(retried," in failure_line("processing", ["1-a.ndjson"], ValueError(), 1.0)
