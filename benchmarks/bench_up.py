"""End to end: `pingpipe up` on this machine, from POST to committed, queryable row.

    .venv/bin/python benchmarks/bench_up.py [--seconds 20] [--workers N] [--rate 5000]

Pings: the ~2.6 KB gzipped Glean baseline ping of bench_decoder.py (its metrics defined, so
they are columns: the table of bench_loader.py), each with a fresh document id, POSTed by wrk
(a Lua script makes the ids) to `pingpipe up --workers N` started here on the embedded defaults.
Everything shares the 2 cores, wrk included. Three phases:
  1. saturate: wrk as fast as the edge answers; committed rows/s is the pipeline's capacity,
     with the CPU used by the edge, the committer (`up` itself) and the worker processes;
  2. sustained: wrk at a fixed rate (--rate, by default the goal of 5K pings/s; a schedule in the
     Lua script, so latency does not change it): the pipeline keeps up if committed matches
     accepted and the backlog left when the load stops is committed within about a second;
  3. freshness: during phase 2, a probe POSTs one ping every 0.1 s and polls the admin port until
     its row is queryable; p50/p99 of (row visible - 200 received).
Baseline in the same run: the pure decoder + loader core in one loop (no edge, no queue, no
processes), i.e. what one core does with nothing in the way.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import random

from bench_decoder import baseline_ping, demo_schemas, make_input
from bench_edge import LUA as POST_LUA
from bench_loader import metrics_yaml

from pingpipe.decoder.core import Decoder, DecoderConfig
from pingpipe.gctune import tune_gc
from pingpipe.loader.load import Loader
from pingpipe.message import RawMessage
from pingpipe.up import admin
from pingpipe.up.config import default_workers
from pingpipe.up.work import SegmentResult, process_messages

PINGPIPE = str(Path(sys.executable).with_name("pingpipe"))
TABLE = "org_demo_app_live.baseline_v1"
LUA = (
    POST_LUA
    + """
math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
request = function()
  local id = string.format("%04x%04x-%04x-4%03x-8%03x-%04x%04x%04x", math.random(0, 65535), math.random(0, 65535),
    math.random(0, 65535), math.random(0, 4095), math.random(0, 4095), math.random(0, 65535), math.random(0, 65535),
    math.random(0, 65535))
  return wrk.format(nil, "/submit/org-demo-app/baseline/1/" .. id)
end
-- RATE: requests/s from a schedule, not a per-connection pause, so the rate does not depend on
-- the latency. Each request takes the next slot, and requests that fell behind it (a slow answer
-- kept their connection busy) are sent at once: the load is offered, not negotiated. Connections
-- only bound the requests in flight.
local rate = tonumber(os.getenv("RATE") or "0")
if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } bench_timespec; int clock_gettime(int, bench_timespec *); ]]
  local ts = ffi.new("bench_timespec")
  local interval, last = 1000 / rate, 0
  function delay()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    local now = tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
    if last == 0 then last = now end
    last = last + interval
    return math.max(0, last - now)
  end
