"""The queue's ledger of what it accepted (edge/publish/accepted.py): each sealed segment counted once,
by day, namespace, doctype and version, whether its writer sealed it or a recovery after a kill did."""

from __future__ import annotations

import asyncio
from collections import Counter

from pingpipe.edge.publish import accepted
from pingpipe.edge.publish.segments import OPEN, SegmentLog, recover
from pingpipe.message import encode_line

DOC = "0b6c4a3e-1111-4222-8333-000000000001"


def line(uri: str | None, day: str = "2026-12-01", **extra: str) -> bytes:
    attributes = {"submission_timestamp": f"{day}T23:59:59.999999Z", **({"uri": uri} if uri else {}), **extra}
    return encode_line(b'{"payload mentions \\"uri\\":\\"/submit/x/y/9/z\\"": 1}', attributes)


def test_a_line_is_keyed_by_its_attributes_never_by_its_payload():
    assert accepted.key_of(line(f"/submit/org-a/baseline/1/{DOC}")) == "2026-12-01 org-a baseline 1"
    assert accepted.key_of(line(f"/submit/telemetry/{DOC}/main/Firefox/120.0/release/2023")) == "2026-12-01 telemetry main "
    assert accepted.key_of(line(None, log_type="request.summary", log_service="fxa-auth")) == "2026-12-01 logs:fxa-auth request.summary "
    assert accepted.key_of(b'{"attributeMap": {}, "payload": ""}') == "   "
    entry = encode_line(b'{"jsonPayload": {"Fields": {}}, "receiveTimestamp": "2026-11-30T23:59:59.5Z"}', {})
    assert accepted.key_of(entry) == "2026-11-30   "  # a server's log entry: dated by its body, as the decoder dates it


def test_sealed_segments_are_counted_once_and_a_killed_writers_segment_when_it_is_recovered(tmp_path):
    async def write() -> None:
        log = SegmentLog(tmp_path, max_age=60)
        log.start()
        for i in range(3):
            uri, day = f"/submit/org-a/baseline/1/{DOC}", f"2026-12-0{1 + i % 2}"
            if i:  # the edge's way: the key from the attributes it has, never read back
                await log.enqueue(line(uri, day=day), accepted.key({"uri": uri, "submission_timestamp": f"{day}T23:59:59.999999Z"}))
            else:  # a writer that gives none: read from the line
                await log.append(line(uri, day=day))
        await log.close()  # sealed: counted

    asyncio.run(write())
    left = tmp_path / f"0000-{'host'}-999999-000001{OPEN}"  # a writer killed: its segment open, no process
    left.write_bytes(line(f"/submit/org-b/hello/2/{DOC}") + b'{"torn')
    recover(tmp_path)
    recover(tmp_path)  # a second recovery finds nothing more to count
    counts = Counter()
    for segment in accepted.ledger(tmp_path).values():
        counts.update(segment)
    assert counts == {"2026-12-01 org-a baseline 1": 2, "2026-12-02 org-a baseline 1": 1, "2026-12-01 org-b hello 2": 1}


def test_a_segment_counted_twice_by_a_kill_between_its_count_and_its_rename_is_read_once(tmp_path):
    segment = tmp_path / f"0001-host-1-000001{OPEN}"
    segment.write_bytes(line(f"/submit/org-a/baseline/1/{DOC}"))
    accepted.record(tmp_path, segment, "w1")
    accepted.record(tmp_path, segment, "w2")  # counted again by the process that recovered it
    (tmp_path / accepted.FOLDER / "w3.log").write_bytes(b'{"segment": "torn')  # a kill in the middle of a write
    assert accepted.ledger(tmp_path) == {"0001-host-1-000001": Counter({"2026-12-01 org-a baseline 1": 1})}
