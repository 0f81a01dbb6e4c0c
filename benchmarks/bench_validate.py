"""Validations per second, per core: the registry's compiled validator vs python-jsonschema.

    .venv/bin/python benchmarks/bench_validate.py [--seconds 2]

Documents: a real Glean baseline ping (captured from glean-sdk), the same ping with 135 more
metrics (bench_decoder.py's), the tests' settings ping (a structured schema with nested objects,
arrays of arrays and a map) and the tests' impressions ping with 200 tiles (a large structured
payload), from tests/fixtures. Three
validators run in the same process, one after the other, on the same parsed documents: the
registry's (jsonschema-rs, with Glean's metric-name checks lifted out and remembered: see
schemas/validator.py), jsonschema-rs on the whole schema, and python-jsonschema. Figures are
documents validated per second of one core.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import jsonschema

from pingpipe.schemas.registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decoder import GLEAN, baseline_ping

from tests.fixtures import VALIDATION, registry_root


def documents(registry: Registry):
    baseline = json.loads((GLEAN / "baseline-active.json").read_text())
    settings = json.loads((VALIDATION / "news-reader/settings.1.sample.pass.json").read_text())
    impressions = json.loads((VALIDATION / "news-reader/impressions.1.sample.pass.json").read_text())
    tile = impressions["tiles"][0]
    impressions["tiles"] = [dict(copy.deepcopy(tile), id=i, pos=i % 20) for i in range(200)]
    enlarged = json.loads(gzip.decompress(baseline_ping(random.Random(7))))
    return [
        ("glean baseline ping", registry.get("glean", "glean", 1), baseline),
        ("glean baseline, 135 more metrics", registry.get("glean", "glean", 1), enlarged),
        ("news-reader settings (nested)", registry.get("news-reader", "settings", 1), settings),
        ("news-reader impressions, 200 tiles", registry.get("news-reader", "impressions", 1), impressions),
    ]


def rate(fn, doc, seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn(doc)
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    registry = Registry.load(registry_root(Path(tempfile.mkdtemp(prefix="bench-validate-"))))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'document':38} {'bytes':>7} {'registry /s':>12} {'jsonschema-rs whole /s':>23} {'python-jsonschema /s':>21} {'speed-up':>9}")
    for name, entry, doc in documents(registry):
        assert entry.is_valid(doc), name
        reference = jsonschema.validators.validator_for(entry.schema)(entry.schema)
        assert reference.is_valid(doc), name
        fast = rate(entry.validator.is_valid, doc, args.seconds)
        whole = rate(entry.validator.full.is_valid, doc, args.seconds)
        slow = rate(reference.is_valid, doc, args.seconds)
        size = len(json.dumps(doc))
        print(f"{name:38} {size:7d} {fast:12,.0f} {whole:23,.0f} {slow:21,.0f} {fast / slow:8.0f}x")


if __name__ == "__main__":
    main()