end
"""
)


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def processes(up_pid: int) -> dict[str, list[int]]:
    """The edge, the committer (`up`) and the worker processes, by parent."""
    groups = {"edge": [], "up (committer)": [up_pid], "workers": []}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == up_pid and "pingpipe.edge.server" in cmd:
            groups["edge"].append(int(proc.name))
        elif ppid == up_pid and "spawn_main" in cmd:
            groups["workers"].append(int(proc.name))
    return groups


def committed(data: Path) -> int:
    return admin.call(data, "GET", "/status")["committed"].get("rows", 0)


def wrk(port: int, lua: Path, seconds: float, connections: int, rate: float = 0) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", str(lua), f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        env={**os.environ, "RATE": str(rate)},
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def phase(
    name: str,
    data: Path,
    port: int,
    lua: Path,
    seconds: float,
    connections: int,
    rate: float,
    up_pid: int,
    probe: bool = False,
    poll_every: float = 0.05,
) -> dict:
    procs = processes(up_pid)
    cpu0 = {k: sum(cpu_of(p) for p in v) for k, v in procs.items()}
    rows0, t0 = committed(data), time.monotonic()
    fresh: list[float] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []
    if probe:
        body = (lua.parent / "body.gz").read_bytes()
        pending: dict[str, float] = {}  # probe document id -> when its 200 arrived
        sent_at: dict[str, datetime.datetime] = {}  # probe document id -> when it was sent (UTC)
        lock = threading.Lock()
        sending_done = threading.Event()

        def send():
            """A probe ping every 0.1 s, without waiting for the previous one to become visible."""
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            while not stop.is_set():
                doc = str(uuid.uuid4())
                sent_at[doc] = datetime.datetime.now(datetime.timezone.utc)
                conn.request(
                    "POST",
                    f"/submit/org-demo-app/baseline/1/{doc}",
                    body=body,
                    headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"probe got {response.status}")
                with lock:
                    pending[doc] = time.monotonic()
                time.sleep(0.1)
            sending_done.set()

        def poll():
            """Every 50 ms, which pending probes are queryable; after the load, wait for the stragglers
            too (dropping them would hide exactly the slow ones a p99 is about)."""
            give_up = None
            while True:
                with lock:
                    ids = list(pending)
                    sent = min(sent_at[d] for d in ids) if ids else None
                if ids:
                    quoted = ", ".join(f"'{d}'" for d in ids)
                    # Only rows stamped since the oldest pending probe was sent (less a margin): DuckDB
                    # skips older data by its min/max, so 20 probes a second do not scan the whole table.
                    since = (sent - datetime.timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S")
                    found = admin.call(
                        data,
                        "POST",
                        "/query",
                        f"SELECT document_id FROM {TABLE} WHERE document_id IN ({quoted}) "
                        f"AND submission_timestamp > TIMESTAMP '{since}'".encode(),
                    )  # UTC, as the edge stamps it
                    now = time.monotonic()
                    with lock:
                        fresh.extend(now - pending.pop(doc) for (doc,) in found["rows"])
                elif sending_done.is_set():
                    return
                if sending_done.is_set():
                    give_up = give_up or time.monotonic() + 120
                    if time.monotonic() > give_up:
                        raise RuntimeError(f"{len(pending)} probes never became queryable")
                time.sleep(poll_every)

        threads = [threading.Thread(target=send), threading.Thread(target=poll)]
        for thread in threads:
            thread.start()
    load = wrk(port, lua, seconds, connections, rate)
    # Everything as it stands the moment the load stops (the probe's stragglers are awaited after).
    wall = time.monotonic() - t0
    rows = committed(data) - rows0
    cpu = {k: sum(cpu_of(p) for p in v) - cpu0[k] for k, v in processes(up_pid).items()}
    lag = admin.call(data, "GET", "/status")["lag_seconds"]
    stopped = time.monotonic()
    drain(data)
    caught_up = time.monotonic() - stopped
    stop.set()
    for thread in threads:
        thread.join()
    result = {
        "accepted/s": load["rps"],
        "committed/s": rows / wall,
        "non2xx": load["non2xx"],
        "cpu": {k: v / wall for k, v in cpu.items()},
        "fresh": fresh,
    }
    split = ", ".join(f"{k} {v:.2f}" for k, v in result["cpu"].items())
    print(f"{name:28} accepted {load['rps']:8,.0f}/s  committed {rows / wall:8,.0f}/s  non-2xx {load['non2xx']}  CPU cores: {split}")
    print(f"{'':28} when the load stopped: oldest uncommitted segment {lag:.1f} s old, all committed {caught_up:.1f} s later")
    if probe:
        assert len(fresh) >= 100, f"only {len(fresh)} freshness probes: run longer for a p99"
        p99 = statistics.quantiles(fresh, n=100)[98]
        print(
            f"{'':28} freshness (200 -> queryable, polled every {poll_every * 1000:.0f} ms) over {len(fresh)} probes: "
            f"p50 {statistics.median(fresh):.2f} s  p99 {p99:.2f} s  max {max(fresh):.2f} s"
        )
    return result


def drain(data: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = admin.call(data, "GET", "/status")
        if status["backlog"]["sealed_segments"] == 0 and status["backlog"]["open_segments"] <= 1 and status["lag_seconds"] == 0:
            return
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=None, help="default: pingpipe up's own default")
    parser.add_argument("--connections", type=int, default=32, help="phase 1's")
    parser.add_argument("--rate", type=float, default=5000, help="phase 2's pings/s (default: the goal, 5K/s)")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between the freshness probe's queries")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-up-"))
    proc = None
    try:
        schemas = demo_schemas(work / "schemas", metrics_yaml(work / "metrics.yaml"))
        body = baseline_ping(random.Random(7))
        (work / "body.gz").write_bytes(body)
        lua = work / "post.lua"
        lua.write_text(LUA.replace("{body}", str(work / "body.gz")))
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"Glean baseline ping {len(body)} bytes gzipped; pingpipe up --workers {args.workers or default_workers()}; "
            f"wrk on the same cores"
        )

        # Baseline: the same work in one loop, one core, nothing in the way.
        # Segments of 1,250 pings: 0.25 s of the edge's output at 5K/s.
        lines, _ = make_input(work / "raw.ndjson", 5000)
        decoder = Decoder.from_config(DecoderConfig(schemas=schemas))
        loader = Loader(decoder.registry)
        tune_gc()  # as the workers do
        t0 = time.process_time()
        for i in range(0, len(lines), 1250):
            result = SegmentResult(["bench"])
            process_messages((RawMessage.from_line(line) for line in lines[i : i + 1250]), result, decoder, loader)
            assert sum(len(rows) for rows in result.rows.values()) == len(lines[i : i + 1250])
        print(
            f"{'baseline: pure core, 1 loop':28} {len(lines) / (time.process_time() - t0):8,.0f} pings/s per core "
            f"(decode + coerce into Arrow, as a worker; no edge, no DuckDB)"
        )

        port = int(
            subprocess.check_output(
                [sys.executable, "-c", "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"]
            )
        )
        data = work / "data"
        workers = ["--workers", str(args.workers)] if args.workers else []
        proc = subprocess.Popen(
            [PINGPIPE, "up", "--data", str(data), "--schemas", str(schemas), "--port", str(port), *workers],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while admin.read_state(data) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        phase("1. saturate", data, port, lua, args.seconds, args.connections, 0, proc.pid)
        phase(f"2+3. at {args.rate:,.0f}/s", data, port, lua, args.seconds, 128, args.rate, proc.pid, probe=True, poll_every=args.poll)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
