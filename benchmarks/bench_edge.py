"""Edge throughput and latency, in one run, against its baselines.

    .venv/bin/python benchmarks/bench_edge.py [--seconds 8] [--connections 256]

Each server runs pinned to core 0 (one core); wrk (Debian's `wrk`) runs pinned to core 1 and
POSTs a real 3xx-byte gzipped Glean baseline ping. For each of

  1. a raw ASGI app that answers 200 (the ceiling of uvicorn's ASGI path: httptools + uvloop;
     pingpipe's /submit skips that path, see edge/protocol.py, so it can pass this "ceiling"),
  2. a plain FastAPI route that reads the body and answers 200,
  3. pingpipe's edge into the local durable queue (fsync'd, group commit),
  3b. the same over HTTPS (--tls-cert/--tls-key, a self-signed certificate): what TLS costs,
      beside 1b, the raw ASGI app over uvicorn's own TLS (the event loop's), the baseline of
      the edge's TLS front (edge/tls.py),
  4. pingpipe's edge into the Pub/Sub emulator (the emulator runs on core 1 beside wrk),

it prints the maximum req/s with its p50/p99, then the p50/p99 at 80% of that rate (wrk paced
by a per-connection delay). Needs wrk (`apt-get install wrk`); the Pub/Sub row needs gcloud.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "tests" / "fixtures" / "glean" / "baseline-active.json"  # captured from glean-sdk
PATH = "/submit/org-demo-app/baseline/1/2c3a0767-d84a-4d02-8a92-fa54a3376049"
PINGPIPE = str(Path(sys.executable).with_name("pingpipe"))

RAW_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
"""
FASTAPI_APP = """
from fastapi import FastAPI, Request, Response
app = FastAPI()
@app.post("/submit/{rest:path}")
async def submit(rest: str, request: Request):
    await request.body()
    return Response(status_code=200)
"""
LUA = """
wrk.method = "POST"
local f = io.open("{body}", "rb"); wrk.body = f:read("*all"); f:close()
wrk.headers["Content-Type"] = "application/json; charset=utf-8"
wrk.headers["Content-Encoding"] = "gzip"
wrk.headers["X-Telemetry-Agent"] = "Glean/71.0.0 (Python on Linux)"
wrk.headers["Date"] = "Mon, 23 Nov 2026 09:00:00 GMT"
local pace = tonumber(os.getenv("PACE_MS") or "0")
if pace > 0 then
  function delay() return pace end
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(port)


def start(cmd: list[str], env: dict | None = None, cpu: str = "0") -> subprocess.Popen:
    return subprocess.Popen(
        ["taskset", "-c", cpu, *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(port: int, lua: Path, seconds: float, connections: int, pace_ms: float = 0, scheme: str = "http") -> dict:
    env = {**os.environ, "PACE_MS": str(pace_ms)}
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(lua),
            f"{scheme}://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        lat[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "non2xx": int(non2xx.group(1)) if non2xx else 0}


def measure(name: str, port: int, lua: Path, args, scheme: str = "http") -> None:
    wrk_ = functools.partial(wrk, scheme=scheme)
    top = wrk_(port, lua, args.seconds, args.connections)
    target = 0.8 * top["rps"]
    # Each connection sends, waits for the answer, then waits `pace` ms: rate = C / (pace + latency).
    pace = args.connections * 1000 / target
    paced = wrk_(port, lua, 3, args.connections, pace_ms=pace)
    pace = max(0.0, pace - (args.connections * 1000 / paced["rps"] - pace))  # take the latency out once
    paced = wrk_(port, lua, args.seconds, args.connections, pace_ms=pace)
    print(
        f"{name:34} {top['rps']:9,.0f} {top['p50']:7.2f} {top['p99']:7.2f} | {paced['rps']:9,.0f} {paced['p50']:7.2f} "
        f"{paced['p99']:7.2f} {top['non2xx'] + paced['non2xx']:6d}",
        flush=True,
    )


def start_emulator(work: Path):
    port = free_port()
    log = open(work / "emulator.log", "w")
    proc = subprocess.Popen(
        ["taskset", "-c", "1", "gcloud", "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}", "--project=bench"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "Server started" not in (work / "emulator.log").read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("Pub/Sub emulator did not start")
        time.sleep(0.2)
    os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
    from google.cloud import pubsub_v1

    pubsub_v1.PublisherClient().create_topic(name="projects/bench/topics/raw")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=256)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    (work / "body.gz").write_bytes(gzip.compress(json.dumps(json.loads(FIXTURE.read_text())).encode()))
    lua = work / "post.lua"
    lua.write_text(LUA.replace("{body}", str(work / "body.gz")))
    (work / "raw_app.py").write_text(textwrap.dedent(RAW_APP))
    (work / "fastapi_app.py").write_text(textwrap.dedent(FASTAPI_APP))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"server on core 0, wrk -t1 -c{args.connections} on core 1; body {(work / 'body.gz').stat().st_size} bytes gzip"
    )
    print(f"{'':34} {'max req/s':>9} {'p50 ms':>7} {'p99 ms':>7} | {'80% req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'non200':>6}")
    uvicorn = [
        str(Path(sys.executable).with_name("uvicorn")),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-proxy-headers",
        "--no-server-header",
        "--app-dir",
        str(work),
    ]
    rows = [
        ("raw ASGI 200 (ASGI ceiling)", lambda port: start([*uvicorn, "raw_app:app", "--port", str(port)])),
        (
            "raw ASGI 200 over uvicorn's TLS",
            lambda port: start(
                [
                    *uvicorn,
                    "raw_app:app",
                    "--port",
                    str(port),
                    "--ssl-certfile",
                    str(work / "cert.pem"),
                    "--ssl-keyfile",
                    str(work / "key.pem"),
                ]
            ),
        ),
        ("plain FastAPI route", lambda port: start([*uvicorn, "fastapi_app:app", "--port", str(port)])),
        (
            "pingpipe -> local queue (fsync)",
            lambda port: start([PINGPIPE, "edge", "--port", str(port), "--queue", str(work / f"queue-{port}"), "--min-free-bytes", "0"]),
        ),
        (
            "same, over HTTPS (TLS on the edge)",
            lambda port: start(
                [
                    PINGPIPE,
                    "edge",
                    "--port",
                    str(port),
                    "--queue",
                    str(work / f"queue-{port}"),
                    "--min-free-bytes",
                    "0",
                    "--tls-cert",
                    str(work / "cert.pem"),
                    "--tls-key",
                    str(work / "key.pem"),
                ]
            ),
        ),
    ]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(work / "key.pem"),
            "-out",
            str(work / "cert.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    emulator = None
    if shutil.which("gcloud"):
        emulator = start_emulator(work)
        (work / "routes.json").write_text(json.dumps([["/submit/<rest:path>", "raw"]]))
        rows.append(
            (
                "pingpipe -> Pub/Sub emulator",
                lambda port: start(
                    [
                        PINGPIPE,
                        "edge",
                        "--port",
                        str(port),
                        "--queue",
                        str(work / f"spool-{port}"),
                        "--min-free-bytes",
                        "0",
                        "--pubsub-project",
                        "bench",
                        "--route-table",
                        str(work / "routes.json"),
                    ]
                ),
            )
        )
    else:
        print("(gcloud not found: no Pub/Sub row)")
    try:
        for name, launch in rows:
            port = free_port()
            proc = launch(port)
            try:
                wait_port(port)
                time.sleep(0.5)
                measure(name, port, lua, args, scheme="https" if "HTTPS" in name or "TLS" in name else "http")
            finally:
                stop(proc)
        spooled = sum(len(p.read_bytes().splitlines()) for p in work.glob("spool-*/*.ndjson*"))
        if emulator is not None:
            print(f"Pub/Sub row: {spooled} message(s) went to the disk fallback during the run")
    finally:
        if emulator is not None:
            os.killpg(emulator.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
