"""Followed log files under rotation: each line is queued exactly once whether the file is renamed
(logrotate's default), replaced while the reader is down, or compressed; a line longer than the
limit becomes one error message and never sits whole in memory. Real files, the real segment log."""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from pingpipe.logs.ingest import Follower, IngestConfig, Lines, TooLong
from pingpipe.logs.records import ERROR, ERROR_KIND, TOO_LONG
from pingpipe.message import RawMessage
from tests.helpers import PINGPIPE
from tests.up.test_hardening import demo_ping


def server_event(document_id: str) -> bytes:
    """A mozlog line of a Glean server event, as glean_parser's server loggers write it, for the demo app."""
    return orjson.dumps(
        {
            "Timestamp": time.time_ns(),
            "Logger": "glean",
            "Type": "glean-server-event",
            "Fields": {
                "document_namespace": "pingpipe-demo",
                "document_type": "hello",
                "document_version": "1",
                "document_id": document_id,
                "user_agent": "server",
                "ip_address": "81.2.69.160",
                "payload": demo_ping({"counter": {"demo.launches": 1}}).decode(),
            },
        }
    )


def queued(queue: Path) -> list[RawMessage]:
    return [
        RawMessage.from_line(line) for path in sorted(queue.glob("*.ndjson*")) for line in path.read_bytes().splitlines() if line.strip()
    ]


def lines(prefix: str, n: int) -> bytes:
    return b"".join(f"{prefix} line {i}\n".encode() for i in range(n))


def wait_for(queue: Path, n: int, timeout: float = 10.0) -> list[RawMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = queued(queue)
        if len(found) >= n:
            return found
        time.sleep(0.05)
    return queued(queue)


@pytest.fixture
def follow(tmp_path):
    followers = []

    def start(folder: Path, **config) -> Follower:
        follower = Follower(
            folder,
            IngestConfig(tmp_path / "queue", follow=True, offsets=tmp_path / "offsets.json", poll=0.05, segment_max_age=0.05, **config),
        )
        follower.start()
        followers.append(follower)
        return follower

    yield start
    for follower in followers:
        follower.stop()


def test_a_renamed_file_is_read_to_its_end_and_never_again_and_its_successor_from_its_start(tmp_path, follow):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "r.log").write_bytes(lines("first", 100))
    follow(logs)
    assert len(wait_for(tmp_path / "queue", 100)) == 100
    os.rename(logs / "r.log", logs / "r.log.1")  # logrotate's rename; the service still writes to its open file
    with open(logs / "r.log.1", "ab") as old:
        old.write(lines("late", 10))
    (logs / "r.log").write_bytes(lines("second", 20))
    messages = wait_for(tmp_path / "queue", 130)
    time.sleep(0.5)  # a few more polls: nothing read again
    bodies = Counter(m.data for m in queued(tmp_path / "queue"))
    assert len(messages) == 130 and sum(bodies.values()) == 130
    assert set(bodies.values()) == {1}
    assert bodies[b"late line 9"] == 1 and bodies[b"second line 19"] == 1


def test_a_restart_finds_each_file_under_its_new_name_and_goes_on_where_it_stopped(tmp_path, follow):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "r.log").write_bytes(lines("first", 50))
    follower = follow(logs)
    assert len(wait_for(tmp_path / "queue", 50)) == 50
    follower.stop()
    with open(logs / "r.log", "ab") as f:  # written while the reader was down, then rotated
        f.write(lines("unread", 5))
    os.rename(logs / "r.log", logs / "r.log.1")
    (logs / "r.log").write_bytes(lines("new", 7))
    with gzip.open(logs / "r.log.2.gz", "wb") as f:  # rotation's compressed old logs are not read
        f.write(lines("compressed", 3))
    follow(logs)
    wait_for(tmp_path / "queue", 62)
    time.sleep(0.5)
    bodies = Counter(m.data for m in queued(tmp_path / "queue"))
    assert sum(bodies.values()) == 62 and set(bodies.values()) == {1}
    assert bodies[b"unread line 4"] == 1 and bodies[b"new line 6"] == 1 and bodies[b"compressed line 0"] == 0


def test_a_file_replaced_under_a_reused_name_while_down_is_read_from_its_start(tmp_path, follow):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "r.log").write_bytes(lines("first", 30))
    follower = follow(logs)
    assert len(wait_for(tmp_path / "queue", 30)) == 30
    follower.stop()
    (logs / "r.log").unlink()
    (logs / "r.log").write_bytes(lines("other", 40))  # may get the same inode: its first bytes tell it apart
    follow(logs)
    wait_for(tmp_path / "queue", 70)
    time.sleep(0.3)
    bodies = Counter(m.data for m in queued(tmp_path / "queue"))
    assert sum(bodies.values()) == 70 and bodies[b"other line 0"] == 1


def test_a_line_over_the_limit_becomes_one_error_message_of_its_head(tmp_path, follow):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "r.log").write_bytes(b"before\n" + b"x" * 300_000 + b" from 81.2.69.160\nafter\n")
    follow(logs, max_line_bytes=1000)
    messages = wait_for(tmp_path / "queue", 3)
    assert [m.data for m in messages if ERROR not in m.attributes] == [b"before", b"after"]
    (long,) = [m for m in messages if ERROR in m.attributes]
    assert long.data == b"x" * 1000 and long.attributes[ERROR_KIND] == TOO_LONG
    assert "a line of 300017 bytes, over the limit of 1000" in long.attributes[ERROR]


def test_lines_hold_at_most_the_limit_of_an_unfinished_line():
    split = Lines(limit=4)
    assert split.feed(b"ab\ncdefg") == [b"ab"] and split.pending == 5 and split.partial == b""
    assert split.feed(b"h" * 1_000_000) == [] and split.long == TooLong(b"cdef", 1_000_005)
    assert split.feed(b"\nij") == [TooLong(b"cdef", 1_000_005)] and split.finish() == [b"ij"]


@pytest.mark.system
def test_up_follows_a_rotated_log_without_loading_a_line_twice(run_up, tmp_path):
    """The issue's case: 100 events and 50 other lines, the file renamed away: nothing comes back."""
    logs = tmp_path / "logs"
    logs.mkdir()
    up = run_up("--logs", str(logs))
    with open(logs / "server.log", "wb") as f:
        for i in range(100):
            f.write(server_event(f"{i:08x}-1111-4222-8333-944445555666") + b"\n")
            if i % 2:
                f.write(b"not an event %d\n" % i)
    up.wait_committed(150)
    os.rename(logs / "server.log", logs / "server.log.1")
    (logs / "server.log").write_bytes(b"after the rotation\n")
    up.wait_committed(151)
    time.sleep(1.5)  # polls enough to have read anything again
    status = up.status()
    assert status["committed"]["messages"] == 151, status["committed"]
    assert status["committed"].get("duplicates", 0) == 0
    assert sum(status["errors_by_type"].values()) == 51
    assert up.query("SELECT count(*) AS n FROM pingpipe_demo_live.hello_v1") == [{"n": 100}]


@pytest.mark.system
def test_logs_ingest_takes_its_line_limit_from_its_config():
    done = subprocess.run([PINGPIPE, "logs", "ingest", "--help"], capture_output=True, text=True, timeout=60)
    assert f"default: {IngestConfig.max_line_bytes}" in done.stdout.replace("\n", " ").replace("  ", " ")
