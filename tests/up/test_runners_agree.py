"""Every runner routes alike: one queue of mixed messages (pings, Glean server events, a service's
mozlog lines, copies of each, lines that are none of these) gives the same tables through a running
`up`, through Beam's DirectRunner straight into a warehouse, and through the DaskRunner then
`pingpipe load` (tests/test_runners_agree.py compares pings alone, in process, in detail)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import duckdb
import pytest

from pingpipe.edge.publish.segments import SegmentLog, sealed_segments
from pingpipe.message import encode_line
from tests.fixtures.demo import demo_ping
from tests.helpers import PINGPIPE
from tests.up.conftest import start_up

pytestmark = [pytest.mark.system, pytest.mark.external]  # the DaskRunner


def ping(launches: int) -> bytes:
    return json.dumps(demo_ping({"counter": {"demo.launches": launches}}, seq=launches)).encode()


def edge_line(uri: str, body: bytes, ts: str) -> bytes:
    return encode_line(body, {"uri": uri, "submission_timestamp": ts, "remote_addr": "81.2.69.160"})


def server_event(document_id: str, launches: int) -> bytes:
    fields = {
        "document_namespace": "pingpipe-demo",
        "document_type": "hello",
        "document_version": "1",
        "document_id": document_id,
        "user_agent": "Python/3.11",
        "ip_address": "81.2.69.160",
        "payload": ping(launches).decode(),
    }
    return json.dumps({"Type": "glean-server-event", "Timestamp": 1764000000000000000, "Fields": fields}).encode() + b"\n"


def mozlog(type_: str, n: int) -> bytes:
    return (
        json.dumps({"Type": type_, "Timestamp": 1764000000000000000 + n, "Severity": 6, "Fields": {"n": n, "path": "/v1"}}).encode() + b"\n"
    )


@pytest.fixture(scope="module")
def queue(tmp_path_factory) -> tuple[Path, int]:
    """A data folder whose queue holds every kind of line, queued by the real producers; and its line count."""
    data = tmp_path_factory.mktemp("source") / "data"
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    lines = [
        edge_line(f"/submit/pingpipe-demo/hello/1/{a}", ping(1), "2026-11-23T10:00:02.000000Z"),
        edge_line(f"/submit/pingpipe-demo/hello/1/{b}", ping(2), "2026-11-23T10:00:03.000000Z"),
        edge_line(f"/submit/pingpipe-demo/hello/1/{a.upper()}", ping(3), "2026-11-23T10:00:01.000000Z"),  # earlier: it wins
        edge_line(f"/submit/pingpipe-demo/hello/1/{b}", ping(4), "2026-11-23T10:00:04.000000Z"),  # later: a duplicate
        edge_line(f"/submit/pingpipe-demo/hello/1/{c}", b'{"ping_info": 5}', "2026-11-23T10:00:05.000000Z"),  # fails its schema
        edge_line(f"/submit/pingpipe-demo/nosuchping/1/{uuid.uuid4()}", ping(6), "2026-11-23T10:00:06.000000Z"),
        edge_line("/submit/pingpipe-demo/hello", ping(7), "2026-11-23T10:00:07.000000Z"),
        b"this line is not a raw message\n",
    ]

    async def queue_pings():
        log = SegmentLog(data / "queue", max_age=60)
        log.start()
        for line in lines:
            await log.append(line)
        await log.close()

    asyncio.run(queue_pings())
    events = data.parent / "events.log"
    d, e = str(uuid.uuid4()), str(uuid.uuid4())
    events.write_bytes(server_event(d, 8) + server_event(e, 9) + server_event(d, 8) + b"plain text, not an event\n")
    service = data.parent / "service.log"
    service.write_bytes(
        mozlog("request.summary", 1)
        + mozlog("request.summary", 2)
        + mozlog("account.created", 3)
        + mozlog("request.summary", 1)  # the same line again: a duplicate
        + b"not mozlog at all\n"
        + mozlog("81.2.69.160", 4)  # a Type that is an address: an error row, not a table
    )
    for extra in ([str(events)], ["--service", "fxa-auth", str(service)]):
        done = subprocess.run([PINGPIPE, "logs", "ingest", "--data", str(data), *extra], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    count = sum(1 for path in sealed_segments(data / "queue") for line in path.read_bytes().splitlines() if line.strip())
    assert count == len(lines) + 4 + 6
    return data, count


def tables(warehouse: Path) -> dict[str, list[str]]:
    """Every live and error table's rows, as sorted JSON text; of an error row, what any runner gives alike
    (not its stack trace, which names the runner's frames, nor the made-up time of a line without one)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for schema, name in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall():
            if not (schema.endswith("_live") or schema == "payload_bytes_error"):
                continue
            rows = [json.loads(r) for (r,) in con.execute(f'SELECT to_json(t) FROM "{schema}"."{name}" AS t').fetchall()]
            for row in rows:
                if schema == "payload_bytes_error":
                    row.pop("stack_trace", None)
                    if row.get("error_type") in ("ParseRawMessage", "ParseLogEntry"):  # lines that came without a time
                        row.pop("submission_timestamp", None)
            if rows:  # `up` makes both error tables at its start, empty or not
                out[f"{schema}.{name}"] = sorted(json.dumps(r, sort_keys=True) for r in rows)
        return out
    finally:
        con.close()


def run(*args: str) -> None:
    done = subprocess.run([PINGPIPE, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


def test_up_beam_and_dask_then_load_give_the_same_tables_for_every_kind_of_line(queue, tmp_path):
    source, count = queue
    segments = f"file:{source / 'queue'}/*.ndjson"

    through_up = tmp_path / "up"
    shutil.copytree(source, through_up)
    up = start_up(through_up)
    try:
        up.wait_committed(count)
    finally:
        assert up.stop() == 0
    expected = tables(through_up / "warehouse.duckdb")

    run("decode", "--input", segments, "--output", f"duckdb:{tmp_path / 'beam.duckdb'}")
    run(
        "decode",
        "--input",
        segments,
        "--output",
        f"file:{tmp_path}/dask/out",
        "--errors",
        f"file:{tmp_path}/dask/err",
        "--runner",
        "DaskRunner",
    )
    run("load", "--input", f"file:{tmp_path}/dask/*", "--data", str(tmp_path / "dask-data"))

    assert expected["pingpipe_demo_live.hello_v1"] and expected["fxa_auth_logs_live.request_summary"]
    errors = [json.loads(r) for r in expected["payload_bytes_error.structured"]]
    kinds = sorted(r["error_type"] for r in errors)
    # a copy of each of two pings, of a server event and of a log line; a ping against its schema, one
    # without a schema; a bad URI; a line that is no raw message; a plain text line; two that are not mozlog
    assert kinds == sorted(
        ["duplicate"] * 4 + ["ParsePayload"] * 2 + ["ParseUri", "ParseRawMessage", "ParseLogEntry"] + ["ParseMozlog"] * 2
    )
    assert tables(tmp_path / "beam.duckdb") == expected
    assert tables(tmp_path / "dask-data" / "warehouse.duckdb") == expected
