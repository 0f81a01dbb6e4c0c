"""The supervisor's loop, in process: the worker pool and a real edge and DuckDB, with one commit held."""

from __future__ import annotations

import errno
import io
import os
import signal
import threading
import time

import duckdb
import pytest

from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.up import runner
from pingpipe.up.commit import Committer
from pingpipe.up.retry import RetryConfig
from pingpipe.up.runner import Up, UpConfig
from tests.fixtures import SCHEMAS
from tests.helpers import free_port
from tests.up.conftest import line

pytestmark = pytest.mark.system


class HeldCommitter(Committer):
    """The fault: the first commit lasts until the test lets it go, as a DuckDB checkpoint can last seconds
    inside a COMMIT (a real checkpoint's length cannot be chosen)."""

    held = threading.Event()
    release = threading.Event()

    def commit(self, result, paths):
        if not HeldCommitter.held.is_set():
            HeldCommitter.held.set()
            HeldCommitter.release.wait(120)
        return super().commit(result, paths)


def run_driven(up: Up, drive) -> int:
    """Run `up` in this thread while `drive` runs in another (it ends with a Ctrl-C); this process's
    signal handlers are restored after."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    threading.Thread(target=drive, daemon=True).start()
    try:
        return up.run()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_the_workers_keep_decoding_segments_while_a_commit_is_slow(tmp_path, monkeypatch):
    queue = tmp_path / "data" / "queue"
    queue.mkdir(parents=True)
    for i in range(5):  # sealed segments, named as the edge names them (oldest first)
        (queue / f"{time.time_ns():020d}-test-{i:06d}.ndjson").write_bytes(line() + line())
    HeldCommitter.held.clear()
    HeldCommitter.release.clear()
    monkeypatch.setattr(runner, "Committer", HeldCommitter)
    # batch_bytes=1: one segment per result, so the first commit holds only the first segment.
    up = Up(UpConfig(data=tmp_path / "data", schemas=SCHEMAS, port=free_port(), workers=1, batch_bytes=1), out=io.StringIO())
    decoded_while_held: list[int] = []

    def drive():
        HeldCommitter.held.wait(120)
        deadline = time.monotonic() + 60
        while up.segments_decoded < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        decoded_while_held.append(up.segments_decoded)
        HeldCommitter.release.set()
        while up.committer.totals["messages"] < 10 and time.monotonic() < deadline + 60:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: drain and stop

    try:
        code = run_driven(up, drive)
    finally:
        HeldCommitter.release.set()
    # The four segments behind the held one were all decoded (and wait, in order) before it committed.
    assert decoded_while_held == [5]
    assert code == 0
    totals = up.committer.totals
    assert (totals["messages"], totals["rows"], totals["errors"], totals["duplicates"]) == (10, 10, 0, 0)
    assert not list(queue.glob("*.ndjson"))


class FailingCommitter(Committer):
    """The fault: commits of the marked segment's rows fail, as no real data makes a commit fail once the
    warehouse's refusals are found row by row (commit.py). `error` is what they fail with."""

    marked = ""
    error: Exception = RuntimeError()

    def commit(self, result, paths):
        if result.rows and FailingCommitter.marked in result.names:
            raise FailingCommitter.error
        return super().commit(result, paths)


def run_until(up: Up, done, timeout: float = 60.0) -> tuple[int, float]:
    """Run `up` in this thread; Ctrl-C it once done(up) holds. Returns its exit code and how long the stop took."""
    stopped = []

    def drive():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (hasattr(up, "committer") and done(up)):
            time.sleep(0.05)
        stopped.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    code = run_driven(up, drive)
    return code, time.monotonic() - stopped[0]


def failing_up(tmp_path, monkeypatch, error: Exception) -> tuple[Up, list]:
    queue = tmp_path / "data" / "queue"
    queue.mkdir(parents=True)
    names = [f"{time.time_ns():020d}-test-{i:06d}.ndjson" for i in range(5)]
    for name in names:
        (queue / name).write_bytes(line() + line())
    FailingCommitter.marked, FailingCommitter.error = names[1], error
    monkeypatch.setattr(runner, "Committer", FailingCommitter)
    config = UpConfig(
        data=tmp_path / "data",
        schemas=SCHEMAS,
        port=free_port(),
        workers=1,
        retry=RetryConfig(first_delay=0.05, max_delay=0.2),
        drain_timeout=5.0,
    )
    return Up(config, out=io.StringIO()), names


def test_a_segment_whose_commit_keeps_failing_on_its_data_becomes_error_rows_and_the_rest_loads(tmp_path, monkeypatch):
    up, names = failing_up(tmp_path, monkeypatch, duckdb.ConversionException("cannot take this batch"))
    code, _ = run_until(up, lambda up: up.committer.totals["messages"] >= 10)
    totals = up.committer.totals
    assert code == 0 and (totals["messages"], totals["rows"], totals["errors"]) == (10, 8, 2)
    writer = DuckDBWriter(tmp_path / "data" / "warehouse.duckdb")
    errors = writer.query("SELECT error_type, error_message FROM payload_bytes_error.structured").fetchall()
    writer.close()
    assert [e[0] for e in errors] == ["Load", "Load"] and all(names[1] in e[1] and "3 times" in e[1] for e in errors)
    assert not list((tmp_path / "data" / "queue").glob("*.ndjson"))
    assert "the segments behind go on" in up.out.getvalue()


def test_a_segment_failing_for_the_disk_is_never_given_up_and_ctrl_c_leaves_it_queued_in_bounded_time(tmp_path, monkeypatch):
    up, names = failing_up(tmp_path, monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    code, stop_took = run_until(up, lambda up: up.committer.totals["messages"] >= 8 and up.failures.tries.get(names[1], 0) >= 5)
    totals = up.committer.totals
    assert code == 0 and (totals["messages"], totals["rows"], totals["errors"]) == (8, 8, 0)
    assert stop_took < 5.0
    assert [p.name for p in (tmp_path / "data" / "queue").glob("*.ndjson")] == [names[1]]  # nothing lost: it loads next time
