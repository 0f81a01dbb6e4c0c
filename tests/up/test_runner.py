"""The supervisor's loop, in process: the worker pool and a real edge and DuckDB, with one commit held."""

from __future__ import annotations

import io
import os
import signal
import threading
import time

from pingpipe.up import runner
from pingpipe.up.commit import Committer
from pingpipe.up.runner import Up, UpConfig
from tests.conftest import MPS
from tests.helpers import free_port
from tests.up.conftest import line


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


def test_the_workers_keep_decoding_segments_while_a_commit_is_slow(tmp_path, monkeypatch):
    queue = tmp_path / "data" / "queue"
    queue.mkdir(parents=True)
    for i in range(5):  # sealed segments, named as the edge names them (oldest first)
        (queue / f"{time.time_ns():020d}-test-{i:06d}.ndjson").write_bytes(line() + line())
    HeldCommitter.held.clear()
    HeldCommitter.release.clear()
    monkeypatch.setattr(runner, "Committer", HeldCommitter)
    # batch_bytes=1: one segment per result, so the first commit holds only the first segment.
    up = Up(UpConfig(data=tmp_path / "data", schemas=MPS / "schemas", port=free_port(), workers=1, batch_bytes=1),
            out=io.StringIO())
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

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    threading.Thread(target=drive, daemon=True).start()
    try:
        code = up.run()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        HeldCommitter.release.set()
    # The four segments behind the held one were all decoded (and wait, in order) before it committed.
    assert decoded_while_held == [5]
    assert code == 0
    totals = up.committer.totals
    assert (totals["messages"], totals["rows"], totals["errors"], totals["duplicates"]) == (10, 10, 0, 0)
    assert not list(queue.glob("*.ndjson"))
