"""Usage logs into DuckDB: `pingpipe logs ingest` of a mozlog file into a running `pingpipe up`, against
`pingpipe decode` of as many edge submissions into DuckDB (the same-run baseline).

    .venv/bin/python benchmarks/bench_logs.py [--lines 1000000]

Three runs of `--lines` each, one after the other, on fresh data folders:
1. `logs ingest --service` of plain mozlog lines (request.summary, 8 Fields, a policy that drops one,
   hashes one and gives three columns) into `up`: lines/s from the start of the ingest until `up`
   has committed the last one;
2. the same for Glean server events (the mozlog lines glean_parser's python_server writes), which
   go through the decoder (ParseLogEntry, validation);
3. baseline: `pingpipe decode --output duckdb:` (Beam, DirectRunner) of the demo app's `hello`
   pings as edge submissions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dictionary import PINGPIPE, committed, free_port, stop_up

from pingpipe.message import encode_line

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its own test data (tests/fixtures)
from tests.fixtures.demo import demo_ping

NS = 1_764_403_200_000_000_000
POLICY = "drop: [remoteAddressChain]\nhash: [uid]\ncolumns:\n  request.summary: {path: STRING, code: INT64, t: INT64}\n"
PING = demo_ping({"counter": {"demo.launches": 3}, "string": {"demo.theme": "dark"}}, sdk="bench")


def mozlog_lines(n: int) -> bytes:
    return b"".join(
        orjson.dumps(
            {
                "Timestamp": NS + i,
                "Type": "request.summary",
                "Logger": "fxa-auth",
                "Hostname": "web-1",
                "EnvVersion": "2.0",
                "Severity": 6,
                "Pid": 4242,
                "Fields": {
                    "path": "/v1/account/login",
                    "code": 200,
                    "t": i % 300,
                    "uid": f"{i % 5000:08x}",
                    "remoteAddressChain": ["81.2.69.160"],
                    "agent": "Firefox/120.0",
                    "lang": "en-GB",
                    "service": "sync",
                },
            }
        )
        + b"\n"
        for i in range(n)
    )


def glean_lines(n: int) -> bytes:
    def line(i: int) -> bytes:
        ping = {
            "metrics": {"string": {"user.id_hash": f"{i % 5000:08x}"}},
            "events": [{"category": "account", "name": "login", "timestamp": 0, "extra": {"method": "password"}}],
            "ping_info": {"seq": 0, "start_time": "2026-11-29T08:00:00+00:00", "end_time": "2026-11-29T08:00:00+00:00"},
            "client_info": {
                "telemetry_sdk_build": "glean_parser",
                "first_run_date": "Unknown",
                "os": "Unknown",
                "os_version": "Unknown",
                "architecture": "Unknown",
                "app_build": "Unknown",
                "app_display_version": "1.0",
                "app_channel": "production",
            },
        }
        return (
            orjson.dumps(
                {
                    "Timestamp": "2026-11-29T08:00:00+00:00",
                    "Logger": "glean",
                    "Type": "glean-server-event",
                    "Fields": {
                        "document_namespace": "pingpipe-demo",
                        "document_type": "events",
                        "document_version": "1",
                        "document_id": str(uuid.uuid4()),
                        "user_agent": "Mozilla/5.0 Firefox/120.0",
                        "ip_address": "81.2.69.160",
                        "payload": json.dumps(ping),
                    },
                }
            )
            + b"\n"
        )

    return b"".join(line(i) for i in range(n))


def through_up(work: Path, name: str, log: bytes, lines: int, args: list[str]) -> float:
    data = work / f"data-{name}"
    (work / f"{name}.log").write_bytes(log)
    up = subprocess.Popen(
        [PINGPIPE, "up", "--data", str(data), "--port", str(free_port()), "--ui-port", "0"],
        stdout=open(work / f"up-{name}.out", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while not (data / "up.json").exists():
            time.sleep(0.1)
        start = time.perf_counter()
        subprocess.run([PINGPIPE, "logs", "ingest", "--data", str(data), *args, str(work / f"{name}.log")], check=True, capture_output=True)
        queued = time.perf_counter() - start
        while committed(data) < lines:
            time.sleep(0.2)
        total = time.perf_counter() - start
        print(f"  queued in {queued:.1f} s ({lines / queued:,.0f} lines/s); committed in {total:.1f} s")
        return lines / total
    finally:
        stop_up(up)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    n = ap.parse_args().lines
    work = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    try:
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        (work / "policy.yaml").write_text(POLICY)
        (work / "key").write_bytes(b"bench key")
        print(f"1. logs ingest --service, {n:,} plain mozlog lines, into up:")
        service = through_up(
            work,
            "service",
            mozlog_lines(n),
            n,
            ["--service", "fxa-auth", "--policy", str(work / "policy.yaml"), "--hash-key-file", str(work / "key")],
        )
        print(f"   {service:,.0f} lines/s into DuckDB")
        print(f"2. logs ingest, {n:,} Glean server events (decoded), into up:")
        glean = through_up(work, "glean", glean_lines(n), n, [])
        print(f"   {glean:,.0f} lines/s into DuckDB")
        raw = work / "edge.ndjson"
        with open(raw, "wb") as f:
            body = json.dumps(PING).encode()
            for _ in range(n):
                f.write(
                    encode_line(
                        body,
                        {"uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}", "submission_timestamp": "2026-11-29T08:00:00.000000Z"},
                    )
                )
        print(f"3. baseline: pingpipe decode --output duckdb:, {n:,} edge submissions (Beam DirectRunner):")
        start = time.perf_counter()
        subprocess.run(
            [PINGPIPE, "decode", "--input", f"file:{raw}", "--output", f"duckdb:{work / 'decode.duckdb'}"], check=True, capture_output=True
        )
        base = n / (time.perf_counter() - start)
        print(f"   {base:,.0f} submissions/s into DuckDB")
        print(f"logs ingest --service: {service / base:.1f}x the baseline; Glean server events: {glean / base:.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
