"""The dictionary and debug viewer served by a real `pingpipe up`: how long each page takes, and how
soon a tagged ping shows in the debug viewer after its 200.

    .venv/bin/python benchmarks/bench_dictionary.py [--pings 20000] [--requests 50]

`up` runs on a fresh data folder and gets `--pings` demo `hello` pings (and 100 tagged with
X-Debug-ID), so the table pages count real rows. Each page is fetched `--requests` times over one
keep-alive connection; the same-run baseline is a static file from the same server (what the
server costs without rendering or reading the warehouse). Then tagged pings are sent one at a
time and the debug page polled every 20 ms until each shows: the time from its 200.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its own test data (tests/fixtures)
from tests.fixtures.demo import demo_ping

PINGPIPE = str(Path(sys.executable).with_name("pingpipe"))
PING = demo_ping({"counter": {"demo.launches": 3}, "string": {"demo.theme": "dark"}}, sdk="bench")
PAGES = [
    "static/style.css",
    "",
    "tables/",
    "apps/pingpipe-demo/",
    "apps/pingpipe-demo/pings/hello/",
    "apps/pingpipe-demo/metrics/demo.launches/",
    "tables/pingpipe_demo_live.hello_v1/",
    "debug/",
    "debug/bench/",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(conn: http.client.HTTPConnection, tag: str | None = None) -> None:
    body = dict(PING, client_info={**PING["client_info"], "client_id": str(uuid.uuid4())})
    headers = {"Content-Type": "application/json", **({"X-Debug-ID": tag} if tag else {})}
    conn.request("POST", f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}", json.dumps(body), headers)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status


def get(conn: http.client.HTTPConnection, path: str, cookie: str) -> bytes:
    conn.request("GET", "/" + path, headers={"Cookie": cookie})
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (path, r.status)
    return body


def committed(data: Path) -> int:
    out = subprocess.run([PINGPIPE, "status", "--data", str(data), "--format", "json"], capture_output=True, text=True)
    return json.loads(out.stdout)["committed"].get("messages", 0) if out.returncode == 0 else 0


def stop_up(up: subprocess.Popen) -> None:
    """Ctrl-C, as a user stops it; killed if it has not drained within two minutes."""
    up.send_signal(signal.SIGINT)
    try:
        up.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(up.pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pings", type=int, default=20000)
    ap.add_argument("--requests", type=int, default=50)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dictionary-"))
    port, ui_port = free_port(), free_port()
    up = subprocess.Popen(
        [PINGPIPE, "up", "--data", str(work / "data"), "--port", str(port), "--ui-port", str(ui_port)],
        stdout=open(work / "up.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (work / "data" / "up.json").exists():
            if time.monotonic() > deadline or up.poll() is not None:
                raise SystemExit(f"up did not start: {(work / 'up.log').read_text()}")
            time.sleep(0.1)
        edge = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(args.pings):
            post(edge, "bench" if i % (args.pings // 100 or 1) == 0 else None)
        while committed(work / "data") < args.pings:
            time.sleep(0.2)

        ui = http.client.HTTPConnection("127.0.0.1", ui_port)
        cookie = "pingpipe_ui=" + json.loads((work / "data" / "up.json").read_bytes())["ui_link"].split("?token=", 1)[1]
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"up with {args.pings} demo pings; {args.requests} GETs per page over one keep-alive connection")
        print(f"{'page':45} {'median ms':>10} {'p95 ms':>8} {'KB':>6}")
        for path in PAGES:
            get(ui, path, cookie)  # warm
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                body = get(ui, path, cookie)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            print(f"/{path:44} {statistics.median(times):10.1f} {times[int(len(times) * 0.95) - 1]:8.1f} {len(body) / 1024:6.1f}")

        delays = []
        for i in range(20):
            tag = f"latency-{i}"
            post(edge, tag)
            sent = time.perf_counter()
            while b'article class="ping valid"' not in get(ui, f"debug/{tag}/", cookie):
                time.sleep(0.02)
            delays.append(time.perf_counter() - sent)
        delays.sort()
        print(
            f"debug viewer: a tagged ping shows {statistics.median(delays):.2f} s (median), "
            f"{delays[-1]:.2f} s (max of {len(delays)}) after its 200"
        )
    finally:
        stop_up(up)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
