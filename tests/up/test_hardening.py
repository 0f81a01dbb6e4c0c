"""`pingpipe up` under input and faults meant to stop it, as real processes over real sockets:
a poison ping, a killed edge, a kill during start-up, and a Ctrl-C that must end in bounded time."""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import signal
import time
import uuid

import orjson
import pytest

from tests.fixtures import demo
from tests.helpers import free_port, wait_http

pytestmark = pytest.mark.system

CLIENT_INFO = {**demo.CLIENT_INFO, "telemetry_sdk_build": "curl"}
PING_INFO = demo.PING_INFO


def demo_ping(metrics: dict) -> bytes:
    """The README's curl ping to the shipped demo app, with these metrics."""
    return orjson.dumps({"ping_info": PING_INFO, "client_info": CLIENT_INFO, "metrics": metrics})


def nested(depth: int) -> bytes:
    """The README's ping with an object metric nested `depth` arrays deep."""
    return demo_ping({"object": {"demo.obj": "X"}}).replace(b'"X"', b"[" * depth + b"1" + b"]" * depth)


def send_all(port: int, bodies: list[bytes], connections: int = 8) -> list[str]:
    """POST each body over keep-alive connections, eight at once (the edge answers them with shared
    fsyncs); the document ids that got 200, in the order of `bodies`."""

    def send(start: int) -> list[tuple[int, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ok = []
        for i in range(start, len(bodies), connections):
            doc_id = str(uuid.uuid4())
            conn.request("POST", f"/submit/pingpipe-demo/hello/1/{doc_id}", body=bodies[i], headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                ok.append((i, doc_id))
        conn.close()
        return ok

    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        return [doc_id for _, doc_id in sorted(pair for part in pool.map(send, range(connections)) for pair in part)]


def children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of the processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
                cmd = open(f"/proc/{entry}/cmdline", "rb").read()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append((int(entry), cmd))
    return found


def alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_pings_nested_past_every_encoders_limit_end_in_one_place_and_the_1000_pings_after_them_all_load(run_up):
    """The README's ping with an object 300 arrays deep once stopped all loading, for good. It is now
    a row (its object kept exactly); one past the 1024 levels JSON parsers take is one error row."""
    up = run_up()
    (deep,) = send_all(up.port, [nested(300)])
    (too_deep,) = send_all(up.port, [nested(1100)])
    good = send_all(up.port, [demo_ping({"counter": {"demo.launches": i}}) for i in range(1000)])
    assert len(good) == 1000
    status = up.wait_committed(1002, timeout=60)
    rows = {r["document_id"]: r for r in up.query("SELECT document_id, additional_properties FROM pingpipe_demo_live.hello_v1")}
    assert set(rows) == set(good) | {deep}
    kept = orjson.loads(rows[deep]["additional_properties"])["metrics"]["object"]["demo.obj"]
    depth = 0
    while isinstance(kept, list):
        kept, depth = kept[0], depth + 1
    assert (depth, kept) == (300, 1)
    (error,) = up.query("SELECT document_id, error_type, error_message FROM payload_bytes_error.structured")
    assert error["document_id"] == too_deep and error["error_type"] == "ParsePayload"
    assert status["committed"]["messages"] == status["committed"]["rows"] + status["committed"]["errors"] == 1002
    started = time.monotonic()
    assert up.stop() == 0 and time.monotonic() - started < 30


def test_a_killed_edge_is_restarted_and_pings_after_it_load(run_up):
    up = run_up()
    (edge,) = [pid for pid, cmd in children(up.proc.pid) if b"pingpipe.edge.server" in cmd.split(b"\0")]
    before = send_all(up.port, [demo_ping({})])
    time.sleep(1.5)  # the edge writes its counts every second: a SIGKILL takes the last second's with it
    os.kill(edge, signal.SIGKILL)
    wait_http(up.port, timeout=30, proc=up.proc)
    after = send_all(up.port, [demo_ping({}) for _ in range(3)])
    assert len(before) == 1 and len(after) == 3 and up.proc.poll() is None
    up.wait_committed(4)
    assert {r["document_id"] for r in up.query("SELECT document_id FROM pingpipe_demo_live.hello_v1")} == set(before + after)
    assert "restarting it" in up.log.read_text()
    deadline = time.monotonic() + 10  # each edge writes its counts every second: the killed one's stand
    while up.status()["accepted_since_start"] != 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert up.status()["accepted_since_start"] == 4
    assert up.stop() == 0
    assert "stopped: edge accepted 4 · loaded 4" in up.log.read_text()


def test_killing_up_while_its_workers_start_leaves_no_process_behind(run_up):
    up = run_up("--workers", "2")
    send_all(up.port, [demo_ping({})])  # the first segment makes the pool start its workers
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while time.monotonic() < deadline and not workers:
        workers = [pid for pid, cmd in children(up.proc.pid) if b"spawn_main" in cmd]
    assert workers, "no worker process appeared"
    os.kill(up.proc.pid, signal.SIGKILL)  # while they import: before they could ask to die with their parent
    up.proc.wait(timeout=20)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)]


def test_ctrl_c_ends_within_the_drain_timeout_and_what_is_left_stays_queued(run_up, tmp_path):
    """A backlog bigger than the drain timeout allows: `up` stops in time, and the rest loads at the next start."""
    data = tmp_path / "data"
    up = run_up("--drain-timeout", "0.5", data=data)
    up.proc.send_signal(signal.SIGSTOP)  # the edge keeps accepting; nothing is committed meanwhile
    try:
        sent = send_all(up.port, [demo_ping({}) for _ in range(3000)])
    finally:
        up.proc.send_signal(signal.SIGCONT)
    started = time.monotonic()
    assert up.stop(timeout=60) == 0
    assert time.monotonic() - started < 20
    again = run_up(data=data, port=free_port())
    again.wait_committed(len(sent), timeout=120)
    rows = again.query("SELECT document_id, count(*) AS n FROM pingpipe_demo_live.hello_v1 GROUP BY 1")
    assert {r["document_id"] for r in rows} == set(sent) and {r["n"] for r in rows} == {1}
    assert again.stop() == 0
