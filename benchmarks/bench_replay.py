"""`pingpipe replay` against decoding the same messages fresh, same run.

    .venv/bin/python benchmarks/bench_replay.py [--errors 100000] [--segment 1250]

Input: the wide Glean baseline pings of bench_decoder.py (gzipped, a 210-column table). They are
first decoded against the app's schemas without the baseline ping, so every one becomes an error
row (SchemaNotFound), committed by `up`'s Committer segment by segment. Timed: the baseline, the
same messages decoded and committed fresh, by `up`'s worker code and Committer, in --segment
pieces, into a new warehouse; then `replay` of every error row with the full schemas (pick, decode
again, dedupe against the table, commit with the error rows' deletion and the record), in one
process as `pingpipe replay` runs. Wall time and CPU of this process, pings per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decoder import cpu, demo_schemas, make_input
from bench_loader import metrics_yaml

from pingpipe.decoder.core import Decoder, DecoderConfig
from pingpipe.gctune import tune_gc
from pingpipe.loader.load import Loader
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import RawMessage
from pingpipe.up import replay, work
from pingpipe.up.commit import Committer
from pingpipe.up.config import UpConfig


def commit_fresh(lines: list[bytes], segment: int, path: Path, decoder, loader) -> int:
    """`up`'s path: decode and coerce each segment (work.py), commit it (commit.py); rows and errors kept."""
    writer = DuckDBWriter(path, threads=UpConfig.duckdb_threads)
    committer = Committer(writer)
    kept = 0
    for i in range(0, len(lines), segment):
        result = work.SegmentResult([f"segment-{i}"])
        work.process_messages((RawMessage.from_line(line) for line in lines[i : i + segment]), result, decoder, loader)
        counts = committer.commit(result, [])
        kept += counts["rows"] + counts["errors"]
    writer.close()
    return kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", type=int, default=100_000)
    parser.add_argument("--segment", type=int, default=1250)
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        schemas = demo_schemas(work_dir / "schemas", metrics_yaml(work_dir / "metrics.yaml"))
        missing = work_dir / "missing"
        shutil.copytree(schemas, missing)
        shutil.rmtree(next(p for p in missing.rglob("baseline") if p.is_dir()))
        lines, _ = make_input(work_dir / "raw.ndjson", args.errors)
        full = Decoder.from_config(DecoderConfig(schemas=schemas))
        strict = Decoder.from_config(DecoderConfig(schemas=missing))
        tune_gc()
        assert commit_fresh(lines, args.segment, work_dir / "errors.duckdb", strict, Loader(strict.registry)) == args.errors
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"{args.errors:,} wide Glean pings (SchemaNotFound error rows)"
        )
        t0, c0 = time.perf_counter(), cpu()
        assert commit_fresh(lines, args.segment, work_dir / "fresh.duckdb", full, Loader(full.registry)) == args.errors
        fresh = time.perf_counter() - t0, cpu() - c0
        writer = DuckDBWriter(work_dir / "errors.duckdb", threads=UpConfig.duckdb_threads)
        t0, c0 = time.perf_counter(), cpu()
        report = replay.replay(writer, Committer(writer), full, Loader(full.registry), replay.Selection())
        replayed = time.perf_counter() - t0, cpu() - c0
        assert report["committed"]["rows"] == args.errors and not report["unchanged"], report
        assert writer.query("SELECT count(*) FROM payload_bytes_error.structured").fetchone() == (0,)
        writer.close()
        for label, (wall, used) in (("decoded fresh (baseline)", fresh), ("replayed from the error table", replayed)):
            print(f"  {label:32} {wall:6.1f} s wall, {used:6.1f} s CPU, {args.errors / wall:7,.0f} pings/s")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
