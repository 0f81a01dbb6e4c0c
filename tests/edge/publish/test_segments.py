"""The durable segment log: group commit, sealing, and recovery after a crash."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import pytest

from pingpipe.edge.publish.segments import OPEN, SEALED, SegmentLog, StorageFull, recover, sealed_segments


def lines_in(directory, pattern="*.ndjson*") -> list[bytes]:
    """The lines of the segments (the ledger of what was accepted, accepted/, aside)."""
    out = []
    for path in sorted(directory.glob(pattern)):
        out += [line for line in path.read_bytes().split(b"\n") if line]
    return out


def test_concurrent_appends_share_fsyncs_and_all_land(tmp_path):
    log = SegmentLog(tmp_path, max_age=60)
    writes = []
    real_write = log._write

    def counting_write(data, counts=None):
        writes.append(data.count(b"\n"))
        real_write(data, counts)

    log._write = counting_write

    async def main():
        log.start()
        await asyncio.gather(*(log.append(b'{"n": %d}\n' % i) for i in range(2000)))
        await log.close()

    asyncio.run(main())
    assert sum(writes) == 2000
    assert len(writes) < 200  # group commit: many requests per fsync
    assert sorted(lines_in(tmp_path)) == sorted(b'{"n": %d}' % i for i in range(2000))


def test_a_small_batch_waits_for_company_before_its_fsync(tmp_path):
    """Five appends 1 ms apart, below saturation: they share one write+fsync, the first waiting for the rest."""
    log = SegmentLog(tmp_path, max_age=60, group_delay=0.02)
    writes = []
    real_write = log._write
    log._write = lambda data, counts=None: (writes.append(data.count(b"\n")), real_write(data, counts))

    async def main():
        log.start()
        pending = []
        for i in range(5):
            pending.append(log.enqueue(b'{"n": %d}\n' % i))
            await asyncio.sleep(0.001)
        await asyncio.gather(*pending)
        await log.close()

    asyncio.run(main())
    assert writes == [5]
    assert len(lines_in(tmp_path)) == 5


def test_append_returns_only_after_the_line_is_in_the_file(tmp_path):
    async def main():
        log = SegmentLog(tmp_path, max_age=60)
        log.start()
        await log.append(b"first\n")
        assert lines_in(tmp_path, f"*{OPEN}") == [b"first"]
        await log.close()

    asyncio.run(main())


def test_segments_are_sealed_by_age_and_by_size(tmp_path):
    async def main():
        log = SegmentLog(tmp_path, max_age=0.1, max_bytes=50)
        log.start()
        for _ in range(10):
            await log.append(b"x" * 20 + b"\n")
        await asyncio.sleep(0.5)
        assert not list(tmp_path.glob(f"*{OPEN}"))
        assert len(sealed_segments(tmp_path)) >= 4  # 50-byte segments
        await log.close()

    asyncio.run(main())
    assert len(lines_in(tmp_path)) == 10


def test_recover_seals_a_dead_writers_segment_and_cuts_its_torn_line(tmp_path):
    dead = tmp_path / f"{1:020d}-{socket.gethostname()}-999999-000001{OPEN}"
    dead.write_bytes(b'{"a": 1}\n{"b": 2}\n{"torn": ')
    empty = tmp_path / f"{2:020d}-{socket.gethostname()}-999998-000001{OPEN}"
    empty.write_bytes(b"")
    sealed = recover(tmp_path)
    assert [p.name.endswith(SEALED) for p in sealed] == [True]
    assert sealed[0].read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert not empty.exists()


def test_recover_leaves_a_live_workers_segment_alone(tmp_path):
    live_pid = os.getppid()
    live = tmp_path / f"{1:020d}-{socket.gethostname()}-{live_pid}-000001{OPEN}"
    live.write_bytes(b"x\n")
    assert recover(tmp_path) == []
    assert live.exists()


@pytest.mark.system
def test_recover_treats_a_killed_but_unreaped_writer_as_dead(tmp_path):
    """A writer killed with its parent lingers as a zombie until reaped; its segment must still be sealed."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "Z" not in open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0]:
        time.sleep(0.01)  # exited, not yet waited for: a zombie
    segment = tmp_path / f"{1:020d}-{socket.gethostname()}-{child.pid}-000001{OPEN}"
    segment.write_bytes(b'{"a": 1}\n')
    try:
        assert [p.name for p in recover(tmp_path)] == [segment.name[: -len(OPEN)] + SEALED]
    finally:
        child.wait()


def test_below_the_disk_floor_appends_fail_with_storage_full(tmp_path):
    async def main():
        log = SegmentLog(tmp_path, min_free_bytes=1 << 62)  # more than any disk has
        log.start()
        with pytest.raises(StorageFull):
            await log.append(b"x\n")
        await log.close()

    asyncio.run(main())
