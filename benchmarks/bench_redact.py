"""Address redaction per MB of text: the log policy's `redact` (privacy/addresses.py) on ordinary
log text and on text made to be slow, against a same-run baseline.

    .venv/bin/python benchmarks/bench_redact.py [--mb 4]

Inputs of `--mb` megabytes each: mozlog-like text with an IP and an e-mail address every 200
bytes, a run of one letter, of `a@`, of `1.`, of `:` and of `%40` (what made the old e-mail
pattern quadratic). Baseline: `str.lower()` over the same text (one pass over every character),
and orjson parsing the mozlog text as JSON lines. For the old pattern, seconds at 40,000 `A`s and
at 8 times that size would show its growth; it is measured at 40 KB only (it would take minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time

import orjson

from pingpipe.logs.policy import redact

OLD_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")  # before this wave


def best(fn, text, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=4)
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024)
    line = orjson.dumps(
        {
            "Timestamp": 1764403200000000000,
            "Type": "request.summary",
            "Logger": "fxa-auth",
            "Fields": {"msg": "login for someone@example.com from 81.2.69.160 ok", "path": "/v1/x"},
        }
    ).decode()
    inputs = {
        "mozlog lines (an IP and an e-mail per line)": "\n".join([line] * (size // (len(line) + 1))),
        "one letter ('AAAA…')": "A" * size,
        "'a@a@a@…'": "a@" * (size // 2),
        "'1.1.1.…'": "1." * (size // 2),
        "':::…'": ":" * size,
        "'%40%40…'": "%40" * (size // 3),
    }
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; {args.mb} MB each")
    print(f"{'input':46} {'redact s/MB':>11} {'lower() s/MB':>12} {'ratio':>6}")
    for name, text in inputs.items():
        mb = len(text.encode()) / 1024 / 1024
        ours, base = best(redact, text) / mb, best(str.lower, text) / mb
        print(f"{name:46} {ours:11.4f} {base:12.5f} {ours / base:6.0f}x", flush=True)
    text = inputs["mozlog lines (an IP and an e-mail per line)"]
    mb = len(text.encode()) / 1024 / 1024
    parse = best(lambda t: [orjson.loads(x) for x in t.split("\n")], text) / mb
    print(f"baseline: orjson parsing the mozlog lines {parse:.4f} s/MB")
    small = "A" * 40_000
    print(
        f"old e-mail pattern on 40,000 'A's: {best(lambda t: OLD_EMAIL.sub('[email]', t), small, 1):.2f} s; "
        f"redact now: {best(redact, small):.5f} s"
    )


if __name__ == "__main__":
    main()
