"""The dictionary and debug viewer served by a real `pingpipe up`: how long each page takes, and how
soon a tagged ping shows in the debug viewer after its 200.

    .venv/bin/python benchmarks/bench_dictionary.py [--pings 20000] [--requests 50]
    .venv/bin/python benchmarks/bench_dictionary.py --charts [--rows 1000000] [--requests 20]

`up` runs on a fresh data folder and gets `--pings` demo `hello` pings (and 100 tagged with
X-Debug-ID), so the table pages count real rows. Each page is fetched `--requests` times over one
keep-alive connection; the same-run baseline is a static file from the same server (what the
server costs without rendering or reading the warehouse). Then tagged pings are sent one at a
time and the debug page polled every 20 ms until each shows: the time from its 200.

`--charts`: the metric pages' charts (dictionary/charts.py) with `--rows` rows in the demo app's
metrics table: 28 days of 1,000 demo clients through the real decoder and loader, copied under new
client ids up to the count, before `up` starts on it. Each metric page is opened in four views (28
and 90 days, a channel, a version): its first open reads the warehouse ("first"), the next
`--requests` are served from the charts' cache ("again"). The baseline is the static stylesheet.
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


CHART_METRICS = ["demo.launches", "demo.theme", "demo.dark_mode", "demo.button_clicks", "demo.window_width", "demo.page_load"]


def fill_metrics_table(data: Path, rows: int) -> int:
    """DATA/warehouse.duckdb with about `rows` rows in pingpipe_demo_live.metrics_v1 (see --charts)."""
    import orjson

    from pingpipe import utc
    from pingpipe.decoder.core import Decoded, Decoder
    from pingpipe.decoder.steps.geo import GeoLookup
    from pingpipe.loader.load import Loader, write_refusing
    from pingpipe.loader.writers.duckdb import DuckDBWriter
    from pingpipe.message import RawMessage
    from pingpipe.schemas.definitions import load
    from pingpipe.schemas.registry import Registry
    from pingpipe.up.demo import DemoConfig, history
    from pingpipe.up.demo_queue import Edge

    today = utc.today()
    registry = Registry.load(None)
    app = load(registry.root).apps["pingpipe-demo"]
    decoder, edge = Decoder(registry, GeoLookup(None)), Edge(data / "bench-queue")
    messages = []
    for sub in history(app, DemoConfig(end=today, days=28, clients=1000), today):
        if sub.doctype == "metrics":
            result = decoder.decode(RawMessage.from_line(edge.message(sub)))
            if isinstance(result, Decoded):
                messages.append((orjson.dumps(result.payload), result.attributes))
    writer = DuckDBWriter(data / "warehouse.duckdb")
    try:
        write_refusing(writer, Loader(registry).batch(messages))
        (n,) = writer.con.execute("SELECT count(*) FROM pingpipe_demo_live.metrics_v1").fetchone()
        copies = -(-rows // n)
        writer.con.execute(
            "INSERT INTO pingpipe_demo_live.metrics_v1 SELECT t.* REPLACE (struct_update(client_info, client_id := "
            "client_info.client_id || '-' || i) AS client_info, document_id || '-' || i AS document_id) "
            f"FROM pingpipe_demo_live.metrics_v1 AS t, range(1, {copies}) AS r(i)"
        )
        (n,) = writer.con.execute("SELECT count(*) FROM pingpipe_demo_live.metrics_v1").fetchone()
    finally:
        writer.close()
    shutil.rmtree(data / "bench-queue", ignore_errors=True)
    return n


def start_up(work: Path) -> tuple[subprocess.Popen, int, int, str]:
    """`up` on WORK/data, started and answering: the process, its edge and UI ports, the UI's cookie."""
    port, ui_port = free_port(), free_port()
    up = subprocess.Popen(
        [PINGPIPE, "up", "--data", str(work / "data"), "--port", str(port), "--ui-port", str(ui_port)],
        stdout=open(work / "up.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (work / "data" / "up.json").exists():
        if time.monotonic() > deadline or up.poll() is not None:
            raise SystemExit(f"up did not start: {(work / 'up.log').read_text()}")
        time.sleep(0.1)
    cookie = "pingpipe_ui=" + json.loads((work / "data" / "up.json").read_bytes())["ui_link"].split("?token=", 1)[1]
    return up, port, ui_port, cookie


def percentile(times: list[float], p: float) -> float:
    times = sorted(times)
    return times[max(0, int(len(times) * p / 100 + 0.5) - 1)]


def charts(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-charts-"))
    (work / "data").mkdir(mode=0o700)
    t = time.perf_counter()
    rows = fill_metrics_table(work / "data", args.rows)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    made = time.perf_counter() - t
    print(f"{rows:,} rows in pingpipe_demo_live.metrics_v1 (made in {made:.0f} s); `up` reads them with one DuckDB thread")
    up, _, ui_port, cookie = start_up(work)
    try:
        deadline = time.monotonic() + 600
        while b"metric page(s) ahead" not in (work / "up.log").read_bytes():  # `up` reads the big tables' pages ahead
            if time.monotonic() > deadline or up.poll() is not None:
                raise SystemExit(f"up did not read ahead: {(work / 'up.log').read_text()}")
            time.sleep(0.5)
        print(next(line for line in (work / "up.log").read_text().splitlines() if "metric page(s) ahead" in line))
        ui = http.client.HTTPConnection("127.0.0.1", ui_port, timeout=300)
        baseline = []
        for _ in range(args.requests):
            s = time.perf_counter()
            get(ui, "static/style.css", cookie)
            baseline.append((time.perf_counter() - s) * 1000)
        views = ["", "?days=90", "?channel=release", "?channel=beta"]
        first, again = {"": [], "other": []}, []
        print(f"{'page':60} {'first ms':>9} {'again p50':>10} {'again p95':>10}")
        for metric in CHART_METRICS:
            for view in views:
                path = f"apps/pingpipe-demo/metrics/{metric}/{view}"
                s = time.perf_counter()
                body = get(ui, path, cookie)
                opened = (time.perf_counter() - s) * 1000
                first["" if view == "" else "other"].append(opened)
                assert b"could not be read" not in body, path
                times = []
                for _ in range(args.requests):
                    s = time.perf_counter()
                    get(ui, path, cookie)
                    times.append((time.perf_counter() - s) * 1000)
                again += times
                print(f"/{path:59} {opened:9.0f} {statistics.median(times):10.1f} {percentile(times, 95):10.1f}")
        for name, label in (("", "default view, read ahead"), ("other", "other views (days, channel)")):
            times = first[name]
            print(f"first open, {label} ({len(times)}): p50 {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms")
        print(f"opened again ({len(again)}): p50 {statistics.median(again):.1f} ms, p95 {percentile(again, 95):.1f} ms")
        print(f"baseline (the stylesheet): p50 {statistics.median(baseline):.1f} ms")
    finally:
        stop_up(up)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pings", type=int, default=20000)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--charts", action="store_true", help="the metric pages' charts, at --rows rows")
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    if args.charts:
        return charts(args)
    work = Path(tempfile.mkdtemp(prefix="bench-dictionary-"))
    up, port, ui_port, cookie = start_up(work)
    try:
        edge = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(args.pings):
            post(edge, "bench" if i % (args.pings // 100 or 1) == 0 else None)
        while committed(work / "data") < args.pings:
            time.sleep(0.2)

        ui = http.client.HTTPConnection("127.0.0.1", ui_port)
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
